import assert from 'node:assert/strict';
import { Engine, type Failure } from '../src/engine/call.ts';
import { normalizeFetchOptions } from '../src/options/normalize.ts';
import type { RetryEvent } from '../src/options/options.ts';
import { FakeClock } from './support/clock.ts';

const url = 'https://api.example.test/x';
const failure = (status: number, method = 'GET'): Failure => ({
	outcome: status,
	method,
	hasIdempotencyKey: false,
	request: () => new Request(url, { method }),
	response: new Response(null, { status }),
});
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
const engine = (options: object = {}, clock = new FakeClock()) =>
	new Engine(
		normalizeFetchOptions({ retry: { baseDelayMs: 100, jitter: false }, budget: false, breaker: false, ...options }),
		clock,
		'fetch',
	);

describe('the attempt engine', () => {
	it('records each attempt once, with its status and duration, and the wait before the next', () => {
		const clock = new FakeClock();
		const call = engine({}, clock).call();
		const first = call.begin(url, () => new Request(url));
		clock.advance(7);
		assert.deepEqual(call.judge(failure(500)), { retry: true, delayMs: 100 });
		call.settle(first, 200);
		const second = call.begin(url, () => new Request(url));
		call.settle(second, 200);
		assert.deepEqual(call.tally.history, [
			{ attempt: 1, status: 500, durationMs: 7, delayMs: 100 },
			{ attempt: 2, status: 200, durationMs: 0 },
		]);
	});

	it('takes back the announced wait when the call ends before the attempt it was for', () => {
		const call = engine().call();
		call.begin(url, () => new Request(url));
		assert.equal(call.judge(failure(503)).retry, true);
		assert.equal(call.tally.history[0]?.delayMs, 100);
		call.end(new DOMException('The caller stopped.', 'AbortError'));
		assert.deepEqual(call.tally.history, [{ attempt: 1, status: 503, durationMs: 0 }]);
	});

	it('stops a retry that would start less than minAttemptMs before the deadline', () => {
		const clock = new FakeClock();
		const call = engine({}, clock).call({ deadline: clock.monotonic() + 109 });
		call.begin(url, () => new Request(url));
		assert.deepEqual(call.judge(failure(500)), { retry: false, reason: 'deadline', retryAt: clock.now() + 100 });
		assert.equal(call.tally.history[0]?.delayMs, undefined);
	});

	it('tells onRetry before the wait, with the attempt about to be made', () => {
		const events: RetryEvent[] = [];
		const call = engine({ onRetry: (event: RetryEvent) => events.push(event) }).call();
		call.begin(url, () => new Request(url));
		call.judge(failure(502));
		assert.deepEqual(
			events.map(({ attempt, maxAttempts, delayMs, error }) => [attempt, maxAttempts, delayMs, error.status]),
			[[2, 3, 100, 502]],
		);
	});

	it('keeps the first 10 and the last 40 records of a long history, counting those left out', () => {
		const call = engine({ retry: { limit: 200, baseDelayMs: 0 } }).call();
		for (let attempt = 1; attempt <= 100; attempt++) {
			call.begin(url, () => new Request(url));
			call.judge(failure(503));
		}
		const numbers = call.tally.history.map((record) => record.attempt);
		assert.deepEqual(numbers, [...range(1, 10), ...range(61, 100)]);
		assert.equal(call.tally.omitted, 50);
		assert.equal(call.tally.attempts, 100);
		const error = call.giveUp(failure(503), { retry: false, reason: 'limit' });
		assert.equal(error.history.length, 50);
		assert.equal(error.historyOmitted, 50);
		assert.equal(error.attempts, 100);
		assert.equal(error.toJSON().historyOmitted, 50);
	});

	it('leaves historyOmitted out of toJSON when nothing was left out', () => {
		const call = engine().call();
		call.begin(url, () => new Request(url));
		call.judge(failure(404));
		const error = call.giveUp(failure(404), { retry: false, reason: 'permanent' });
		assert.equal(error.historyOmitted, 0);
		assert.equal('historyOmitted' in error.toJSON(), false);
	});

	it('refuses without counting an attempt while the origin is open, and tells onGiveUp', () => {
		const given: Error[] = [];
		const clock = new FakeClock();
		const shared = engine(
			{ breaker: { failureThreshold: 1, failureWindowMs: 0, openMs: 100 }, onGiveUp: (error: Error) => given.push(error) },
			clock,
		);
		const first = shared.call();
		first.begin(url, () => new Request(url));
		first.judge(failure(500));
		const second = shared.call();
		assert.throws(() => second.begin(url, () => new Request(url)), { name: 'CircuitOpenError', stopReason: 'circuit-open' });
		assert.equal(second.attempts, 0);
		assert.deepEqual(
			given.map(({ name }) => name),
			['CircuitOpenError'],
		);
	});
});
