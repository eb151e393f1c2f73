import assert from 'node:assert/strict';
import { backoffDelay, decide, type FailedAttempt, minAttemptMs, parseRetryAfter } from '../src/engine/policy.ts';
import { normalizeClientOptions } from '../src/options/normalize.ts';
import type { RetryOptions } from '../src/options/options.ts';

const policy = (retry: RetryOptions = {}) => normalizeClientOptions({ retry }).policy;
const attempt = (overrides: Partial<FailedAttempt> = {}): FailedAttempt => ({
	outcome: 500,
	method: 'GET',
	hasIdempotencyKey: false,
	retry: 1,
	now: 1_000_000,
	...overrides,
});

describe('computes backoff with full jitter', () => {
	it('grows by factor from baseDelayMs: 300, 600, 1200 at the top of the jitter range', () => {
		const top = () => 1;
		assert.deepEqual(
			[1, 2, 3].map((retry) => backoffDelay(policy(), retry, top)),
			[300, 600, 1200],
		);
	});

	it('draws uniformly from 0 to the computed delay', () => {
		assert.equal(
			backoffDelay(policy(), 3, () => 0),
			0,
		);
		assert.equal(
			backoffDelay(policy(), 3, () => 0.5),
			600,
		);
	});

	it('caps every delay at maxDelayMs', () => {
		assert.equal(
			backoffDelay(policy({ maxDelayMs: 1000 }), 10, () => 1),
			1000,
		);
	});

	it('stays within [0, cap] for any draw', () => {
		const capped = policy({ baseDelayMs: 100, factor: 3, maxDelayMs: 5000 });
		for (let retry = 1; retry <= 20; retry++) {
			for (const draw of [0, 0.001, 0.25, 0.999999]) {
				const delay = backoffDelay(capped, retry, () => draw);
				assert.ok(delay >= 0 && delay <= 5000, `retry ${retry} draw ${draw}: ${delay}`);
			}
		}
	});

	it('gives the exact delay without jitter', () => {
		assert.equal(backoffDelay(policy({ jitter: false }), 2), 600);
	});

	it('uses Math.random by default', () => {
		const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(policy(), 5)));
		assert.ok(delays.size > 1);
	});
});

describe('parses Retry-After', () => {
	const now = Date.UTC(2026, 10, 25, 12, 0, 0);
	const parse = (headers: Record<string, string>) => parseRetryAfter(new Headers(headers), now);

	it('reads delay-seconds', () => assert.equal(parse({ 'retry-after': '120' }), 120_000));
	it('reads an IMF-fixdate', () => assert.equal(parse({ 'retry-after': 'Wed, 25 Nov 2026 12:00:30 GMT' }), 30_000));
	it('reads a past date as 0', () => assert.equal(parse({ 'retry-after': 'Wed, 25 Nov 2026 11:00:00 GMT' }), 0));
	it('reads the obsolete RFC 850 form', () => assert.equal(parse({ 'retry-after': 'Wednesday, 25-Nov-26 12:00:30 GMT' }), 30_000));
	it('reads the obsolete asctime form, day padded with a space', () => {
		assert.equal(parse({ 'retry-after': 'Wed Nov 25 12:01:00 2026' }), 60_000);
		assert.equal(parseRetryAfter(new Headers({ 'retry-after': 'Tue Dec  1 12:00:00 2026' }), Date.UTC(2026, 11, 1, 11, 59, 0)), 60_000);
	});
	it('puts an RFC 850 two-digit year more than 50 years ahead in the past century', () => {
		assert.equal(parse({ 'retry-after': 'Sunday, 06-Nov-94 08:49:37 GMT' }), 0);
	});
	it('reads retry-after-ms first, rounding up', () => assert.equal(parse({ 'retry-after-ms': '12.2', 'retry-after': '9' }), 13));
	it('ignores a bad retry-after-ms and reads Retry-After', () => assert.equal(parse({ 'retry-after-ms': 'x', 'retry-after': '2' }), 2000));
	for (const value of [
		'-5',
		'1.5',
		'soon',
		'',
		'Wed, 31 Feb 2026 12:00:00 GMT',
		'Wed, 25 Nov 2026 25:00:00 GMT',
		'2026-11-25T12:00:30Z',
		'Wed, 25 Foo 2026 12:00:30 GMT',
		'Wednesday, 25-Nov-2026 12:00:30 GMT',
		'Wed Nov 25 12:01:00 26',
	]) {
		it(`treats ${JSON.stringify(value)} as absent`, () => assert.equal(parse({ 'retry-after': value }), undefined));
	}
	it('is absent without the headers', () => assert.equal(parse({}), undefined));
});

describe('decides in one ordered function', () => {
	it('retries a transient status with backoff', () => {
		assert.deepEqual(decide(policy({ jitter: false }), attempt()), { retry: true, delayMs: 300 });
	});

	it('stops on a permanent status before anything else', () => {
		assert.deepEqual(decide(policy(), attempt({ outcome: 404, retry: 99, method: 'POST' })), { retry: false, reason: 'permanent' });
	});

	it('stops past the limit with a retry time', () => {
		assert.deepEqual(decide(policy({ jitter: false }), attempt({ retry: 3 })), { retry: false, reason: 'limit', retryAt: 1_001_200 });
	});

	it('stops for POST without a key and retries it with one', () => {
		assert.equal(decide(policy(), attempt({ method: 'POST' })).retry, false);
		assert.equal(decide(policy(), attempt({ method: 'POST', hasIdempotencyKey: true })).retry, true);
	});

	it('takes the server wait over backoff, and stops when it exceeds the cap', () => {
		const headers = new Headers({ 'retry-after': '2' });
		assert.deepEqual(decide(policy(), attempt({ headers })), { retry: true, delayMs: 2000 });
		assert.deepEqual(decide(policy({ maxDelayMs: 1000 }), attempt({ headers })), {
			retry: false,
			reason: 'wait-over-cap',
			retryAt: 1_002_000,
		});
	});

	it('stops unless the wait leaves the retry at least minAttemptMs before the deadline', () => {
		assert.equal(decide(policy({ jitter: false }), attempt({ remainingMs: 300 + minAttemptMs - 1 })).retry, false);
		assert.equal(decide(policy({ jitter: false }), attempt({ remainingMs: 300 + minAttemptMs })).retry, true);
	});

	it('retries network failures and timeouts, unless timeouts are off', () => {
		assert.equal(decide(policy(), attempt({ outcome: 'network' })).retry, true);
		assert.equal(decide(policy(), attempt({ outcome: 'timeout' })).retry, true);
		assert.deepEqual(decide(policy({ retryOnTimeout: false, jitter: false }), attempt({ outcome: 'timeout' })), {
			retry: false,
			reason: 'timeout-not-retried',
			retryAt: 1_000_300,
		});
	});

	it('classifies the documented table: retry 408 429 500 502 503 504, fail fast on every other status', () => {
		const retried = [];
		for (let status = 100; status <= 599; status++) {
			if (decide(policy(), attempt({ outcome: status })).retry) {
				retried.push(status);
			}
		}
		assert.deepEqual(retried, [408, 429, 500, 502, 503, 504]);
	});
});
