import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { replaceOption } from 'ky';
import { channelNames } from '../src/engine/diagnostics.ts';
import { createClient, isHttpStatusError, isSteadfetchError, isTimeoutError, retryJob } from '../src/index.ts';
import { clockedClient, FakeClock } from './support/clocked.ts';
import { withLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

/*
The client runs its calls on the engine's loop, inside ky's `fetch` option, with ky's own retry and timers off: the
loop's timers, deadline, waits and option merging, as a ky user sees them.
*/

const fast = { baseDelayMs: 1, maxDelayMs: 5000 };
const window = (clock: FakeClock, remaining: number, resetInMs: number) => ({
	'x-ratelimit-remaining': String(remaining),
	'x-ratelimit-reset': String((clock.now() + resetInMs) / 1000),
});

describe("bounds a failing response's body read by the attempt's timeout", () => {
	it('ends a 500 whose body stalls within its timeout, not 10 s later: 1 request with retry 0', async () => {
		await withLoopback([{ stall: 500 }], async (server) => {
			const started = performance.now();
			const error = await createClient({ timeout: 100, totalTimeout: 2000, retry: 0 })
				.get(`${server.url}/x`)
				.catch((caught: unknown) => caught);
			// Generous against a busy machine: the bound that failed here before was 10 s per attempt.
			assert.ok(performance.now() - started < 5000, `settled after ${Math.round(performance.now() - started)} ms`);
			assert.ok(isHttpStatusError(error, 500));
			assert.equal(error.attempts, 1);
			assert.equal(server.count, 1);
		});
	});

	it('retries a 503 whose body stalls, each attempt within its timeout: 3 requests', async () => {
		await withLoopback([{ stall: 503 }, { stall: 503 }, { stall: 503 }], async (server) => {
			const started = performance.now();
			const error = await createClient({ timeout: 100, retry: { ...fast, maxDelayMs: 5 } })
				.get(`${server.url}/x`)
				.catch((caught: unknown) => caught);
			assert.ok(performance.now() - started < 5000, `settled after ${Math.round(performance.now() - started)} ms`);
			assert.ok(isHttpStatusError(error, 503));
			assert.equal(error.stopReason, 'limit');
			assert.equal(server.count, 3);
		});
	});
});

describe("bounds the read of a success's body by timeout, as ky's shortcuts do", () => {
	it('ends .json() of a 200 whose body stalls with a TimeoutError after its timeout: 1 request', async () => {
		await withLoopback([{ stall: 200 }], async (server) => {
			const started = performance.now();
			const error = await createClient({ timeout: 100, retry: fast })
				.get(`${server.url}/x`)
				.json()
				.catch((caught: unknown) => caught);
			assert.ok(performance.now() - started < 5000, `settled after ${Math.round(performance.now() - started)} ms`);
			assert.ok(isTimeoutError(error));
			assert.ok(isSteadfetchError(error));
			assert.equal(server.count, 1);
		});
	});

	it("ends .json() of a body that ignores the abort (a custom fetch's own) at its timeout: 1 request", async () => {
		let sent = 0;
		const fetch = async () => {
			sent++;
			// A stream that never delivers and never hears the abort: ky's own timer is what ends such a read.
			return new Response(new ReadableStream({ pull: () => new Promise(() => undefined) }), { status: 200 });
		};
		const error = await createClient({ timeout: 50, retry: fast, fetch })
			.get(`${origin}/x`)
			.json()
			.catch((caught: unknown) => caught);
		assert.ok(isTimeoutError(error));
		assert.equal(sent, 1);
	});

	it("ends the read of a body when the caller's signal aborts during it", async () => {
		await withLoopback([{ stall: 200 }], async (server) => {
			const controller = new AbortController();
			const reading = createClient({ timeout: 60_000, retry: fast }).get(`${server.url}/x`, { signal: controller.signal });
			await reading;
			const reason = new Error('caller stopped');
			controller.abort(reason);
			// Node 24's fetch fails the read with the signal's reason, Node 22's with an AbortError of its own.
			await assert.rejects(reading.json(), (error: unknown) => error === reason || (error as Error).name === 'AbortError');
			assert.equal(server.count, 1);
		});
	});
});

describe("ends an attempt at its timeout even through a fetch that ignores the signal, as ky's timer does", () => {
	it('ends with a TimeoutError after 1 request when the custom fetch never settles', async () => {
		let sent = 0;
		const fetch = () => {
			sent++;
			return new Promise<Response>(() => undefined);
		};
		const error = await createClient({ timeout: 50, retry: { ...fast, retryOnTimeout: false }, fetch })
			.get(`${origin}/x`)
			.catch((caught: unknown) => caught);
		assert.ok(isTimeoutError(error));
		assert.equal(error.stopReason, 'timeout-not-retried');
		assert.equal(sent, 1);
	});
});

describe("retries what a custom fetch throws when shouldRetry says true, as ky's shouldRetry may", () => {
	it('sends 3 requests for two RangeErrors and a 200 when shouldRetry returns true, and 1 when it says nothing', async () => {
		let sent = 0;
		const fetch = async () => {
			sent++;
			if (sent % 3 !== 0) {
				throw new RangeError(`flaky ${sent}`);
			}
			return new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } });
		};
		const forced = createClient({ retry: { ...fast, shouldRetry: ({ error }) => error instanceof RangeError || undefined }, fetch });
		assert.deepEqual(await forced.get(`${origin}/x`).json(), { ok: true });
		assert.equal(sent, 3);
		await assert.rejects(createClient({ retry: fast, fetch }).get(`${origin}/x`), /^RangeError: flaky 4$/);
		assert.equal(sent, 4);
	});
});

describe('ends a rate-limit wait with its call', () => {
	// A first call whose response says no request remains for 3 s; the API answers the next one after the reset.
	const spentWindow = async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/x', [
			{ status: 200, headers: window(clock, 0, 3000) },
			{ status: 200, body: { n: 2 }, headers: window(clock, 59, 63_000) },
		]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		await api.get('x');
		return { clock, seen, api };
	};

	it('refuses at once, without a request, a call whose totalTimeout ends before the reset, and holds no place for it', async () => {
		const { clock, seen, api } = await spentWindow();
		const error = await api.get('x', { totalTimeout: 300 }).catch((caught: unknown) => caught);
		assert.ok(isHttpStatusError(error, 429));
		assert.equal(error.stopReason, 'deadline');
		assert.equal(error.attempts, 0);
		assert.deepEqual(clock.waits, []);
		// The next call waits for the reset alone, and is the first after it.
		assert.deepEqual(await api.get('x').json(), { n: 2 });
		assert.deepEqual(clock.waits, [3000]);
		assert.equal(seen.count, 2);
	});

	it('ends the wait at once when the caller aborts it: nothing sent, the next call not held by it', async () => {
		const { clock, seen, api } = await spentWindow();
		const aborted = new AbortController();
		// Told as the wait begins, before the clock sleeps it.
		const abort = () => aborted.abort(new Error('stop'));
		subscribe(channelNames.pacing, abort);
		try {
			await assert.rejects(api.get('x', { signal: aborted.signal }), /stop/);
		} finally {
			unsubscribe(channelNames.pacing, abort);
		}
		assert.deepEqual(clock.waits, []);
		assert.deepEqual(await api.get('x').json(), { n: 2 });
		assert.deepEqual(clock.waits, [3000]);
		assert.equal(seen.count, 2);
	});
});

describe("takes ky's throwHttpErrors with ky's meaning, after the retries", () => {
	it('resolves with the last 503 after retrying it, with throwHttpErrors: false: 3 requests', async () => {
		const seen = serve('GET', '/x', times(3, { status: 503, body: 'down' }));
		const response = await createClient({ retry: fast, throwHttpErrors: false }).get(`${origin}/x`);
		assert.equal(response.status, 503);
		assert.equal(await response.text(), 'down');
		assert.equal(seen.count, 3);
	});

	it('throws on the statuses a function picks, per request too, and resolves with the others', async () => {
		const seen = serve('GET', '/x', [{ status: 404 }, { status: 400, body: 'bad' }]);
		const api = createClient({ retry: fast, throwHttpErrors: (status) => status !== 404 });
		assert.equal((await api.get(`${origin}/x`)).status, 404);
		const error = await api.get(`${origin}/x`).catch((caught: unknown) => caught);
		assert.ok(isHttpStatusError(error, 400));
		assert.equal(error.data, 'bad');
		assert.equal(seen.count, 2);
	});

	it('takes throwHttpErrors given per request over the instance', async () => {
		const seen = serve('GET', '/x', [{ status: 404 }]);
		assert.equal((await createClient().get(`${origin}/x`, { throwHttpErrors: false })).status, 404);
		assert.equal(seen.count, 1);
	});
});

describe('takes retry options per request and through extend(), merged as ky merges them', () => {
	it('retries a 404 for a call that adds it to statusCodes: 2 requests with limit 1', async () => {
		const seen = serve('GET', '/x', [{ status: 404 }, { status: 200, body: { ok: true } }]);
		const api = createClient({ retry: fast });
		assert.deepEqual(await api.get(`${origin}/x`, { retry: { statusCodes: [404], limit: 1 } }).json(), { ok: true });
		assert.equal(seen.count, 2);
	});

	it("keeps the instance's other retry options under a call's limit", async () => {
		const seen = serve('GET', '/x', times(2, { status: 404 }));
		const api = createClient({ retry: { ...fast, statusCodes: [404] } });
		const error = await api.get(`${origin}/x`, { retry: { limit: 1 } }).catch((caught: unknown) => caught);
		assert.ok(isHttpStatusError(error, 404));
		assert.equal(error.attempts, 2);
		assert.equal(seen.count, 2);
	});

	it("appends a list given per request to the instance's, as ky deep-merges it: 404 and 409 both retried", async () => {
		const seen = serve('GET', '/x', [{ status: 404 }, { status: 409 }, { status: 200, body: { ok: true } }]);
		const api = createClient({ retry: { ...fast, statusCodes: [404] } });
		assert.deepEqual(await api.get(`${origin}/x`, { retry: { statusCodes: [409] } }).json(), { ok: true });
		assert.equal(seen.count, 3);
	});

	it("replaces the instance's retry with replaceOption: 1 request for a 404 the instance retried", async () => {
		const seen = serve('GET', '/x', [{ status: 404 }]);
		const api = createClient({ retry: { ...fast, statusCodes: [404] } }).extend({ retry: replaceOption({ limit: 0 }) });
		assert.ok(isHttpStatusError(await api.get(`${origin}/x`).catch((caught: unknown) => caught), 404));
		assert.equal(seen.count, 1);
	});

	it('hands a function given to extend() the instance defaults with the retry, timeout and throwHttpErrors it carries out', () => {
		let seen: Record<string, unknown> = {};
		createClient({ retry: { limit: 4 }, timeout: 500, totalTimeout: 900 }).extend((parent) => {
			seen = parent as Record<string, unknown>;
			return {};
		});
		assert.deepEqual(
			{ retry: seen.retry, timeout: seen.timeout, totalTimeout: seen.totalTimeout, throwHttpErrors: seen.throwHttpErrors },
			{ retry: { limit: 4 }, timeout: 500, totalTimeout: 900, throwHttpErrors: true },
		);
	});
});

describe('keeps its policy and redaction through create()', () => {
	it('retries, enriches and masks on an instance made by create(), which inherits none of the ky options', async () => {
		const seen = serve('GET', '/x', [{ status: 500 }, { status: 404 }]);
		const api = createClient({ apiKey: 'sk-live-create', retry: fast, headers: { 'x-parent': '1' } }).create({ headers: { 'x-own': '1' } });
		const error = await api.get(`${origin}/x`).catch((caught: unknown) => caught);
		assert.ok(isHttpStatusError(error, 404));
		assert.equal(error.attempts, 2);
		assert.ok(!inspect(error, { depth: 10 }).includes('sk-live-create'));
		assert.equal(seen.headers[0]?.authorization, 'Bearer sk-live-create');
		assert.equal(seen.headers[0]?.['x-own'], '1');
		assert.equal(seen.headers[0]?.['x-parent'], undefined);
		assert.equal(seen.count, 2);
	});
});

describe('binds to a job through its own binding, never through ky', () => {
	it("spends the job's allowance through job.client(): limit 2 and an API that always fails make 3 requests", async () => {
		const seen = serve('GET', '/x', times(3, { status: 500 }));
		const api = createClient({ retry: fast, budget: false, breaker: false });
		const error = await retryJob((job) => job.client(api).get(`${origin}/x`), { retry: { ...fast, limit: 2 } }).catch(
			(caught: unknown) => caught,
		);
		assert.ok(isHttpStatusError(error, 500));
		assert.equal(error.attempts, 3);
		assert.equal(seen.count, 3);
	});

	it('refuses a ky instance steadfetch did not make, naming what it takes', async () => {
		const ky = (await import('ky')).default;
		await assert.rejects(
			retryJob((job) => job.client(ky).get(`${origin}/x`), { retry: 0 }),
			/^TypeError: Expected a client made by createClient/,
		);
	});

	it("ends a job-bound call at the job's deadline with a TimeoutError, after 1 request", async () => {
		await withLoopback([{ status: 200, delayMs: 600_000 }], async (server) => {
			const error = await retryJob((job) => job.client(createClient({ retry: fast })).get(`${server.url}/x`), {
				maxRetryTime: 100,
				retry: { ...fast, limit: 3 },
			}).catch((caught: unknown) => caught);
			assert.ok(isTimeoutError(error));
			assert.ok(isSteadfetchError(error));
			assert.equal(error.stopReason, 'deadline');
			assert.equal(server.count, 1);
		});
	});
});
