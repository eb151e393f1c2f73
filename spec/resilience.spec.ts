import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import ky from 'ky';
import { CircuitBreaker } from '../src/engine/guards/breaker.ts';
import { RetryBudget } from '../src/engine/guards/budget.ts';
import {
	CircuitOpenError,
	type ClientOptions,
	createClient,
	createFetch,
	type FetchOptions,
	isCircuitOpenError,
	isRefusal,
	isSteadfetchError,
} from '../src/index.ts';
import { defaults } from '../src/options/defaults.ts';
import type { BreakerEvent } from '../src/options/guards.ts';
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
		new CircuitBreaker('https://a.test', {
			failureThreshold: 3,
			failureWindowMs: 0,
			openMs: 1000,
			onStateChange: (event) => events.push(event),
		});

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

	it('stays open until openMs after the failed request was sent: late timeouts let the next call through as the probe', () => {
		const events: BreakerEvent[] = [];
		const circuit = breaker(events);
		// Requests sent at 0, 1 and 2 ms time out 5 s later, when the API may be back already: openMs has long passed.
		circuit.failure(5000, 0);
		circuit.failure(5001, 1);
		circuit.failure(5002, 2);
		assert.equal(circuit.state, 'open');
		assert.deepEqual(circuit.admit(5002), { admitted: true }, 'the next call is the probe, at once');
		assert.equal(circuit.admit(5003).admitted, false, 'only one probe at a time');
		circuit.success();
		assert.deepEqual(
			events.map(({ to }) => to),
			['open', 'half-open', 'closed'],
		);
		// Failures answered at once open it for the whole openMs, as before.
		const prompt = breaker();
		for (const now of [6000, 6000, 6000]) {
			prompt.failure(now, now);
		}
		assert.deepEqual(prompt.admit(6999), { admitted: false, retryAt: 7000 });
	});

	it('serializes its state', () => {
		const circuit = breaker();
		assert.deepEqual(circuit.toJSON(), { origin: 'https://a.test', state: 'closed', failures: 0 });
	});
});

describe('opens on an outage, not on bad luck (breaker defaults)', () => {
	const settings = { ...defaults.client.breaker, onStateChange: undefined };
	// A seeded plan of attempts every `everyMs`, each failing with probability `failureRate`; the breaker's admission and
	// reports as the engine makes them. Returns the attempts admitted in [from, to) and the calls made then.
	const simulate = (
		plan: { everyMs: number; untilMs: number; failureRate: (now: number) => number },
		windowMs = settings.failureWindowMs,
	) => {
		const clock = new FakeClock();
		const breaker = new CircuitBreaker('https://a.test', { ...settings, failureWindowMs: windowMs });
		const admitted: number[] = [];
		let opened = 0;
		for (let now = 0; now < plan.untilMs; now += plan.everyMs) {
			if (!breaker.admit(now).admitted) {
				continue;
			}
			admitted.push(now);
			const before = breaker.state;
			if (clock.random() < plan.failureRate(now)) {
				breaker.failure(now + 1);
			} else {
				breaker.success();
			}
			opened += before !== 'open' && breaker.state === 'open' ? 1 : 0;
		}
		const between = (from: number, to: number) => ({
			requests: admitted.filter((time) => time >= from && time < to).length,
			calls: Math.ceil((to - from) / plan.everyMs),
		});
		return { opened, between };
	};

	it('stays closed through a streak of failures shorter than failureWindowMs, however many', () => {
		const breaker = new CircuitBreaker('https://a.test', settings);
		for (let now = 0; now < 1000; now++) {
			breaker.failure(now);
		}
		assert.equal(breaker.state, 'closed', 'a thousand failures within 999 ms');
		breaker.failure(1000);
		assert.equal(breaker.state, 'open');
	});

	it('starts the window over on any success', () => {
		const breaker = new CircuitBreaker('https://a.test', settings);
		for (let now = 0; now < 900; now += 10) {
			breaker.failure(now);
		}
		breaker.success();
		for (let now = 900; now < 1800; now += 10) {
			breaker.failure(now);
		}
		assert.equal(breaker.state, 'closed');
	});

	it('never opens at 200 attempts a second with half of them failing at random for a minute (seeded)', () => {
		assert.equal(simulate({ everyMs: 5, untilMs: 60_000, failureRate: () => 0.5 }).opened, 0);
		// The same plan against a breaker that counts failures alone: it opens and refuses good calls again and again.
		assert.ok(simulate({ everyMs: 5, untilMs: 60_000, failureRate: () => 0.5 }, 0).opened >= 5);
	});

	it('sheds a sustained outage to one probe per openMs after its first second: at most 0.1 requests per call at 200 calls/s', () => {
		const { between } = simulate({ everyMs: 5, untilMs: 6000, failureRate: () => 1 });
		const { requests, calls } = between(1100, 6000);
		assert.ok(requests / calls <= 0.1, `${requests} requests for ${calls} calls`);
		assert.ok(requests >= 40, 'a probe about every openMs');
	});

	it('closes with the first probe after the API recovers: within openMs, at 20 calls/s as at 500', () => {
		for (const everyMs of [50, 2]) {
			const { between } = simulate({ everyMs, untilMs: 4000, failureRate: (now) => (now < 1500 ? 1 : 0) });
			const first = between(1500, 1500 + settings.openMs);
			const after = between(1500 + settings.openMs, 4000);
			assert.ok(first.requests >= 1, `a probe within openMs at one call every ${everyMs} ms`);
			assert.equal(after.requests, after.calls, `every call admitted once it closed, at one call every ${everyMs} ms`);
		}
	});

	it('lets a client recover within openMs of its API (defaults, fake clock, loopback API)', async () => {
		let healthy = false;
		let seen = 0;
		const server = createServer((_request, response) => {
			seen++;
			response.writeHead(healthy ? 200 : 500).end('{}');
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		try {
			const clock = new FakeClock();
			const api = clockedClient(
				{ prefix: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, retry: { limit: 0 }, budget: false },
				clock,
			);
			const outcomes: string[] = [];
			// One call every 50 ms: 1.5 s of outage, then 1 s of a healthy API.
			for (let call = 0; call < 50; call++) {
				healthy = call >= 30;
				const error = await api.get('x').then(
					() => undefined,
					(caught: unknown) => caught as Error,
				);
				outcomes.push(error ? error.name : 'ok');
				clock.advance(50);
			}
			const refusedDuring = outcomes.slice(0, 30).filter((name) => name === 'CircuitOpenError').length;
			assert.ok(refusedDuring >= 5, 'open after a second of failures');
			const refusedAfter = outcomes.slice(30).filter((name) => name !== 'ok').length;
			// One call every 50 ms, one probe every openMs (100): at most the one call before the next probe is refused.
			assert.ok(refusedAfter <= 1, `${refusedAfter} calls refused after the API recovered`);
			assert.equal(
				outcomes.slice(30 + refusedAfter).every((name) => name === 'ok'),
				true,
			);
			assert.equal(seen, 50 - refusedDuring - refusedAfter);
		} finally {
			server.closeAllConnections();
			await new Promise((resolve) => server.close(resolve));
		}
	});
});

describe('withholds retries when an origin fails broadly (retry budget)', () => {
	it('sends at most 1.1x the logical requests under a total outage, where plain ky sends 3x', async function () {
		// 400 calls one after another through nock: about 3 s alone, over 10 s on a machine busy with other work.
		this.timeout(60_000);
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
		assert.match(error.message, /Not retried: the retry budget for this endpoint is spent\. Retry after /);
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
		breaker: { failureThreshold: 3, failureWindowMs: 0, openMs: 80, onStateChange: (event) => events.push(event) },
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

	it('lets the next call through as the probe when the timeout that opens the circuit is older than openMs (fake clock)', async () => {
		const events: BreakerEvent[] = [];
		const clock = new FakeClock();
		const sent: number[] = [];
		// The first request hangs until its attempt's timeout aborts it (1000 ms on the spec's clock, 20 real ms); the API
		// answers the next at once.
		const fetch = async (_input: unknown, init?: RequestInit): Promise<Response> => {
			sent.push(clock.now());
			if (sent.length === 1) {
				return new Promise((_resolve, reject) => {
					init?.signal?.addEventListener('abort', () => {
						clock.advance(1000);
						reject(init.signal?.reason);
					});
				});
			}
			return new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } });
		};
		const api = clockedClient(
			{
				...options(events),
				breaker: { failureThreshold: 1, failureWindowMs: 0, openMs: 80, onStateChange: (event) => events.push(event) },
				timeout: 20,
				fetch,
			},
			clock,
		);
		const timedOut = await failure(api.get('x'));
		assert.equal((timedOut as Error).name, 'TimeoutError');
		assert.deepEqual(await api.get('x').json(), { ok: true });
		assert.equal(sent.length, 2);
		assert.deepEqual(
			events.map(({ to }) => to),
			['open', 'half-open', 'closed'],
		);
	});

	it('stops retrying a call once its failure opens the circuit', async () => {
		const seen = serve('GET', '/v1/x', times(10, { status: 500 }));
		const api = createClient({
			baseUrl: `${origin}/v1/`,
			retry: { ...fast, limit: 8 },
			budget: false,
			breaker: { failureThreshold: 4, failureWindowMs: 0 },
		});
		const error = await failure(api.get('x'));
		assert.ok(isSteadfetchError(error));
		assert.equal(error.stopReason, 'circuit-open');
		assert.match(error.advice.cause, /failed many times in a row for a while/);
		assert.equal(seen.count, 4);
	});

	it('refuses through the drop-in fetch with a local 503 marked as a refusal, and with a CircuitOpenError where 503 throws', async () => {
		const seen = serve('GET', '/x', times(10, { status: 503 }));
		const fetch = createFetch({ retry: { limit: 0 }, breaker: { failureThreshold: 2, failureWindowMs: 0, openMs: 60_000 } });
		assert.equal((await fetch(`${origin}/x`)).status, 503);
		assert.equal((await fetch(`${origin}/x`)).status, 503);
		const refused = await fetch(`${origin}/x`);
		assert.equal(refused.status, 503);
		assert.equal(isRefusal(refused), true);
		assert.equal(refused.headers.get('x-steadfetch-refused'), 'circuit-open');
		assert.equal(refused.headers.get('retry-after'), '60');
		assert.equal(((await refused.json()) as { error: { type: string } }).error.type, 'steadfetch_refused');
		assert.equal(seen.count, 2);
		const throwing = createFetch({ retry: { limit: 0 }, throwHttpErrors: true, breaker: { failureThreshold: 2, failureWindowMs: 0 } });
		const more = serve('GET', '/y', times(2, { status: 503 }));
		await assert.rejects(throwing(`${origin}/y`));
		await assert.rejects(throwing(`${origin}/y`));
		await assert.rejects(throwing(`${origin}/y`), CircuitOpenError);
		assert.equal(more.count, 2);
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
			assert.throws(() => createFetch(options as FetchOptions), TypeError);
		});
	}
});
