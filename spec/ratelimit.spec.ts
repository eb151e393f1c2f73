import assert from 'node:assert/strict';
import { maxResetMs, readQuotas, readWait } from '../src/engine/guards/ratelimit.ts';
import { decide } from '../src/engine/policy.ts';
import { isSteadfetchError, type RetryEvent } from '../src/index.ts';
import { normalizeClientOptions } from '../src/options/normalize.ts';
import { clockedClient, FakeClock } from './support/clocked.ts';
import { origin, serve } from './support/server.ts';

// One `describe` per row of the table in docs/retries.md ("Rate-limit headers"). The time is fixed on a whole second,
// as the fake clock's is, so epoch seconds and dates a few seconds ahead are exact.
const now = Date.UTC(2026, 10, 27, 12, 0, 0);
const epoch = (offsetSeconds: number) => String(now / 1000 + offsetSeconds);
const wait = (headers: Record<string, string>, status = 429) => readWait(new Headers(headers), status, now);
// The windows a response reports, as [bucket or family, remaining, ms to reset].
const quotas = (headers: Record<string, string>) =>
	readQuotas(new Headers(headers), now).map(({ bucket, family, remaining, resetAt }) => [bucket ?? `#${family}`, remaining, resetAt - now]);

describe('rate limits: Retry-After and retry-after-ms come first', () => {
	it('reads retry-after-ms, then Retry-After, before any rate-limit header', () => {
		const limits = { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': epoch(60), 'ratelimit-reset': '40' };
		assert.equal(wait({ ...limits, 'retry-after': '2' }), 2000);
		assert.equal(wait({ ...limits, 'retry-after-ms': '15', 'retry-after': '2' }), 15);
	});

	it('reads Retry-After on any status, as before', () => assert.equal(wait({ 'retry-after': '3' }, 500), 3000));

	it('falls through a malformed Retry-After to the rate-limit headers', () => {
		assert.equal(wait({ 'retry-after': 'soon', 'ratelimit-reset': '5' }), 5000);
	});
});

describe('rate limits: RateLimit-Reset with RateLimit-Remaining (older IETF drafts, GitLab)', () => {
	it('reads delay-seconds on a 429 or a 503', () => {
		assert.equal(wait({ 'ratelimit-reset': '30' }, 429), 30_000);
		assert.equal(wait({ 'ratelimit-reset': '30' }, 503), 30_000);
	});

	it('reads a number past 2024-01-01 as epoch seconds (ky 2.1)', () => assert.equal(wait({ 'ratelimit-reset': epoch(45) }), 45_000));

	it('reads the reset on another status only when RateLimit-Remaining is 0', () => {
		assert.equal(wait({ 'ratelimit-reset': '30', 'ratelimit-remaining': '0' }, 500), 30_000);
		assert.equal(wait({ 'ratelimit-reset': '30', 'ratelimit-remaining': '3' }, 500), undefined);
		assert.equal(wait({ 'ratelimit-reset': '30' }, 500), undefined);
	});
});

describe('rate limits: X-RateLimit-Retry-After (Symfony)', () => {
	it('reads delay-seconds on a 429 or a 503', () => {
		assert.equal(wait({ 'x-ratelimit-retry-after': '12' }, 429), 12_000);
		assert.equal(wait({ 'x-ratelimit-retry-after': '12' }, 503), 12_000);
	});

	it('reads it on another status only when X-RateLimit-Remaining is 0', () => {
		assert.equal(wait({ 'x-ratelimit-retry-after': '12', 'x-ratelimit-remaining': '0' }, 502), 12_000);
		assert.equal(wait({ 'x-ratelimit-retry-after': '12', 'x-ratelimit-remaining': '9' }, 502), undefined);
	});
});

describe('rate limits: X-RateLimit-Reset (GitHub)', () => {
	it('reads epoch seconds when x-ratelimit-remaining is 0, whatever the status', () => {
		for (const status of [429, 403, 500]) {
			assert.equal(wait({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': epoch(5) }, status), 5000);
		}
	});

	it('does not wait for a far reset on a GitHub 500 whose remaining is not 0', () => {
		assert.equal(wait({ 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': epoch(2400) }, 500), undefined);
	});

	it('reads small numbers as delay-seconds, and epoch milliseconds and an HTTP-date as times', () => {
		assert.equal(wait({ 'x-ratelimit-reset': '7' }), 7000);
		assert.equal(wait({ 'x-ratelimit-reset': String(now + 2500) }), 2500);
		assert.equal(wait({ 'x-ratelimit-reset': new Date(now + 9000).toUTCString() }), 9000);
	});

	it('reads a reset in the past as 0', () => assert.equal(wait({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': epoch(-30) }, 500), 0));
});

describe('rate limits: X-Rate-Limit-Reset (Twitter/X)', () => {
	it('reads epoch seconds on a 429, or with x-rate-limit-remaining 0', () => {
		assert.equal(wait({ 'x-rate-limit-reset': epoch(20) }), 20_000);
		assert.equal(wait({ 'x-rate-limit-reset': epoch(20), 'x-rate-limit-remaining': '0' }, 500), 20_000);
		assert.equal(wait({ 'x-rate-limit-reset': epoch(20), 'x-rate-limit-remaining': '1' }, 500), undefined);
	});
});

describe('rate limits: RateLimit structured field (draft-ietf-httpapi-ratelimit-headers)', () => {
	it('reads t of the policy whose r is 0, the longest if several, on any status', () => {
		assert.equal(wait({ ratelimit: '"burst";r=5;t=1, "hour";r=0;t=30' }, 500), 30_000);
		assert.equal(wait({ ratelimit: '"burst";r=0;t=1, "hour";r=0;t=30, "day";r=7;t=900' }, 200), 30_000);
	});

	it('waits for the longest t on a 429 where no policy is at 0, and for none on a 500', () => {
		assert.equal(wait({ ratelimit: '"burst";r=5;t=1, "hour";r=2;t=30' }, 429), 30_000);
		assert.equal(wait({ ratelimit: '"burst";r=5;t=1, "hour";r=2;t=30' }, 500), undefined);
	});

	it('keeps a quoted policy name holding a comma or a semicolon whole', () => {
		assert.equal(wait({ ratelimit: '"a, b;c";r=0;t=8' }, 500), 8000);
	});

	it('ignores a member whose r or t is not a non-negative integer', () => {
		assert.equal(wait({ ratelimit: '"a";r=0;t=-3, "b";r=0;t=2.5, "c";r=x;t=4' }, 500), undefined);
	});
});

describe('rate limits: OpenAI x-ratelimit-reset-requests and -tokens', () => {
	for (const [value, ms] of [
		['1s', 1000],
		['1.2s', 1200],
		['1.1s', 1100],
		['6m0s', 360_000],
		['20ms', 20],
		['1h2m3.5s', 3_723_500],
		['500us', 1],
		['0s', 0],
	] as const) {
		it(`reads the Go duration ${value} as ${ms} ms`, () => {
			assert.equal(wait({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': value }, 500), ms);
		});
	}

	it('uses the reset whose remaining is 0, the longest if several', () => {
		const headers = {
			'x-ratelimit-remaining-requests': '0',
			'x-ratelimit-reset-requests': '2s',
			'x-ratelimit-remaining-tokens': '150',
			'x-ratelimit-reset-tokens': '6m0s',
		};
		assert.equal(wait(headers, 429), 2000);
		assert.equal(wait({ ...headers, 'x-ratelimit-remaining-tokens': '0' }, 429), 360_000);
	});

	it('waits for the longest reset on a 429 where no remaining is 0, and for none on a 200', () => {
		const headers = {
			'x-ratelimit-remaining-requests': '3',
			'x-ratelimit-reset-requests': '2s',
			'x-ratelimit-remaining-tokens': '10',
			'x-ratelimit-reset-tokens': '20ms',
		};
		assert.equal(wait(headers, 429), 2000);
		assert.equal(wait(headers, 200), undefined);
	});
});

describe('rate limits: Anthropic anthropic-ratelimit-*-reset', () => {
	it('reads an RFC 3339 time, with an offset or a fraction', () => {
		const remaining = { 'anthropic-ratelimit-requests-remaining': '0' };
		assert.equal(wait({ ...remaining, 'anthropic-ratelimit-requests-reset': '2026-11-27T12:00:30Z' }, 500), 30_000);
		assert.equal(wait({ ...remaining, 'anthropic-ratelimit-requests-reset': '2026-11-27T13:00:30+01:00' }, 500), 30_000);
		assert.equal(wait({ ...remaining, 'anthropic-ratelimit-requests-reset': '2026-11-27T12:00:01.250Z' }, 500), 1250);
	});

	it('uses the reset whose remaining is 0, the longest of the four kinds', () => {
		const kinds = { requests: ['5', 40], tokens: ['0', 10], 'input-tokens': ['0', 25], 'output-tokens': ['9', 50] } as const;
		const headers = Object.fromEntries(
			Object.entries(kinds).flatMap(([kind, [remaining, seconds]]) => [
				[`anthropic-ratelimit-${kind}-remaining`, remaining],
				[`anthropic-ratelimit-${kind}-reset`, new Date(now + seconds * 1000).toISOString()],
			]),
		);
		assert.equal(wait(headers, 200), 25_000);
		assert.equal(wait({ ...headers, 'retry-after': '3' }, 429), 3000, 'the 429 retry-after comes first');
	});
});

describe('rate limits: garbage falls through, waits are clamped', () => {
	const garbage: Record<string, readonly string[]> = {
		// 1700000000 is before 2024 as epoch seconds, so delay-seconds: 54 years.
		'ratelimit-reset': ['-5', 'soon', '1e3', '0x10', 'Tue Feb 16 2021 09:02:42 GMT+0100', '1700000000', '86401'],
		'x-ratelimit-reset': ['-5', 'soon', 'Wed, 31 Feb 2026 12:00:00 GMT', '9'.repeat(20), '9'.repeat(400), epoch(86_401)],
		ratelimit: ['r=0;t=5', 'remaining=0, reset=5', '"a";r=0', '"a";t=5;r', '"a";t=5', '"unclosed;r=0;t=5', '"a";r=0;t=999999999999999'],
		'x-ratelimit-reset-requests': ['5', '1.s', 'ms', '-1s', '1d', '1s2', '99999999999999999h', '24h0m1s'],
		'anthropic-ratelimit-requests-reset': [
			'2026-13-01T00:00:00Z',
			'2026-02-31T00:00:00Z',
			'2026-11-27 12:00',
			'0050-01-01T00:00:00Z',
			'tomorrow',
			'9999-12-31T23:59:59Z',
		],
	};
	for (const [name, values] of Object.entries(garbage)) {
		for (const value of values) {
			it(`ignores ${name}: ${JSON.stringify(value)}, falling back to the next signal, then to the backoff`, () => {
				const limited = {
					[name]: value,
					'ratelimit-remaining': '0',
					'x-ratelimit-remaining': '0',
					'x-ratelimit-remaining-requests': '0',
					'anthropic-ratelimit-requests-remaining': '0',
				};
				assert.equal(wait(limited), undefined);
				// Anthropic's tokens window is the last signal read, so every header above falls through to it.
				const last = { 'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': '2026-11-27T12:00:04Z' };
				assert.equal(wait({ ...limited, ...last }), 4000);
			});
		}
	}

	it('never returns a wait that reaches past what a Date can hold', () => {
		for (const headers of [{ 'retry-after': '9'.repeat(30) }, { 'retry-after-ms': '9'.repeat(400) }]) {
			const ms = wait(headers);
			assert.ok(ms !== undefined && Number.isFinite(new Date(now + ms).getTime()), JSON.stringify(headers));
		}
	});

	it(`reads a reset up to ${maxResetMs / 3_600_000} hours ahead, and none further, in every family`, () => {
		const day = maxResetMs / 1000;
		const pairs: [Record<string, string>, Record<string, string>][] = [
			[{ 'x-ratelimit-reset': epoch(day) }, { 'x-ratelimit-reset': epoch(day + 1) }],
			[{ 'ratelimit-reset': String(day) }, { 'ratelimit-reset': String(day + 1) }],
			[{ ratelimit: `"a";r=0;t=${day}` }, { ratelimit: `"a";r=0;t=${day + 1}` }],
			[{ 'x-ratelimit-reset-requests': '24h0m0s' }, { 'x-ratelimit-reset-requests': '24h0m1s' }],
			[{ 'anthropic-ratelimit-requests-reset': '2026-11-28T12:00:00Z' }, { 'anthropic-ratelimit-requests-reset': '2026-11-28T12:00:01Z' }],
		];
		for (const [reset, far] of pairs) {
			assert.equal(wait(reset), maxResetMs, JSON.stringify(reset));
			assert.equal(wait(far), undefined, JSON.stringify(far));
		}
	});

	it('turns a rate-limit wait above maxDelayMs into wait-over-cap, with retryAt at the reset', () => {
		const headers = new Headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': epoch(3600) });
		const policy = normalizeClientOptions({ retry: { maxDelayMs: 1000 } }).policy;
		const attempt = { outcome: 403, method: 'GET', hasIdempotencyKey: false, retry: 1, now, headers };
		assert.deepEqual(decide(policy, { ...attempt, outcome: 429 }), { retry: false, reason: 'wait-over-cap', retryAt: now + 3_600_000 });
		assert.deepEqual(decide(policy, attempt), { retry: false, reason: 'permanent' }, 'a status not retried stays so');
	});
});

describe('rate limits: readQuotas, for pacing', () => {
	it("reads GitHub's pair on a success, named by x-ratelimit-resource", () => {
		assert.deepEqual(quotas({ 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': epoch(3600) }), [['#x-ratelimit', 4999, 3_600_000]]);
		assert.deepEqual(quotas({ 'x-ratelimit-remaining': '29', 'x-ratelimit-reset': epoch(60), 'x-ratelimit-resource': 'search' }), [
			['search', 29, 60_000],
		]);
	});

	it('reports every window, each on its own', () => {
		const headers = {
			'x-ratelimit-remaining': '40',
			'x-ratelimit-reset': epoch(3600),
			'ratelimit-remaining': '3',
			'ratelimit-reset': '20',
			'x-ratelimit-remaining-requests': '7',
			'x-ratelimit-reset-requests': '1s',
		};
		assert.deepEqual(quotas(headers), [
			['#x-ratelimit', 40, 3_600_000],
			['#ratelimit-pair', 3, 20_000],
			['#openai', 7, 1000],
		]);
	});

	it('reads each request policy of the IETF field as its own window, named with its partition key', () => {
		const headers = {
			ratelimit: '"burst";r=50;t=60, "day";r=0;t=7200;pk=:YWxpY2U=:, "bytes";r=2;t=5',
			'ratelimit-policy': '"burst";q=100;w=60, "day";q=1000;w=86400, "bytes";q=1000;qu="content-bytes"',
		};
		assert.deepEqual(quotas(headers), [
			['burst', 50, 60_000],
			['day;pk=:YWxpY2U=:', 0, 7_200_000],
		]);
	});

	it("reads OpenAI's and Anthropic's requests pairs, not their tokens", () => {
		assert.deepEqual(
			quotas({
				'x-ratelimit-remaining-requests': '59',
				'x-ratelimit-reset-requests': '1s',
				'x-ratelimit-remaining-tokens': '0',
				'x-ratelimit-reset-tokens': '6m0s',
			}),
			[['#openai', 59, 1000]],
		);
		assert.deepEqual(
			quotas({
				'anthropic-ratelimit-requests-remaining': '4',
				'anthropic-ratelimit-requests-reset': '2026-11-27T12:00:10Z',
				'anthropic-ratelimit-tokens-remaining': '0',
				'anthropic-ratelimit-tokens-reset': '2026-11-27T12:01:00Z',
			}),
			[['#anthropic', 4, 10_000]],
		);
	});

	it('is empty without rate-limit headers, or with half a pair', () => {
		assert.deepEqual(quotas({ 'content-type': 'application/json', 'retry-after': '5' }), []);
		assert.deepEqual(quotas({ 'x-ratelimit-remaining': '10' }), []);
		assert.deepEqual(quotas({ 'x-ratelimit-reset': epoch(60) }), []);
		assert.deepEqual(quotas({ 'x-ratelimit-remaining': 'many', 'x-ratelimit-reset': epoch(60) }), []);
	});

	it('leaves out a reset further than a day, so that pacing never holds a window for it', () => {
		for (const headers of [
			{ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '9'.repeat(20) },
			{ 'ratelimit-remaining': '0', 'ratelimit-reset': '1700000000' },
			{ ratelimit: '"a";r=0;t=999999999999999' },
			{ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '99999999999999999h' },
		]) {
			assert.deepEqual(quotas(headers), [], JSON.stringify(headers));
		}
		// A readable window next to the nonsense is still read.
		assert.deepEqual(
			quotas({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '9'.repeat(20), 'ratelimit-remaining': '2', 'ratelimit-reset': '20' }),
			[['#ratelimit-pair', 2, 20_000]],
		);
	});
});

describe('rate limits: end to end through createClient', () => {
	const client = (retry: object = {}) => {
		const clock = new FakeClock(now);
		const delays: number[] = [];
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry, onRetry: (event: RetryEvent) => delays.push(event.delayMs) }, clock);
		return { api, clock, delays };
	};
	const github = (status: number, remaining: string, offsetSeconds: number) => ({
		status,
		headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': remaining, 'x-ratelimit-reset': epoch(offsetSeconds) },
	});

	it('retries a GitHub 429 once its x-ratelimit-reset has passed', async () => {
		const seen = serve('GET', '/v1/repos', [github(429, '0', 3), { status: 200, body: { ok: true } }]);
		const { api, clock, delays } = client();
		assert.deepEqual(await api.get('repos').json(), { ok: true });
		assert.deepEqual(clock.waits, [3000], 'slept until the reset, not a backoff');
		assert.deepEqual(delays, [3000]);
		assert.equal(seen.count, 2);
	});

	it('backs off on a GitHub 500 instead of waiting for its hourly reset', async () => {
		const seen = serve('GET', '/v1/repos', [github(500, '4999', 2400), { status: 200 }]);
		const { api, clock } = client({ jitter: false });
		await api.get('repos');
		assert.deepEqual(clock.waits, [300], 'the first backoff step');
		assert.equal(seen.count, 2);
	});

	it('backs off on a 429 whose reset is nonsense (20 digits), and succeeds on the retry', async () => {
		const seen = serve('GET', '/v1/repos', [
			{ status: 429, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '9'.repeat(20) } },
			{ status: 200, body: { ok: true } },
		]);
		const { api, clock } = client({ jitter: false });
		assert.deepEqual(await api.get('repos').json(), { ok: true });
		assert.deepEqual(clock.waits, [300], 'the first backoff step');
		assert.equal(seen.count, 2);
	});

	it('fails at once with wait-over-cap when the reset is beyond maxDelayMs', async () => {
		const seen = serve('GET', '/v1/repos', [github(429, '0', 120), { status: 200 }]);
		const { api, clock } = client({ maxDelayMs: 5000 });
		await assert.rejects(api.get('repos'), (error: unknown) => {
			assert.ok(isSteadfetchError(error));
			assert.equal(error.stopReason, 'wait-over-cap');
			assert.equal(error.retryAt?.getTime(), now + 120_000);
			return true;
		});
		assert.deepEqual(clock.waits, []);
		assert.equal(seen.count, 1);
	});
});
