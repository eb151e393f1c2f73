import assert from 'node:assert/strict';
import { Pacer } from '../src/engine/guards/pacer.ts';
import { isHttpStatusError, isSteadfetchError } from '../src/index.ts';
import { clockedClient, clockedFetch, FakeClock } from './support/clocked.ts';
import { origin, serve } from './support/server.ts';

// GitHub's form: what remains of the window, and its reset in epoch seconds.
const window = (clock: FakeClock, remaining: number, resetInMs: number) => ({
	'x-ratelimit-remaining': String(remaining),
	'x-ratelimit-reset': String((clock.now() + resetInMs) / 1000),
});
const fast = { baseDelayMs: 1, maxDelayMs: 5000 };

describe('Pacer', () => {
	it('lets through what remains of the window, then asks to wait for its reset', () => {
		const pacer = new Pacer();
		pacer.observe({ remaining: 2, resetAt: 1000 });
		assert.deepEqual([pacer.reserve(0), pacer.reserve(10), pacer.reserve(20), pacer.reserve(400)], [0, 0, 980, 600]);
		assert.equal(pacer.reserve(1000), 0, 'past the reset, one request goes to learn the new window');
		assert.equal(pacer.reserve(1001), 10, 'the others look again shortly');
		pacer.observe({ remaining: 1, resetAt: 2000 });
		assert.deepEqual([pacer.reserve(1002), pacer.reserve(1003)], [0, 997]);
	});

	it('lets the others go if the first answer after a reset takes over a second', () => {
		const pacer = new Pacer();
		pacer.observe({ remaining: 0, resetAt: 1000 });
		assert.deepEqual([pacer.reserve(1000), pacer.reserve(1999), pacer.reserve(2000)], [0, 10, 0]);
	});

	it('ignores a stale answer: an older window, or more left than is known', () => {
		const pacer = new Pacer();
		pacer.observe({ remaining: 1, resetAt: 2000 });
		pacer.observe({ remaining: 9, resetAt: 2000 });
		pacer.observe({ remaining: 50, resetAt: 1000 });
		assert.deepEqual([pacer.reserve(0), pacer.reserve(1)], [0, 1999]);
	});

	it('knows nothing until a response describes the window', () => {
		const pacer = new Pacer();
		pacer.observe(undefined);
		assert.equal(pacer.reserve(0), 0);
	});
});

describe('waits for the rate-limit reset instead of spending a request on a 429 (client)', () => {
	it('holds the next call until the reset the last response announced, then sends it: no 429', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/x', [
			{ status: 200, body: { n: 1 }, headers: window(clock, 0, 3000) },
			{ status: 200, body: { n: 2 }, headers: window(clock, 59, 63_000) },
		]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		assert.deepEqual(await api.get('x').json(), { n: 1 });
		assert.deepEqual(await api.get('x').json(), { n: 2 });
		assert.deepEqual(clock.waits, [3000]);
		assert.equal(seen.count, 2);
	});

	it('holds the calls of an instance made by extend(), before and after the window is known', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/x', [
			{ status: 200, body: { n: 1 }, headers: window(clock, 0, 3000) },
			{ status: 200, body: { n: 2 }, headers: window(clock, 0, 5000) },
			{ status: 200, body: { n: 3 } },
		]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		const before = api.extend({ headers: { 'x-made': 'before' } });
		assert.deepEqual(await before.get('x').json(), { n: 1 });
		const after = api.extend(() => ({ headers: { 'x-made': 'after' } }));
		assert.deepEqual(await after.get('x').json(), { n: 2 });
		assert.deepEqual(await before.get('x').json(), { n: 3 });
		assert.deepEqual(clock.waits, [3000, 2000]);
		assert.equal(seen.count, 3);
	});

	it('fails at once, without a request, when the reset is further than maxDelayMs: a 429 with retryAt at the reset', async () => {
		const clock = new FakeClock();
		const reset = clock.now() + 3_600_000;
		const seen = serve('GET', '/v1/x', [{ status: 200, headers: window(clock, 0, 3_600_000) }, { status: 200 }]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		await api.get('x');
		const error = await api.get('x').catch((caught: unknown) => caught);
		assert.ok(isHttpStatusError(error, 429));
		assert.equal(error.stopReason, 'rate-limited');
		assert.equal(error.retryAt?.getTime(), reset);
		assert.equal(error.attempts, 0, 'this call sent nothing');
		assert.deepEqual(error.history, []);
		assert.deepEqual(clock.waits, []);
		assert.equal(seen.count, 1);
	});

	it('paces a retry too: a 503 that announces the spent window is retried at its reset', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/x', [
			{ status: 503, headers: window(clock, 0, 2000) },
			{ status: 200, body: { ok: true } },
		]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		assert.deepEqual(await api.get('x').json(), { ok: true });
		// The 503's own wait is the reset (docs/retries.md): by then the window has reset, and pacing adds nothing.
		assert.deepEqual(clock.waits, [2000]);
		assert.equal(seen.count, 2);
	});

	it('lets as many calls through as the window has left, and holds the rest', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/x', [
			{ status: 200, headers: window(clock, 2, 1000) },
			{ status: 200 },
			{ status: 200 },
			{ status: 200 },
		]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		await api.get('x');
		await Promise.all([api.get('x'), api.get('x'), api.get('x')]);
		assert.deepEqual(clock.waits, [1000]);
		assert.equal(seen.count, 4);
	});

	it('does not pace with rateLimit: false', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/x', [{ status: 200, headers: window(clock, 0, 3000) }, { status: 200 }]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast, rateLimit: false }, clock);
		await api.get('x');
		await api.get('x');
		assert.deepEqual(clock.waits, []);
		assert.equal(seen.count, 2);
	});
});

// Issue 12: one response with a nonsense reset must not hold the origin: past a day, a reset is unreadable (src/engine/guards/ratelimit.ts).
describe('ignores a reset further than a day, so one nonsense response does not lock the origin out', () => {
	const nonsense: Record<string, (clock: FakeClock) => Record<string, string>> = {
		'a 20-digit x-ratelimit-reset': () => ({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '9'.repeat(20) }),
		'RateLimit t=999999999999999': () => ({ ratelimit: '"default";r=0;t=999999999999999' }),
		"OpenAI's 99999999999999999h": () => ({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '99999999999999999h' }),
		'a stale epoch, ratelimit-reset: 1700000000 (54 years as delay-seconds)': () => ({
			'ratelimit-remaining': '0',
			'ratelimit-reset': '1700000000',
		}),
		'a reset a day and a second ahead': (clock) => window(clock, 0, 86_401_000),
	};
	for (const [label, headersAt] of Object.entries(nonsense)) {
		it(`${label}: the client sends every later call, at once`, async () => {
			const clock = new FakeClock();
			const headers = headersAt(clock);
			const seen = serve('GET', '/v1/x', [
				{ status: 200, headers },
				{ status: 200, headers },
				{ status: 200, body: { n: 3 } },
			]);
			const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
			await api.get('x');
			await api.get('x');
			assert.deepEqual(await api.get('x').json(), { n: 3 });
			assert.deepEqual(clock.waits, []);
			assert.equal(seen.count, 3);
		});

		it(`${label}: the drop-in fetch sends every later call, at once`, async () => {
			const clock = new FakeClock();
			const headers = headersAt(clock);
			const seen = serve('GET', '/x', [
				{ status: 200, headers },
				{ status: 200, headers },
				{ status: 200, body: 'third' },
			]);
			const fetch = clockedFetch({ retry: fast }, clock);
			await fetch(`${origin}/x`);
			await fetch(`${origin}/x`);
			assert.equal(await (await fetch(`${origin}/x`)).text(), 'third');
			assert.deepEqual(clock.waits, []);
			assert.equal(seen.count, 3);
		});
	}

	it('still paces on a reset of exactly a day, failing at once past maxDelayMs', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/x', [{ status: 200, headers: window(clock, 0, 86_400_000) }, { status: 200 }]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		await api.get('x');
		const error = await api.get('x').catch((caught: unknown) => caught);
		assert.ok(isHttpStatusError(error, 429));
		assert.equal(error.retryAt?.getTime(), clock.now() + 86_400_000);
		assert.equal(seen.count, 1);
	});
});

describe('waits for the rate-limit reset (drop-in fetch)', () => {
	it('holds the next call until the reset, then sends it', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/x', [
			{ status: 200, headers: window(clock, 0, 1500) },
			{ status: 200, body: 'second' },
		]);
		const fetch = clockedFetch({ retry: fast }, clock);
		await fetch(`${origin}/x`);
		assert.equal(await (await fetch(`${origin}/x`)).text(), 'second');
		assert.deepEqual(clock.waits, [1500]);
		assert.equal(seen.count, 2);
	});

	it('rejects at once past maxDelayMs, with the 429 error, and sends nothing', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/x', [{ status: 200, headers: window(clock, 0, 60_000) }, { status: 200 }]);
		const fetch = clockedFetch({ retry: { maxDelayMs: 1000 } }, clock);
		await fetch(`${origin}/x`);
		await assert.rejects(fetch(`${origin}/x`), (error: unknown) => isSteadfetchError(error) && error.stopReason === 'rate-limited');
		assert.equal(seen.count, 1);
	});
});
