import assert from 'node:assert/strict';
import {
	type AttemptRecord,
	createClient,
	InternalServerError,
	isSteadfetchError,
	type RetryEvent,
	type SteadfetchError,
} from '../src/index.ts';
import { clockedClient, FakeClock } from './support/clocked.ts';
import { type LoopbackReply, startLoopback, withLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

// Millisecond delays keep the suite fast; backoff itself is pinned in policy.spec.ts.
const fast = { baseDelayMs: 1, maxDelayMs: 20 };
// An answer that does not come while a spec runs (the loopback server clears its timer when it closes).
const silent: LoopbackReply = { status: 200, delayMs: 600_000 };
const client = (options: Parameters<typeof createClient>[0] = {}) => createClient({ baseUrl: `${origin}/v1/`, retry: fast, ...options });

describe('retries transient statuses', () => {
	it('sends limit + 1 requests for a 500 that never recovers', async () => {
		const seen = serve('GET', '/v1/items', times(5, { status: 500 }));
		await assert.rejects(client().get('items'), InternalServerError);
		assert.equal(seen.count, 3);
	});

	it('succeeds after two 500s with exactly three requests', async () => {
		const seen = serve('GET', '/v1/items', [...times(2, { status: 500 }), { status: 200, body: { id: 1 } }]);
		assert.deepEqual(await client().get('items').json(), { id: 1 });
		assert.equal(seen.count, 3);
	});

	it('succeeds after one 500 with exactly two requests', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 500 }, { status: 200, body: { id: 1 } }, { status: 200 }]);
		assert.deepEqual(await client().get('items').json(), { id: 1 });
		assert.equal(seen.count, 2);
	});

	for (const status of [408, 429, 502, 503, 504]) {
		it(`retries a ${status}`, async () => {
			const seen = serve('GET', '/v1/items', [{ status }, { status: 200, body: { ok: true } }]);
			assert.deepEqual(await client().get('items').json(), { ok: true });
			assert.equal(seen.count, 2);
		});
	}

	it('honours a larger limit: limit 4 means 5 requests', async () => {
		const seen = serve('GET', '/v1/items', times(7, { status: 503 }));
		await assert.rejects(client({ retry: { ...fast, limit: 4 } }).get('items'));
		assert.equal(seen.count, 5);
	});

	it('sends one request with limit 0', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 500 }));
		await assert.rejects(client({ retry: 0 }).get('items'), (error: unknown) => isSteadfetchError(error) && error.stopReason === 'limit');
		assert.equal(seen.count, 1);
	});

	it('takes a per-request retry.limit', async () => {
		const seen = serve('GET', '/v1/items', times(5, { status: 500 }));
		await assert.rejects(client().get('items', { retry: { limit: 1 } }));
		assert.equal(seen.count, 2);
	});

	it('takes retry.limit through extend()', async () => {
		const seen = serve('GET', '/v1/items', times(5, { status: 500 }));
		await assert.rejects(client().extend({ retry: 3 }).get('items'));
		assert.equal(seen.count, 4);
	});

	it('retries only the statuses in retry.statusCodes', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 502 }));
		await assert.rejects(client({ retry: { ...fast, statusCodes: [500] } }).get('items'));
		assert.equal(seen.count, 1);
	});
});

describe('retries network errors and timeouts', () => {
	it('retries a connection reset and then succeeds', async () => {
		const server = await startLoopback([{ reset: true }, { status: 200, body: '{"ok":true}' }]);
		try {
			assert.deepEqual(await createClient({ retry: fast }).get(server.url).json(), { ok: true });
			assert.equal(server.count, 2);
		} finally {
			await server.close();
		}
	});

	it('gives up after limit + 1 connection resets with a NetworkError', async () => {
		const server = await startLoopback([{ reset: true }, { reset: true }, { reset: true }, { status: 200 }]);
		try {
			await assert.rejects(createClient({ retry: fast }).get(server.url), { name: 'NetworkError', attempts: 3, stopReason: 'limit' });
			assert.equal(server.count, 3);
		} finally {
			await server.close();
		}
	});

	it('retries a refused connection', async () => {
		const server = await startLoopback([]);
		const { url } = server;
		await server.close();
		const history = await createClient({ retry: fast })
			.get(url)
			.catch((error: unknown) => (error as SteadfetchError).history);
		assert.deepEqual(
			(history as AttemptRecord[]).map((record) => record.failure),
			['network', 'network', 'network'],
		);
	});

	it('retries an attempt that runs past timeout', async () => {
		// The second answer must beat the timeout even on a busy machine: a wide margin on both sides.
		const seen = serve('GET', '/v1/items', [
			{ status: 200, delayMs: 2000 },
			{ status: 200, body: { ok: true } },
		]);
		assert.deepEqual(await client({ timeout: 500 }).get('items').json(), { ok: true });
		assert.equal(seen.count, 2);
	});

	it('ends with a TimeoutError when totalTimeout runs out during an attempt, without another request', async () => {
		// ky's totalTimeout is a real timer, which no clock of ours drives: the server does not answer while the spec runs, so
		// that timer is what ends the attempt, however busy the machine (no 150 ms against 1000 ms race). The engine runs on
		// the spec's clock: the record's duration is exact, and no record announces a wait (#10; attempt.spec.ts pins that
		// rule on the engine itself, where ky may or may not ask shouldRetry first).
		await withLoopback([silent, { status: 200 }], async (server) => {
			const error = await clockedClient({ retry: fast, totalTimeout: 150 }, new FakeClock())
				.get(`${server.url}/v1/items`)
				.catch((caught: unknown) => caught);
			assert.ok(isSteadfetchError(error));
			assert.equal(error.name, 'TimeoutError');
			assert.equal(error.stopReason, 'deadline');
			assert.equal(error.attempts, 1);
			assert.deepEqual(JSON.parse(JSON.stringify(error)).history, [{ attempt: 1, failure: 'timeout', durationMs: 0 }]);
			assert.equal(server.count, 1);
		});
	});

	it('does not retry a timeout with retryOnTimeout: false', async () => {
		// ky's timeout is a real timer: a server that does not answer while the spec runs leaves no race to lose.
		await withLoopback([silent, { status: 200 }], async (server) => {
			await assert.rejects(createClient({ timeout: 100, retry: { ...fast, retryOnTimeout: false } }).get(`${server.url}/v1/items`), {
				name: 'TimeoutError',
				stopReason: 'timeout-not-retried',
			});
			assert.equal(server.count, 1);
		});
	});
});

describe('retries only requests that are safe to repeat', () => {
	for (const method of ['PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
		it(`retries ${method}`, async () => {
			const seen = serve(method, '/v1/items/1', [{ status: 500 }, { status: 204 }]);
			const response = await client()('items/1', { method });
			assert.equal(response.status, 204);
			assert.equal(seen.count, 2);
		});
	}

	for (const method of ['post', 'patch'] as const) {
		it(`does not retry ${method.toUpperCase()} without an Idempotency-Key`, async () => {
			const seen = serve(method.toUpperCase(), '/v1/items', times(3, { status: 500 }));
			await assert.rejects(client()[method]('items', { json: { a: 1 } }), (error: unknown) => {
				assert.ok(isSteadfetchError(error));
				assert.equal(error.stopReason, 'not-idempotent');
				assert.equal(error.retryable, true);
				assert.match(error.message, /Not retried: the method is not idempotent/);
				return true;
			});
			assert.equal(seen.count, 1);
		});

		it(`retries ${method.toUpperCase()} that carries an Idempotency-Key, with the same key and body`, async () => {
			const seen = serve(method.toUpperCase(), '/v1/items', [...times(2, { status: 500 }), { status: 201, body: { id: 7 } }]);
			const body = await client()
				[method]('items', { json: { a: 1 }, headers: { 'Idempotency-Key': 'order-42' } })
				.json();
			assert.deepEqual(body, { id: 7 });
			assert.equal(seen.count, 3);
			assert.deepEqual(
				seen.headers.map((headers) => headers['idempotency-key']),
				['order-42', 'order-42', 'order-42'],
			);
			assert.deepEqual(seen.bodies, ['{"a":1}', '{"a":1}', '{"a":1}']);
		});
	}

	it('retries a POST whose Idempotency-Key a user hook adds', async () => {
		const seen = serve('POST', '/v1/items', [{ status: 502 }, { status: 201 }]);
		const api = client({ hooks: { beforeRequest: [({ request }) => void request.headers.set('Idempotency-Key', 'from-hook')] } });
		await api.post('items', { body: 'x' });
		assert.equal(seen.count, 2);
		assert.deepEqual(seen.bodies, ['x', 'x']);
	});

	it('generates one Idempotency-Key per call with idempotencyKey: true and reuses it on every attempt', async () => {
		const seen = serve('POST', '/v1/orders', [{ status: 503 }, { status: 201 }, { status: 500 }, { status: 201 }]);
		const api = client({ idempotencyKey: true });
		await api.post('orders', { json: { n: 1 } });
		await api.post('orders', { json: { n: 2 } });
		assert.equal(seen.count, 4);
		const keys = seen.headers.map((headers) => headers['idempotency-key']);
		assert.match(String(keys[0]), /^[\da-f-]{36}$/);
		assert.equal(keys[0], keys[1]);
		assert.equal(keys[2], keys[3]);
		assert.notEqual(keys[0], keys[2]);
	});

	it('uses the key function given as idempotencyKey and keeps a key the caller set', async () => {
		const seen = serve('POST', '/v1/orders', [{ status: 201 }, { status: 201 }]);
		const api = client({ idempotencyKey: () => 'generated' });
		await api.post('orders');
		await api.post('orders', { headers: { 'idempotency-key': 'mine' } });
		assert.deepEqual(
			seen.headers.map((headers) => headers['idempotency-key']),
			['generated', 'mine'],
		);
	});

	it('does not add an Idempotency-Key to GET', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 200 }]);
		await client({ idempotencyKey: true }).get('items');
		assert.equal(seen.headers[0]?.['idempotency-key'], undefined);
	});
});

describe('reports each retry to onRetry', () => {
	it('calls onRetry once per retry with the enriched error, the attempt and the delay', async () => {
		const events: RetryEvent[] = [];
		const seen = serve('GET', '/v1/items', [...times(2, { status: 500 }), { status: 200 }]);
		await client({ onRetry: (event) => events.push(event) }).get('items');
		assert.equal(seen.count, 3);
		assert.deepEqual(
			events.map(({ attempt, maxAttempts }) => [attempt, maxAttempts]),
			[
				[2, 3],
				[3, 3],
			],
		);
		for (const event of events) {
			assert.ok(event.error instanceof InternalServerError);
			assert.ok(event.delayMs >= 0 && event.delayMs <= fast.maxDelayMs);
			assert.equal(event.error.stopReason, undefined);
		}
		assert.equal(events[1]?.error.attempts, 2);
	});

	it('ends the call with the exception onRetry throws', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 500 }));
		const failure = new Error('logger broke');
		await assert.rejects(
			client({
				onRetry: () => {
					throw failure;
				},
			}).get('items'),
			(error) => error === failure,
		);
		assert.equal(seen.count, 1);
	});
});

describe('stops at once on abort', () => {
	it('rejects with the abort reason during a backoff wait, without another request', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 500 }));
		const controller = new AbortController();
		const api = client({ retry: { baseDelayMs: 5000, maxDelayMs: 5000, jitter: false } });
		const started = performance.now();
		const call = api.get('items', { signal: controller.signal });
		setTimeout(() => controller.abort(), 50);
		await assert.rejects(call, (error) => error === controller.signal.reason && (error as Error).name === 'AbortError');
		assert.ok(performance.now() - started < 1000, 'the wait was cut short');
		assert.equal(seen.count, 1);
	});

	it('rejects with a custom abort reason as it is', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 200, delayMs: 2000 }]);
		const reason = new Error('shutting down');
		const controller = new AbortController();
		const call = client().get('items', { signal: controller.signal });
		setTimeout(() => controller.abort(reason), 30);
		await assert.rejects(call, (error) => error === reason);
		assert.equal(seen.count, 1);
	});
});
