import assert from 'node:assert/strict';
import { Pacer } from '../src/engine/guards/pacer.ts';
import { isHttpStatusError, isRefusal, isSteadfetchError } from '../src/index.ts';
import { clockedClient, clockedFetch, FakeClock } from './support/clocked.ts';
import { origin, serve } from './support/server.ts';

// GitHub's form: what remains of the window, and its reset in epoch seconds.
const window = (clock: FakeClock, remaining: number, resetInMs: number) => ({
	'x-ratelimit-remaining': String(remaining),
	'x-ratelimit-reset': String((clock.now() + resetInMs) / 1000),
});
const fast = { baseDelayMs: 1, maxDelayMs: 5000 };

// One request through the window at `now`: 0 and a place taken when it may go, else the wait.
const go = (pacer: Pacer, now: number): number => {
	const wait = pacer.peek(now);
	if (wait === 0) {
		pacer.take(now);
	}
	return wait;
};
const quota = (remaining: number, resetAt: number) => ({ bucket: undefined, family: 'x-ratelimit', remaining, resetAt });

describe('Pacer: one rate-limit window', () => {
	it('lets through what remains of the window, then asks to wait for its reset', () => {
		const pacer = new Pacer();
		pacer.observe(quota(2, 1000), 0);
		assert.deepEqual([go(pacer, 0), go(pacer, 10)], [0, 0]);
		pacer.release(15, true);
		pacer.observe(quota(0, 1000), 15);
		pacer.release(16, true);
		assert.deepEqual([go(pacer, 20), go(pacer, 400)], [980, 600], "spent by the API's word: held until the reset");
		assert.equal(go(pacer, 1000), 0, 'past the reset, one request goes to learn the new window');
		assert.equal(go(pacer, 1001), 999, 'the others wait for its answer, a second at most');
		pacer.release(1002, true);
		pacer.observe(quota(1, 2000), 1002);
		assert.deepEqual([go(pacer, 1002), go(pacer, 1003)], [0, 997], 'the last place is taken: wait for its answer, not past the reset');
	});

	it('lets the others go if the first answer after a reset takes over a second', () => {
		const pacer = new Pacer();
		pacer.observe(quota(0, 1000), 0);
		assert.deepEqual([go(pacer, 1000), go(pacer, 1999), go(pacer, 2000)], [0, 1, 0]);
	});

	it('keeps what the latest response said: a 304 that reports quota left, an earlier reset', () => {
		const pacer = new Pacer();
		pacer.observe(quota(1, 3_600_000), 0);
		assert.equal(go(pacer, 0), 0);
		pacer.release(5, true);
		pacer.observe(quota(20, 3_600_000), 5);
		assert.deepEqual(
			Array.from({ length: 20 }, (_, index) => go(pacer, 10 + index)),
			Array.from({ length: 20 }, () => 0),
		);
		pacer.observe(quota(0, 50), 40);
		assert.equal(pacer.peek(41), 9, 'an earlier reset replaces the later one');
	});

	it('counts the requests in flight against what the latest response said, and waits for their answers, not the reset', () => {
		const pacer = new Pacer();
		pacer.observe(quota(2, 3_600_000), 0);
		assert.deepEqual([go(pacer, 0), go(pacer, 0), go(pacer, 1)], [0, 0, 1000]);
		pacer.release(2, true);
		pacer.observe(quota(5, 3_600_000), 2);
		assert.equal(go(pacer, 3), 0, 'the answer said five are left, one is in flight');
	});

	it('lets a request through after a second of waiting for answers that do not come: what is held is a hypothesis', () => {
		const pacer = new Pacer();
		pacer.observe(quota(1, 3_600_000), 0);
		assert.deepEqual([go(pacer, 0), go(pacer, 10), go(pacer, 1009), go(pacer, 1010)], [0, 1000, 1, 0]);
	});

	it('probes a window the API said is spent once a minute, not more', () => {
		const pacer = new Pacer();
		pacer.observe(quota(0, 7_200_000), 0);
		assert.equal(go(pacer, 59_999), 7_140_001);
		assert.equal(go(pacer, 60_000), 0, 'the probe');
		assert.equal(go(pacer, 60_001), 7_139_999);
	});

	it('forgets a window past its reset when an answer does not describe it again', () => {
		const pacer = new Pacer();
		pacer.observe(quota(0, 1000), 0);
		assert.equal(go(pacer, 1000), 0);
		pacer.release(1100, true);
		assert.deepEqual([go(pacer, 1101), go(pacer, 1102)], [0, 0]);
	});

	it('knows nothing until a response describes the window', () => {
		assert.equal(new Pacer().peek(0), 0);
	});

	it('counts an answer that says nothing of the window against it, and tells a waiting call of every answer', () => {
		const pacer = new Pacer();
		pacer.observe(quota(1, 5000), 0);
		assert.equal(go(pacer, 0), 0);
		const waiting = new AbortController();
		pacer.listen(waiting);
		pacer.release(10, true);
		assert.equal(waiting.signal.aborted, true);
		assert.equal(go(pacer, 11), 4989, 'the API counted the answered request: none is left');
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

	it('resolves at once past maxDelayMs with a local 429 marked as a refusal, and sends nothing', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/x', [{ status: 200, headers: window(clock, 0, 60_000) }, { status: 200 }]);
		const gaveUp: unknown[] = [];
		const fetch = clockedFetch({ retry: { maxDelayMs: 1000 }, onGiveUp: (error) => gaveUp.push(error) }, clock);
		await fetch(`${origin}/x`);
		const refused = await fetch(`${origin}/x`);
		assert.equal(refused.status, 429);
		assert.equal(isRefusal(refused), true);
		assert.equal(refused.headers.get('x-steadfetch-refused'), 'rate-limited');
		assert.equal(refused.headers.get('retry-after'), '60');
		assert.equal(refused.headers.get('x-should-retry'), 'false');
		assert.equal(gaveUp.length, 1, 'onGiveUp hears of the refusal');
		assert.equal(isSteadfetchError(gaveUp[0]) && gaveUp[0].stopReason, 'rate-limited');
		assert.equal(seen.count, 1);
	});

	it('rejects past maxDelayMs with the 429 error where 429 throws, and sends nothing', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/x', [{ status: 200, headers: window(clock, 0, 60_000) }, { status: 200 }]);
		const fetch = clockedFetch({ retry: { maxDelayMs: 1000 }, throwHttpErrors: true }, clock);
		await fetch(`${origin}/x`);
		await assert.rejects(fetch(`${origin}/x`), (error: unknown) => isSteadfetchError(error) && error.stopReason === 'rate-limited');
		assert.equal(seen.count, 1);
	});
});
