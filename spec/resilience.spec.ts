import assert from 'node:assert/strict';
import ky from 'ky';
import { type BreakerEvent, CircuitBreaker } from '../src/breaker.ts';
import { RetryBudget } from '../src/budget.ts';
import { CircuitOpenError, type ClientOptions, createClient, createFetch, isCircuitOpenError, isSteadfetchError } from '../src/index.ts';
import { clockedClient, FakeClock } from './support/clocked.ts';
import { withLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5 };
const failure = (promise: Promise<unknown>) =>
	promise.then(
		() => assert.fail('expected the call to fail'),
		(error: unknown) => error,
	);

describe('RetryBudget', () => {
	it('starts full, spends one token per retry and refuses at zero', () => {
		const budget = new RetryBudget({ capacity: 3, ratio: 0.5 });
		assert.deepEqual([budget.spend(), budget.spend(), budget.spend(), budget.spend()], [true, true, true, false]);
	});

	it('earns ratio tokens per success, never beyond capacity', () => {
		const budget = new RetryBudget({ capacity: 2, ratio: 0.5 });
		budget.spend();
		budget.spend();
		budget.earn();
		assert.equal(budget.spend(), false, 'half a token is not a retry');
		budget.earn();
		assert.equal(budget.spend(), true);
		for (let index = 0; index < 100; index++) {
			budget.earn();
		}
		assert.deepEqual(budget.toJSON(), { tokens: 2, capacity: 2, ratio: 0.5 });
	});
});

describe('CircuitBreaker', () => {
	const breaker = (events: BreakerEvent[] = []) =>
		new CircuitBreaker('https://a.test', { failureThreshold: 3, openMs: 1000, onStateChange: (event) => events.push(event) });

	it('opens after failureThreshold failures in a row and refuses until openMs has passed', () => {
		const events: BreakerEvent[] = [];
		const circuit = breaker(events);
		circuit.failure(0);
		circuit.failure(1);
		assert.equal(circuit.state, 'closed');
		circuit.failure(2);
		assert.equal(circuit.state, 'open');
		assert.deepEqual(circuit.admit(500), { admitted: false, retryAt: 1002 });
		assert.deepEqual(
			events.map(({ from, to }) => `${from}->${to}`),
			['closed->open'],
		);
		assert.equal(events[0]?.retryAt?.getTime(), 1002);
	});

	it('resets the count on any success', () => {
		const circuit = breaker();
		circuit.failure(0);
		circuit.failure(0);
		circuit.success();
		circuit.failure(0);
		circuit.failure(0);
		assert.equal(circuit.state, 'closed');
	});

	it('lets one probe through when half-open; its success closes the circuit', () => {
		const events: BreakerEvent[] = [];
		const circuit = breaker(events);
		for (const now of [0, 0, 0]) {
			circuit.failure(now);
		}
		assert.deepEqual(circuit.admit(1000), { admitted: true });
		assert.equal(circuit.state, 'half-open');
		assert.equal(circuit.admit(1001).admitted, false, 'only one probe at a time');
		circuit.success();
		assert.equal(circuit.state, 'closed');
		assert.deepEqual(
			events.map(({ to }) => to),
			['open', 'half-open', 'closed'],
		);
	});

	it('reopens when the probe fails', () => {
		const circuit = breaker();
		for (const now of [0, 0, 0]) {
			circuit.failure(now);
		}
		circuit.admit(1000);
		circuit.failure(1000);
		assert.equal(circuit.state, 'open');
		assert.deepEqual(circuit.admit(1500), { admitted: false, retryAt: 2000 });
	});

	it('lets another probe through when one never reports back (its caller aborted)', () => {
		const circuit = breaker();
		for (const now of [0, 0, 0]) {
			circuit.failure(now);
		}
		assert.equal(circuit.admit(1000).admitted, true);
		assert.equal(circuit.admit(1999).admitted, false);
		assert.equal(circuit.admit(2000).admitted, true);
	});

	it('serializes its state', () => {
		const circuit = breaker();
		assert.deepEqual(circuit.toJSON(), { origin: 'https://a.test', state: 'closed', failures: 0 });
	});
});

describe('withholds retries when an origin fails broadly (retry budget)', () => {
	it('sends at most 1.1x the logical requests under a total outage, where plain ky sends 3x', async () => {
		const calls = 200;
		const seen = serve('GET', '/v1/outage', times(800, { status: 500 }));
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast, breaker: false });
		for (let call = 0; call < calls; call++) {
			await failure(api.get('outage'));
		}
		assert.ok(seen.count <= calls * 1.1, `${seen.count} requests for ${calls} calls`);
		assert.equal(seen.count, calls + 20, 'the twenty retries the full bucket starts with, then none');

		const plain = serve('GET', '/v1/plain', times(800, { status: 500 }));
		for (let call = 0; call < calls; call++) {
			await failure(ky.get(`${origin}/v1/plain`, { retry: { limit: 2, delay: () => 1 } }));
		}
		assert.equal(plain.count, calls * 3);
	});

	it('says the retries were withheld, with the advice for a broad failure', async () => {
		serve('GET', '/v1/x', times(20, { status: 503 }));
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast, breaker: false, budget: { capacity: 1 } });
		await failure(api.get('x'));
		const error = await failure(api.get('x'));
		assert.ok(isSteadfetchError(error));
		assert.equal(error.stopReason, 'budget');
		assert.equal(error.retryable, true);
		assert.equal(error.attempts, 1);
		assert.match(error.advice.cause, /retry budget for it is spent/);
		assert.match(error.message, /Not retried: the retry budget for this origin is spent\. Retry after /);
	});

	it('refills from successes', async () => {
		const seen = serve('GET', '/v1/x', [
			{ status: 500 },
			{ status: 500 },
			{ status: 200 },
			{ status: 200 },
			{ status: 500 },
			{ status: 200 },
		]);
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast, breaker: false, budget: { capacity: 1, ratio: 0.5 } });
		await failure(api.get('x')); // 500, retry (spends the token), 500: out of tokens
		await api.get('x'); // 200: +0.5
		await api.get('x'); // 200: +0.5 = 1 token
		await api.get('x'); // 500, retried with the earned token, 200
		assert.equal(seen.count, 6);
	});

	it('keeps one budget per origin', async () => {
		const a = serve('GET', '/a', times(10, { status: 500 }));
		const api = createClient({ retry: fast, breaker: false, budget: { capacity: 1 } });
		await failure(api.get(`${origin}/a`));
		await withLoopback(times(10, { status: 500 }), async (server) => {
			await failure(api.get(`${server.url}/b`));
			assert.equal(server.count, 2, 'the other origin still has its token');
		});
		assert.equal(a.count, 2);
	});

	it('retries as configured with budget: false', async () => {
		const seen = serve('GET', '/v1/x', times(40, { status: 500 }));
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast, breaker: false, budget: false });
		for (let call = 0; call < 10; call++) {
			await failure(api.get('x'));
		}
		assert.equal(seen.count, 30);
	});
});

describe('fails fast while an origin is down (circuit breaker)', () => {
	const options = (events: BreakerEvent[]): ClientOptions => ({
		baseUrl: `${origin}/v1/`,
		retry: { ...fast, limit: 0 },
		budget: false,
		breaker: { failureThreshold: 3, openMs: 80, onStateChange: (event) => events.push(event) },
	});

	it('opens after failureThreshold failures in a row: later calls fail at once without a request', async () => {
		const events: BreakerEvent[] = [];
		const seen = serve('GET', '/v1/x', times(10, { status: 502 }));
		const clock = new FakeClock();
		const api = clockedClient(options(events), clock);
		for (let call = 0; call < 3; call++) {
			await failure(api.get('x'));
		}
		const opened = clock.now();
		clock.advance(79);
		const error = await failure(api.get('x'));
		assert.ok(error instanceof CircuitOpenError);
		assert.ok(isCircuitOpenError(error));
		assert.equal(error.name, 'CircuitOpenError');
		assert.equal(error.retryable, true);
		assert.equal(error.retryAt?.getTime(), opened + 80);
		assert.match(
			error.message,
			/^Circuit Open GET https:\/\/api\.example\.test\/v1\/x: Calls to this service fail at once while it recovers\. Solution: .* Retry after /,
		);
		assert.equal(error.attempts, 0);
		assert.equal(seen.count, 3);
		assert.deepEqual(
			events.map(({ origin: where, to }) => `${where} ${to}`),
			[`${origin} open`],
		);
	});

	it('lets a probe through after openMs and closes on its success', async () => {
		const events: BreakerEvent[] = [];
		const seen = serve('GET', '/v1/x', [...times(3, { status: 500 }), { status: 200, body: { ok: true } }, { status: 200 }]);
		const clock = new FakeClock();
		const api = clockedClient(options(events), clock);
		for (let call = 0; call < 3; call++) {
			await failure(api.get('x'));
		}
		clock.advance(80);
		assert.deepEqual(await api.get('x').json(), { ok: true });
		await api.get('x');
		assert.equal(seen.count, 5);
		assert.deepEqual(
			events.map(({ to }) => to),
			['open', 'half-open', 'closed'],
		);
	});

	it('stops retrying a call once its failure opens the circuit', async () => {
		const seen = serve('GET', '/v1/x', times(10, { status: 500 }));
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: { ...fast, limit: 8 }, budget: false, breaker: { failureThreshold: 4 } });
		const error = await failure(api.get('x'));
		assert.ok(isSteadfetchError(error));
		assert.equal(error.stopReason, 'circuit-open');
		assert.match(error.advice.cause, /failed many times in a row/);
		assert.equal(seen.count, 4);
	});

	it('refuses through the drop-in fetch with a CircuitOpenError', async () => {
		const seen = serve('GET', '/x', times(10, { status: 503 }));
		const fetch = createFetch({ retry: { limit: 0 }, breaker: { failureThreshold: 2 } });
		assert.equal((await fetch(`${origin}/x`)).status, 503);
		assert.equal((await fetch(`${origin}/x`)).status, 503);
		await assert.rejects(fetch(`${origin}/x`), CircuitOpenError);
		assert.equal(seen.count, 2);
	});

	it('never opens with breaker: false', async () => {
		const seen = serve('GET', '/v1/x', times(10, { status: 500 }));
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: { limit: 0 }, budget: false, breaker: false });
		for (let call = 0; call < 8; call++) {
			await failure(api.get('x'));
		}
		assert.equal(seen.count, 8);
	});
});

describe('validates budget and breaker options', () => {
	for (const [options, pattern] of [
		[{ budget: { ratio: -1 } }, /`budget\.ratio`/],
		[{ budget: { capacity: 0 } }, /`budget\.capacity`/],
		[{ budget: true }, /`budget` to be an object or false/],
		[{ budget: { size: 3 } }, /Unknown option `budget\.size`/],
		[{ breaker: { failureThreshold: 0 } }, /`breaker\.failureThreshold` to be a positive integer/],
		[{ breaker: { openMs: Number.NaN } }, /`breaker\.openMs`/],
		[{ breaker: { onStateChange: 'log' } }, /`breaker\.onStateChange` to be a function/],
		[{ breaker: 'off' }, /`breaker` to be an object or false/],
	] as const) {
		it(`rejects ${JSON.stringify(options)}`, () => {
			assert.throws(
				() => createClient(options as ClientOptions),
				(error: unknown) => error instanceof TypeError && pattern.test(error.message),
			);
			assert.throws(() => createFetch(options as ClientOptions), TypeError);
		});
	}
});
