import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../src/engine/clock.ts';
import {
	createFetch,
	FetchNetworkError,
	type FetchOptions,
	isNetworkError,
	isSteadfetchError,
	NotFoundError,
	type RetryEvent,
} from '../src/index.ts';
import { normalizeFetchOptions } from '../src/options/normalize.ts';
import { fetchWith } from '../src/surfaces/fetch.ts';
import { type LoopbackReply, startLoopback, withLoopback as withServer } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 10 };
const make = (options: FetchOptions = {}) => createFetch({ retry: fast, ...options });

const flaky = (answer = '{"ok":true}'): LoopbackReply[] => [{ status: 500 }, { status: 503 }, { status: 200, body: answer }];

describe('behaves as fetch', () => {
	it('has the signature of fetch and resolves with a real Response', async () => {
		serve('GET', '/a', [{ status: 200, body: { a: 1 } }]);
		const fetch: typeof globalThis.fetch = make();
		const response = await fetch(`${origin}/a`);
		assert.ok(response instanceof Response);
		assert.deepEqual(await response.json(), { a: 1 });
	});

	it('resolves with a 404 at once, untouched: status, headers and body as sent', async () => {
		const seen = serve('GET', '/missing', times(3, { status: 404, body: { error: 'gone' }, headers: { 'x-request-id': 'r1' } }));
		const response = await make()(`${origin}/missing`);
		assert.equal(response.status, 404);
		assert.equal(response.headers.get('x-request-id'), 'r1');
		assert.deepEqual(await response.json(), { error: 'gone' });
		assert.equal(seen.count, 1);
	});

	for (const status of [400, 401]) {
		it(`sends exactly one request for a ${status}`, async () => {
			const seen = serve('GET', '/x', times(3, { status }));
			assert.equal((await make()(`${origin}/x`)).status, status);
			assert.equal(seen.count, 1);
		});
	}

	it('resolves with a 304 as a success: one request, no give-up', async () => {
		const seen = serve('GET', '/cached', times(2, { status: 304 }));
		const gaveUp: unknown[] = [];
		const response = await make({ onGiveUp: (error) => gaveUp.push(error) })(`${origin}/cached`, { headers: { 'if-none-match': '"v1"' } });
		assert.equal(response.status, 304);
		assert.deepEqual(gaveUp, []);
		assert.equal(seen.count, 1);
	});

	it('calls onGiveUp once for a 404 it returns', async () => {
		serve('GET', '/missing', [{ status: 404 }]);
		const gaveUp: unknown[] = [];
		const response = await make({ onGiveUp: (error) => gaveUp.push(error) })(`${origin}/missing`);
		assert.equal(response.status, 404);
		assert.equal(gaveUp.length, 1);
		assert.ok(gaveUp[0] instanceof NotFoundError);
	});

	it('resolves with the last response once retries run out', async () => {
		const seen = serve('GET', '/down', [{ status: 500 }, { status: 502 }, { status: 503, body: 'last' }, { status: 200 }]);
		const response = await make()(`${origin}/down`);
		assert.equal(response.status, 503);
		assert.equal(await response.text(), 'last');
		assert.equal(seen.count, 3);
	});

	it('retries a 500 and resolves with the success', async () => {
		await withServer(flaky(), async (server) => {
			const response = await make()(`${server.url}/x`);
			assert.deepEqual(await response.json(), { ok: true });
			assert.equal(server.count, 3);
		});
	});

	it('does not retry a POST without an Idempotency-Key', async () => {
		await withServer(flaky(), async (server) => {
			const response = await make()(`${server.url}/x`, { method: 'POST', body: 'b' });
			assert.equal(response.status, 500);
			assert.equal(server.count, 1);
		});
	});

	it('adds one Idempotency-Key per call with idempotencyKey: true', async () => {
		await withServer(flaky(), async (server) => {
			await make({ idempotencyKey: true })(`${server.url}/x`, { method: 'POST', body: 'b', headers: { 'x-a': '1' } });
			const keys = server.headers.map((headers) => headers['idempotency-key']);
			assert.equal(keys.length, 3);
			assert.ok(keys[0] && keys.every((key) => key === keys[0]));
			assert.equal(server.headers[2]?.['x-a'], '1');
		});
	});

	it('honours Retry-After', async () => {
		const delays: number[] = [];
		await withServer([{ status: 429, headers: { 'retry-after-ms': '40' } }, { status: 200 }], async (server) => {
			await createFetch({ onRetry: (event) => delays.push(event.delayMs) })(`${server.url}/x`);
			assert.deepEqual(delays, [40]);
			assert.equal(server.count, 2);
		});
	});

	it('resolves at once with a 503 whose Retry-After is over the cap', async () => {
		await withServer([{ status: 503, headers: { 'retry-after': '3600' } }, { status: 200 }], async (server) => {
			const response = await make()(`${server.url}/x`);
			assert.equal(response.status, 503);
			assert.equal(server.count, 1);
		});
	});
});

describe('sends the body intact on every attempt', () => {
	const form = new FormData();
	form.append('field', 'value');
	form.append('file', new Blob(['file-bytes'], { type: 'text/plain' }), 'a.txt');
	for (const [name, body, expected] of [
		['a string', 'hello', 'hello'],
		['JSON text', JSON.stringify({ a: [1, 2] }), '{"a":[1,2]}'],
		['URLSearchParams', new URLSearchParams({ q: 'a b', n: '1' }), 'q=a+b&n=1'],
		['a Blob', new Blob(['blob-bytes']), 'blob-bytes'],
		['an ArrayBuffer', new TextEncoder().encode('buffer-bytes').buffer, 'buffer-bytes'],
		['a Uint8Array', new TextEncoder().encode('typed-bytes'), 'typed-bytes'],
	] as const) {
		it(`replays ${name}`, async () => {
			await withServer(flaky(), async (server) => {
				await make()(`${server.url}/x`, { method: 'PUT', body });
				const bodies = await Promise.all(server.bodies);
				assert.deepEqual(bodies, [expected, expected, expected]);
			});
		});
	}

	it('replays FormData with its boundary', async () => {
		await withServer(flaky(), async (server) => {
			await make()(`${server.url}/x`, { method: 'PUT', body: form });
			const bodies = await Promise.all(server.bodies);
			assert.equal(bodies.length, 3);
			for (const [index, body] of bodies.entries()) {
				const boundary = /boundary=(.+)$/.exec(String(server.headers[index]?.['content-type']))?.[1] ?? '';
				assert.ok(boundary && body.includes(boundary) && body.includes('value') && body.includes('file-bytes'));
			}
		});
	});

	it('replays a Request object with a body, built by the caller as an SDK does', async () => {
		await withServer(flaky(), async (server) => {
			const request = new Request(`${server.url}/v1/things`, {
				method: 'PUT',
				headers: { 'content-type': 'application/json', 'x-sdk': 'demo' },
				body: '{"n":1}',
			});
			const response = await make()(request);
			assert.equal(response.status, 200);
			assert.deepEqual(await Promise.all(server.bodies), ['{"n":1}', '{"n":1}', '{"n":1}']);
			assert.ok(server.headers.every((headers) => headers['x-sdk'] === 'demo'));
		});
	});

	it('sends a ReadableStream body once and does not retry it', async () => {
		await withServer(flaky(), async (server) => {
			const stream = new ReadableStream({
				start(controller) {
					controller.enqueue(new TextEncoder().encode('streamed'));
					controller.close();
				},
			});
			const response = await make()(`${server.url}/x`, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
			assert.equal(response.status, 500);
			assert.equal(server.count, 1);
			assert.deepEqual(await Promise.all(server.bodies), ['streamed']);
		});
	});

	it('tells onGiveUp that a stream body could not be replayed', async () => {
		await withServer(flaky(), async (server) => {
			const reasons: unknown[] = [];
			const body = new ReadableStream({
				start(controller) {
					controller.close();
				},
			});
			await make({ onGiveUp: (error) => reasons.push(error.stopReason) })(`${server.url}/x`, {
				method: 'PUT',
				body,
				duplex: 'half',
			} as RequestInit);
			assert.deepEqual(reasons, ['unreplayable-body']);
		});
	});
});

describe('keeps fetch rejection shapes', () => {
	it('rejects with a TypeError that network-error detectors recognise, enriched, after retries', async () => {
		const server = await startLoopback([{ reset: true }, { reset: true }, { reset: true }]);
		const error = await make()(`${server.url}/x?token=abc`).catch((caught: unknown) => caught);
		await server.close();
		assert.ok(error instanceof TypeError);
		assert.ok(error instanceof FetchNetworkError);
		assert.equal(error.name, 'TypeError');
		assert.equal(error.message, 'fetch failed');
		assert.ok(isNetworkError(error));
		assert.ok(isSteadfetchError(error));
		assert.equal(error.attempts, 3);
		assert.equal(server.count, 3);
		assert.match(error.summary, /^Network Error GET http:\/\/127\.0\.0\.1:\d+\/x\?token=\*\*\* \(3 attempts\): No response was received\./);
		assert.equal(JSON.parse(JSON.stringify(error)).message, error.summary);
	});

	it('recovers from a reset', async () => {
		await withServer([{ reset: true }, { status: 200, body: 'ok' }], async (server) => {
			assert.equal(await (await make()(`${server.url}/x`)).text(), 'ok');
			assert.equal(server.count, 2);
		});
	});

	it("passes fetch's own TypeError for a bad URL through, without retrying", async () => {
		let calls = 0;
		const fetch = make({
			fetch: (input, init) => {
				calls++;
				return globalThis.fetch(input, init);
			},
		});
		await assert.rejects(fetch('http://exa mple.test/'), (error: unknown) => error instanceof TypeError && !isSteadfetchError(error));
		assert.equal(calls, 1);
	});

	it('rejects with the abort reason during an attempt', async () => {
		await withServer([{ status: 200, delayMs: 2000 }], async (server) => {
			const controller = new AbortController();
			setTimeout(() => controller.abort(), 50);
			const started = performance.now();
			await assert.rejects(
				make()(`${server.url}/x`, { signal: controller.signal }),
				(error: unknown) => error === controller.signal.reason && (error as Error).name === 'AbortError',
			);
			assert.ok(performance.now() - started < 1000);
			assert.equal(server.count, 1);
		});
	});

	it('rejects with the abort reason during a backoff wait, without another request', async () => {
		await withServer(flaky(), async (server) => {
			const controller = new AbortController();
			const reason = new Error('shutting down');
			setTimeout(() => controller.abort(reason), 50);
			const started = performance.now();
			await assert.rejects(
				createFetch({ retry: { baseDelayMs: 5000, jitter: false } })(`${server.url}/x`, { signal: controller.signal }),
				(error) => error === reason,
			);
			assert.ok(performance.now() - started < 1000);
			assert.equal(server.count, 1);
		});
	});

	it("rejects at once with an already-aborted Request's signal", async () => {
		const controller = new AbortController();
		controller.abort();
		let calls = 0;
		const fetch = make({
			fetch: async () => {
				calls++;
				return new Response();
			},
		});
		await assert.rejects(fetch(new Request(`${origin}/x`, { signal: controller.signal })), { name: 'AbortError' });
		assert.equal(calls, 0);
	});
});

describe('throws enriched errors with throwHttpErrors: true', () => {
	it('throws NotFoundError with the body for a 404, after one request', async () => {
		const seen = serve(
			'GET',
			'/v1/users/9',
			times(2, { status: 404, body: { error: 'no user' }, headers: { 'content-type': 'application/json' } }),
		);
		const error = await make({ throwHttpErrors: true })(`${origin}/v1/users/9`).catch((caught: unknown) => caught);
		assert.ok(error instanceof NotFoundError);
		assert.deepEqual(error.data, { error: 'no user' });
		assert.equal(error.attempts, 1);
		assert.equal(seen.count, 1);
	});

	it('throws after the retries of a 500 and reports each retry', async () => {
		const events: RetryEvent[] = [];
		const seen = serve('GET', '/x', times(4, { status: 500, body: 'x'.repeat(100_000) }));
		const error = await make({ throwHttpErrors: true, onRetry: (event) => events.push(event) })(`${origin}/x`).catch(
			(caught: unknown) => caught,
		);
		assert.ok(isSteadfetchError(error));
		assert.equal(error.status, 500);
		assert.equal(error.attempts, 3);
		assert.equal(events.length, 2);
		assert.ok(typeof error.data === 'string' && error.data.length < 8300, 'the body is kept only as an excerpt');
		assert.equal(seen.count, 3);
	});

	it('settles when an error body drips forever: it keeps what arrived within the read bound', async () => {
		let requests = 0;
		const drips = new Set<NodeJS.Timeout>();
		const server = createServer((_request, response) => {
			requests++;
			response.writeHead(404, { 'content-type': 'text/plain' });
			response.write('partial');
			// One byte a second, for as long as the connection lasts.
			const drip = setInterval(() => response.write('.'), 1000);
			drips.add(drip);
			response.on('close', () => clearInterval(drip));
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		try {
			const fetch = fetchWith(normalizeFetchOptions({ throwHttpErrors: true }), systemClock, undefined, 200);
			const error = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`).catch((caught: unknown) => caught);
			assert.ok(error instanceof NotFoundError);
			assert.equal(error.data, 'partial');
			assert.equal(requests, 1);
		} finally {
			for (const drip of drips) {
				clearInterval(drip);
			}
			server.closeAllConnections();
			await new Promise((resolve) => server.close(resolve));
		}
	});

	it('still resolves with a success', async () => {
		serve('GET', '/x', [{ status: 200, body: 'fine' }]);
		assert.equal(await (await make({ throwHttpErrors: true })(`${origin}/x`)).text(), 'fine');
	});
});

describe('validates its options when created', () => {
	for (const [options, pattern] of [
		[{ throwHttpErrors: 'yes' }, /`throwHttpErrors` to be a boolean/],
		[{ fetch: 42 }, /`fetch` to be a function/],
		[{ retry: { limit: -1 } }, /`retry\.limit`/],
		[{ onGiveUp: true }, /`onGiveUp` to be a function/],
		[{ timeout: 5 }, /^Unknown option `timeout` for createFetch: the drop-in fetch has no timeout of its own; pass a `signal`/],
		[{ apiKey: 'k' }, /^Unknown option `apiKey` for createFetch: it takes `retry`, /],
	] as const) {
		it(`rejects ${JSON.stringify(options)}`, () => {
			assert.throws(
				() => createFetch(options as FetchOptions),
				(error: unknown) => error instanceof TypeError && pattern.test(error.message),
			);
		});
	}
});
