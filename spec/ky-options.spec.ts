import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import ky, { HTTPError, isHTTPError, type Options as KyOptions } from 'ky';
import { backoffDelay, decide, type FailedAttempt } from '../src/engine/policy.ts';
import { type ClientOptions, createClient, isSteadfetchError, type RetryOptions, type SteadfetchError } from '../src/index.ts';
import { normalizeClientOptions } from '../src/options/normalize.ts';
import { runJob } from '../src/surfaces/job.ts';
import { clockedClient, clockedFetch, FakeClock } from './support/clocked.ts';
import { type LoopbackReply, withLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

/*
ky's retry options keep ky's meaning in steadfetch (docs/retries.md, "ky's retry options"). The first part runs the
examples of the retry section of ky's readme (node_modules/ky/readme.md, "retry") through ky itself and through
createClient, with the same `retry` object, against the same script on a loopback server, and asserts the same number of
requests. The rest pins each option's rule on a fake clock.

Where the two differ by default, the example's scenario stays clear of it or the steadfetch side is aligned, each said
where it happens:
- methods: ky retries TRACE and QUERY too; every scenario here is a GET, which both retry.
- statusCodes: ky retries 413 too (only with a Retry-After); no scenario answers 413.
- jitter: ky's is off by default, ours full; it changes waits, not counts (the jitter functions are compared by what they
  are handed).
- retryOnTimeout: ky's is false, ours true; the timeout example sets it, and "differs from ky only where documented" pins
  the difference.
- Retry-After: ky reads it on 413, 429 and 503 only (afterStatusCodes), ours on every retried status; scenarios with a
  Retry-After use 429 or 503, or set afterStatusCodes on both.
- the retry budget, the circuit breaker and pacing are steadfetch's alone: turned off on our side, as ky has none.
*/

const kyVersion: string = JSON.parse(readFileSync(new URL('../node_modules/ky/package.json', import.meta.url), 'utf8')).version;

/** Waits scaled down: ky's examples wait 300 ms, then 600, 1200...; the cap is one of ky's options under test. */
const fast = { backoffLimit: 3 } as const;
/** What ky does not have: off, so that only the retry options decide. */
const kyAlike = { budget: false, breaker: false, rateLimit: false } as const;

type Ending = 'ok' | number | string;
const ending = async (promise: Promise<unknown>): Promise<Ending> => {
	try {
		await promise;
		return 'ok';
	} catch (error) {
		return isHTTPError(error) ? error.response.status : (error as Error).name;
	}
};

/** The requests each made, and how each ended, for the same script and the same options. */
async function both(
	replies: readonly LoopbackReply[],
	options: KyOptions,
	withKy = true,
): Promise<{ ky: [number, Ending]; steadfetch: [number, Ending] }> {
	const result = { ky: [0, 'ok'] as [number, Ending], steadfetch: [0, 'ok'] as [number, Ending] };
	if (withKy) {
		await withLoopback(replies, async (server) => {
			const end = await ending(ky.get(`${server.url}/items`, options));
			result.ky = [server.count, end];
		});
	}
	await withLoopback(replies, async (server) => {
		// The same object: ky's types allow a Promise from shouldRetry and ours do not, so no example object is both at once.
		const client = createClient({ ...kyAlike, ...(options as ClientOptions) });
		const end = await ending(client.get(`${server.url}/items`));
		result.steadfetch = [server.count, end];
	});
	return result;
}

const ok: LoopbackReply = { status: 200, body: '{"ok":true}' };
// ky's timeout is a real timer, which no clock of ours can drive (ky is compared as it is): an answer that does not come
// while the spec runs (the server clears its timer when it closes) leaves the timeout no race to lose on a busy machine.
const silent: LoopbackReply = { status: 200, delayMs: 600_000 };
const status = (code: number, headers: Record<string, string> = {}): LoopbackReply => ({ status: code, headers });

describe("runs the retry examples of ky's readme through ky and createClient alike", () => {
	// ky's "General example": limit 10, GET only, 500 only, backoffLimit 3000 (3 here).
	const general: KyOptions = { retry: { limit: 10, methods: ['get'], statusCodes: [500], ...fast } };

	it('general example: sends 5 requests for four 500s and a 200, through both', async () => {
		const { ky, steadfetch } = await both([...times(4, status(500)), ok], general);
		assert.deepEqual(ky, [5, 'ok']);
		assert.deepEqual(steadfetch, ky);
	});

	it('general example: sends 1 request for a 503, a status outside statusCodes, through both', async () => {
		const { ky, steadfetch } = await both([status(503), ok], general);
		assert.deepEqual(ky, [1, 503]);
		assert.deepEqual(steadfetch, ky);
	});

	it('general example: sends limit + 1 = 11 requests for 500s only, through both', async () => {
		const { ky, steadfetch } = await both(times(11, status(500)), general);
		assert.deepEqual(ky, [11, 500]);
		assert.deepEqual(steadfetch, ky);
	});

	// ky's "Retrying on timeout": timeout 5000 (100 here), limit 3, retryOnTimeout true.
	it('timeout example: sends limit + 1 = 4 requests that all time out, then times out, through both', async () => {
		const { ky, steadfetch } = await both(times(4, silent), { timeout: 100, retry: { limit: 3, retryOnTimeout: true, ...fast } });
		assert.deepEqual(ky, [4, 'TimeoutError']);
		assert.deepEqual(steadfetch, ky);
	});

	it('timeout example: sends 3 requests for two timeouts and a prompt 200, through both', async () => {
		// The prompt 200 must beat the timeout even on a machine busy with other work: a wide margin on both sides.
		const slow: LoopbackReply = { status: 200, delayMs: 2000 };
		const { ky, steadfetch } = await both([slow, slow, ok], { timeout: 500, retry: { limit: 3, retryOnTimeout: true, ...fast } });
		assert.deepEqual(ky, [3, 'ok']);
		assert.deepEqual(steadfetch, ky);
	});

	// ky's "Using jitter to prevent thundering herd": limit 5 and full jitter, or one of the two jitter functions.
	it('jitter example, full jitter: sends 6 requests for five 503s and a 200, through both', async () => {
		const { ky, steadfetch } = await both([...times(5, status(503)), ok], { retry: { limit: 5, jitter: true, ...fast } });
		assert.deepEqual(ky, [6, 'ok']);
		assert.deepEqual(steadfetch, ky);
	});

	for (const [name, jitter] of [
		['percentage jitter (80-120% of delay)', (delay: number) => delay * (0.8 + Math.random() * 0.4)],
		['absolute jitter (±100ms)', (delay: number) => delay + (Math.random() * 200 - 100)],
	] as const) {
		it(`jitter example, ${name}: sends 6 requests, and hands the function the same delays, through both`, async () => {
			const handed = { ky: [] as number[], steadfetch: [] as number[] };
			let side: keyof typeof handed = 'ky';
			const recorded = (delay: number): number => {
				handed[side].push(delay);
				return jitter(delay);
			};
			const replies = [...times(5, status(503)), ok];
			await withLoopback(replies, async (server) => {
				await ky.get(`${server.url}/items`, { retry: { limit: 5, jitter: recorded, ...fast } });
				assert.equal(server.count, 6);
			});
			side = 'steadfetch';
			await withLoopback(replies, async (server) => {
				await createClient({ ...kyAlike, retry: { limit: 5, jitter: recorded, ...fast } }).get(`${server.url}/items`);
				assert.equal(server.count, 6);
			});
			// ky's default delay and ours are the same: 300 ms doubling, handed over before the cap.
			assert.deepEqual(handed.ky, [300, 600, 1200, 2400, 4800]);
			assert.deepEqual(handed.steadfetch, handed.ky);
		});
	}

	// ky's "Custom retry logic": limit 3; 429 forced for the first two retries, other 4xx refused, the rest by default.
	const custom: KyOptions = {
		retry: {
			limit: 3,
			...fast,
			shouldRetry: ({ error, retryCount }) => {
				if (error instanceof HTTPError) {
					const { status } = error.response;
					if (status === 429 && retryCount <= 2) {
						return true;
					}
					if (status >= 400 && status < 500) {
						return false;
					}
				}
				return undefined;
			},
		},
	};

	it('custom retry logic: sends 3 requests for 429s, forced twice then refused, through both', async () => {
		const { ky, steadfetch } = await both(times(4, status(429)), custom);
		assert.deepEqual(ky, [3, 429]);
		assert.deepEqual(steadfetch, ky);
	});

	// ky 2.2 changed what `true` means here: it now waits the Retry-After of a status in afterStatusCodes (its readme,
	// "retry"). steadfetch keeps 2.1's meaning (docs/retries.md): ky runs beside it where ky's meaning is the same.
	it("custom retry logic: a forced retry ignores the 429's Retry-After of an hour (ky 2.1 alike)", async () => {
		const { ky, steadfetch } = await both([status(429, { 'retry-after': '3600' }), ok], custom, kyVersion.startsWith('2.1.'));
		assert.deepEqual(steadfetch, [2, 'ok']);
		if (kyVersion.startsWith('2.1.')) {
			assert.deepEqual(ky, steadfetch);
		}
	});

	it('custom retry logic: sends 1 request for a 404, refused, through both', async () => {
		const { ky, steadfetch } = await both([status(404), ok], custom);
		assert.deepEqual(ky, [1, 404]);
		assert.deepEqual(steadfetch, ky);
	});

	it('custom retry logic: leaves 500s and connection resets to the default rules, through both', async () => {
		const { ky, steadfetch } = await both([status(500), { reset: true }, status(503), ok], custom);
		assert.deepEqual(ky, [4, 'ok']);
		assert.deepEqual(steadfetch, ky);
	});

	it('custom retry logic: stops at the limit even when it would force, through both', async () => {
		const always = { retry: { limit: 1, ...fast, shouldRetry: () => true } };
		const { ky, steadfetch } = await both(times(3, status(404)), always);
		assert.deepEqual(ky, [2, 404]);
		assert.deepEqual(steadfetch, ky);
	});

	// The options the section describes in prose: delay, maxRetryAfter, afterStatusCodes.
	it('delay: hands the function attemptCount 1, 2, 3 and sends 4 requests, through both', async () => {
		const counts = { ky: [] as number[], steadfetch: [] as number[] };
		let side: keyof typeof counts = 'ky';
		const delay = (attemptCount: number): number => {
			counts[side].push(attemptCount);
			return attemptCount;
		};
		const replies = [...times(3, status(500)), ok];
		await withLoopback(replies, async (server) => {
			await ky.get(`${server.url}/items`, { retry: { limit: 3, delay } });
			assert.equal(server.count, 4);
		});
		side = 'steadfetch';
		await withLoopback(replies, async (server) => {
			await createClient({ ...kyAlike, retry: { limit: 3, delay } }).get(`${server.url}/items`);
			assert.equal(server.count, 4);
		});
		assert.deepEqual(counts.ky, [1, 2, 3]);
		assert.deepEqual(counts.steadfetch, counts.ky);
	});

	it("maxRetryAfter: clamps a 503's Retry-After of an hour to 5 ms and retries, through both", async () => {
		const { ky, steadfetch } = await both([status(503, { 'retry-after': '3600' }), ok], { retry: { maxRetryAfter: 5 } });
		assert.deepEqual(ky, [2, 'ok']);
		assert.deepEqual(steadfetch, ky);
	});

	it('afterStatusCodes: ignores the Retry-After of a 503 left out of it, and backs off instead, through both', async () => {
		const { ky, steadfetch } = await both([status(503, { 'retry-after': '3600' }), ok], { retry: { afterStatusCodes: [429], ...fast } });
		assert.deepEqual(ky, [2, 'ok']);
		assert.deepEqual(steadfetch, ky);
	});

	it('afterStatusCodes: honours the Retry-After of a 429 in it, which runs past totalTimeout: 1 request, through both', async () => {
		// Neither sends a retry that cannot start before the deadline: ky waits out the deadline, steadfetch fails at once.
		const { ky, steadfetch } = await both([status(429, { 'retry-after': '5' }), ok], {
			totalTimeout: 300,
			retry: { afterStatusCodes: [429], ...fast },
		});
		assert.equal(ky[0], 1);
		assert.equal(steadfetch[0], ky[0]);
		assert.deepEqual([ky[1], steadfetch[1]], ['TimeoutError', 429]);
	});
});

describe('differs from ky only where documented, with the same options', () => {
	it('retries a timeout by default, where ky does not (retryOnTimeout: true and false)', async () => {
		const { ky, steadfetch } = await both(times(3, silent), { timeout: 100, retry: { ...fast } });
		assert.deepEqual(ky, [1, 'TimeoutError']);
		assert.deepEqual(steadfetch, [3, 'TimeoutError']);
	});

	it("honours a 500's Retry-After by default, where ky backs off (afterStatusCodes)", async () => {
		const { ky, steadfetch } = await both([status(500, { 'retry-after': '3600' }), ok], { retry: { ...fast } });
		assert.deepEqual(ky, [2, 'ok']);
		// An hour is over maxDelayMs: steadfetch fails at once with the time to come back, where ky would sleep it.
		assert.deepEqual(steadfetch, [1, 500]);
	});
});

describe("parseJson on a failing body is bounded by the attempt's timeout, as in ky", () => {
	const never = () => new Promise<never>(() => undefined);
	const failingJson: LoopbackReply = { status: 500, body: '{"error":"x"}', headers: { 'content-type': 'application/json' } };

	it('ends a call whose parseJson never settles at its timeout: one request, a 500, through both', async () => {
		const { ky, steadfetch } = await both([failingJson], { timeout: 200, retry: 0, parseJson: never });
		assert.deepEqual(ky, [1, 500]);
		assert.deepEqual(steadfetch, [1, 500]);
	});

	it('keeps the text as error.data where the parse did not finish in time (ky keeps nothing)', async () => {
		await withLoopback([failingJson], async (server) => {
			const client = createClient({ ...kyAlike, timeout: 200, retry: 0, parseJson: never });
			const error = await client.get(`${server.url}/items`).then(
				() => assert.fail('resolved'),
				(thrown: SteadfetchError) => thrown,
			);
			assert.equal(error.data, '{"error":"x"}');
			assert.equal(server.count, 1);
		});
	});

	it("ends at totalTimeout without a timeout: ky with a TimeoutError, steadfetch with the 500 that arrived (docs/retries.md, 'At totalTimeout')", async () => {
		const { ky, steadfetch } = await both([failingJson], { timeout: false, totalTimeout: 200, retry: 0, parseJson: never });
		assert.deepEqual(ky, [1, 'TimeoutError']);
		assert.deepEqual(steadfetch, [1, 500]);
	});
});

// Rules, one per option, on a fake clock: the waits are asserted as asked for.
const policy = (retry: RetryOptions = {}) => normalizeClientOptions({ retry }).policy;
const failed = (overrides: Partial<FailedAttempt> = {}): FailedAttempt => ({
	outcome: 503,
	method: 'GET',
	hasIdempotencyKey: false,
	retry: 1,
	now: 1_000_000,
	...overrides,
});
const clocked = (retry: RetryOptions, options: Partial<ClientOptions> = {}) => {
	const clock = new FakeClock();
	const given: SteadfetchError[] = [];
	const api = clockedClient({ baseUrl: `${origin}/v1/`, ...kyAlike, retry, onGiveUp: (error) => given.push(error), ...options }, clock);
	return { api, clock, given };
};

describe("backoffLimit caps the backoff, never the server's wait; maxDelayMs caps both, and the lower cap wins", () => {
	it('caps each computed delay at backoffLimit', () => {
		const capped = policy({ backoffLimit: 500, jitter: false });
		assert.deepEqual(
			[1, 2, 3, 4].map((retry) => backoffDelay(capped, retry)),
			[300, 500, 500, 500],
		);
	});

	it('caps at maxDelayMs when it is the lower', () => {
		assert.equal(backoffDelay(policy({ backoffLimit: 60_000, maxDelayMs: 1000, jitter: false }), 10), 1000);
		assert.equal(backoffDelay(policy({ backoffLimit: 200, maxDelayMs: 1000, jitter: false }), 10), 200);
	});

	it('draws full jitter from 0 to the capped delay', () => {
		assert.equal(
			backoffDelay(policy({ backoffLimit: 500 }), 5, () => 1),
			500,
		);
		assert.equal(
			backoffDelay(policy({ backoffLimit: 500 }), 5, () => 0.5),
			250,
		);
	});

	it("waits the server's 2 s under a backoffLimit of 10 ms", () => {
		const headers = new Headers({ 'retry-after': '2' });
		assert.deepEqual(decide(policy({ backoffLimit: 10 }), failed({ headers })), { retry: true, delayMs: 2000 });
	});
});

describe("delay replaces baseDelayMs and factor, with ky's attemptCount (1 for the first retry)", () => {
	it('waits what delay returns for each retry, through a client', async () => {
		const counts: number[] = [];
		const { api, clock } = clocked({
			jitter: false,
			limit: 3,
			delay: (attemptCount) => {
				counts.push(attemptCount);
				return attemptCount * 10;
			},
		});
		const seen = serve('GET', '/v1/items', [...times(3, { status: 503 }), { status: 200 }]);
		await api.get('items');
		assert.deepEqual(counts, [1, 2, 3]);
		assert.deepEqual(clock.waits, [10, 20, 30]);
		assert.equal(seen.count, 4);
	});

	it('jitters it in full by default, and caps it', () => {
		const custom = policy({ delay: () => 1000, backoffLimit: 400 });
		assert.equal(
			backoffDelay(custom, 1, () => 0.5),
			200,
		);
		assert.equal(backoffDelay(policy({ delay: () => Number.POSITIVE_INFINITY, jitter: false }), 1), 30_000);
	});

	it('times the retries of a job too', async () => {
		const clock = new FakeClock();
		let runs = 0;
		await runJob(
			() => {
				runs++;
				if (runs < 3) {
					throw new Error('not yet');
				}
			},
			{ retry: { delay: (attemptCount) => attemptCount * 7, jitter: false } },
			clock,
		);
		assert.deepEqual(clock.waits, [7, 14]);
	});

	it('ends the call with a TypeError naming it when it returns no non-negative number, after 1 request', async () => {
		for (const value of [Number.NaN, -1, '5' as unknown as number]) {
			const { api } = clocked({ delay: () => value });
			const seen = serve('GET', '/v1/items', [{ status: 503 }]);
			await assert.rejects(api.get('items'), (error: unknown) => {
				assert.ok(error instanceof TypeError);
				assert.match(error.message, /^Expected `retry\.delay\(1\)` to return a non-negative number of milliseconds, got /);
				return true;
			});
			assert.equal(seen.count, 1);
		}
	});
});

describe('jitter as a function, as ky applies it', () => {
	it('is handed the delay before the caps, and its result is capped', () => {
		const handed: number[] = [];
		const custom = policy({
			backoffLimit: 1000,
			jitter: (delay) => {
				handed.push(delay);
				return delay + 50;
			},
		});
		assert.deepEqual(
			[1, 2, 3, 4].map((retry) => backoffDelay(custom, retry)),
			[350, 650, 1000, 1000],
		);
		assert.deepEqual(handed, [300, 600, 1200, 2400]);
	});

	it('falls back to the delay for a result that is not a finite non-negative number', () => {
		for (const result of [Number.NaN, -5, Number.POSITIVE_INFINITY, undefined as unknown as number]) {
			assert.equal(backoffDelay(policy({ jitter: () => result }), 2), 600, String(result));
		}
	});

	it("is never applied to the server's wait", () => {
		let calls = 0;
		const custom = policy({ jitter: (delay) => ++calls + delay });
		assert.deepEqual(decide(custom, failed({ headers: new Headers({ 'retry-after': '1' }) })), { retry: true, delayMs: 1000 });
		assert.equal(calls, 0);
	});
});

describe('shouldRetry: true retries after the backoff, false stops, undefined leaves it to the policy', () => {
	it("retries a 404 on true, after the backoff, ignoring the server's wait", async () => {
		const { api, clock } = clocked({ shouldRetry: () => true, delay: () => 5, jitter: false });
		const seen = serve('GET', '/v1/items', [{ status: 404, headers: { 'retry-after': '3600' } }, { status: 200 }]);
		await api.get('items');
		assert.deepEqual(clock.waits, [5]);
		assert.equal(seen.count, 2);
	});

	it('retries a timeout on true, whatever retryOnTimeout says, as ky does', () => {
		const custom = policy({ retryOnTimeout: false, jitter: false });
		assert.deepEqual(decide(custom, failed({ outcome: 'timeout', ask: () => true })), { retry: true, delayMs: 300 });
	});

	it("stops a 503 on false after 1 request, with stopReason 'declined', and tells onGiveUp", async () => {
		const { api, given } = clocked({ shouldRetry: () => false });
		const seen = serve('GET', '/v1/items', [{ status: 503 }, { status: 200 }]);
		await assert.rejects(api.get('items'), { status: 503, stopReason: 'declined', attempts: 1 });
		assert.equal(given.length, 1);
		assert.equal(seen.count, 1);
	});

	it('leaves undefined, and any answer that is no boolean, to the policy, as ky does', async () => {
		// The engine hands `decide` the question (`ask`): it builds the enriched error the callback is given.
		for (const answer of [undefined, 1, 'yes', null]) {
			const ask = () => answer as boolean | undefined;
			assert.equal(decide(policy(), failed({ ask })).retry, true, String(answer));
			assert.deepEqual(decide(policy(), failed({ outcome: 404, ask })), { retry: false, reason: 'permanent' });
		}
	});

	it('is handed the enriched error, an HTTPError of ky too, and retryCount 1 for the first retry', async () => {
		const states: { error: unknown; retryCount: number }[] = [];
		const { api } = clocked({ shouldRetry: (state) => void states.push(state) });
		const seen = serve('GET', '/v1/items', [{ status: 503 }, { status: 500 }, { status: 200 }]);
		await api.get('items');
		assert.deepEqual(
			states.map((state) => state.retryCount),
			[1, 2],
		);
		const [first] = states;
		assert.ok(isSteadfetchError(first?.error) && first.error instanceof HTTPError);
		assert.equal(first.error.response.status, 503);
		assert.equal(first.error.status, 503);
		assert.equal(first.error.stopReason, undefined, 'nothing is decided yet');
		assert.equal(seen.count, 3);
	});

	it('is not asked once the count is spent, nor for a POST without an Idempotency-Key', async () => {
		let asked = 0;
		const { api } = clocked({
			limit: 1,
			shouldRetry: () => {
				asked++;
				return true;
			},
		});
		const gets = serve('GET', '/v1/items', times(3, { status: 503 }));
		await assert.rejects(api.get('items'), { stopReason: 'limit' });
		assert.equal(gets.count, 2);
		assert.equal(asked, 1);
		const posts = serve('POST', '/v1/items', times(2, { status: 503 }));
		await assert.rejects(api.post('items'), { stopReason: 'not-idempotent' });
		assert.equal(posts.count, 1);
		assert.equal(asked, 1);
	});

	it('is not asked when the deadline leaves no time for a retry', () => {
		let asked = 0;
		const ask = () => ++asked > 0;
		assert.deepEqual(decide(policy({ jitter: false }), failed({ remainingMs: 0, ask })), {
			retry: false,
			reason: 'deadline',
			retryAt: 1_000_300,
		});
		assert.equal(asked, 0);
	});

	it('never overrides the deadline: a forced retry whose backoff runs past it stops', () => {
		const ask = () => true;
		const custom = policy({ delay: () => 500, jitter: false });
		assert.deepEqual(decide(custom, failed({ outcome: 404, remainingMs: 400, ask })), {
			retry: false,
			reason: 'deadline',
			retryAt: 1_000_500,
		});
		assert.deepEqual(decide(custom, failed({ outcome: 404, remainingMs: 600, ask })), { retry: true, delayMs: 500 });
	});

	it('never overrides the retry budget or the circuit breaker', async () => {
		const always = { shouldRetry: () => true, delay: () => 1 };
		const budgeted = clocked(always, { budget: { ratio: 0, capacity: 1 } });
		const first = serve('GET', '/v1/a', times(3, { status: 500 }));
		await assert.rejects(budgeted.api.get('a'), { stopReason: 'budget' });
		assert.equal(first.count, 2);
		const broken = clocked(always, { breaker: { failureThreshold: 1, failureWindowMs: 0 } });
		const second = serve('GET', '/v1/b', times(3, { status: 500 }));
		await assert.rejects(broken.api.get('b'), { stopReason: 'circuit-open' });
		assert.equal(second.count, 1);
	});

	it('ends the call with a TypeError when it returns a Promise, after 1 request, leaving no rejection unhandled', async () => {
		const unhandled: unknown[] = [];
		const note = (reason: unknown) => unhandled.push(reason);
		process.on('unhandledRejection', note);
		try {
			const { api } = clocked({ shouldRetry: (() => Promise.reject(new Error('async'))) as unknown as () => boolean });
			const seen = serve('GET', '/v1/items', [{ status: 503 }, { status: 200 }]);
			await assert.rejects(api.get('items'), (error: unknown) => {
				assert.ok(error instanceof TypeError);
				assert.match(error.message, /^Expected `retry\.shouldRetry` to return true, false or undefined, got a Promise/);
				return true;
			});
			assert.equal(seen.count, 1);
			await new Promise((resolve) => setTimeout(resolve, 10));
			assert.deepEqual(unhandled, []);
		} finally {
			process.off('unhandledRejection', note);
		}
	});

	it('ends the call with what it throws', async () => {
		const bug = new RangeError('bug in shouldRetry');
		const { api } = clocked({
			shouldRetry: () => {
				throw bug;
			},
		});
		const seen = serve('GET', '/v1/items', [{ status: 503 }, { status: 200 }]);
		await assert.rejects(api.get('items'), (error: unknown) => error === bug);
		assert.equal(seen.count, 1);
	});

	it('decides the drop-in fetch the same way: a 503 resolves at once on false, a 404 is retried on true', async () => {
		const clock = new FakeClock();
		const declined = clockedFetch({ ...kyAlike, retry: { shouldRetry: () => false } }, clock);
		const first = serve('GET', '/v1/a', [{ status: 503 }, { status: 200 }]);
		assert.equal((await declined(`${origin}/v1/a`)).status, 503);
		assert.equal(first.count, 1);
		const forced = clockedFetch({ ...kyAlike, retry: { shouldRetry: () => true } }, clock);
		const second = serve('GET', '/v1/b', [{ status: 404 }, { status: 200 }]);
		assert.equal((await forced(`${origin}/v1/b`)).status, 200);
		assert.equal(second.count, 2);
	});
});

describe("maxRetryAfter clamps the server's wait, and the clamped wait is slept", () => {
	it('waits 2 s for a Retry-After of an hour, where maxDelayMs alone fails at once', async () => {
		const clamped = clocked({ maxRetryAfter: 2000 });
		const first = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '3600' } }, { status: 200 }]);
		await clamped.api.get('items');
		assert.deepEqual(clamped.clock.waits, [2000]);
		assert.equal(first.count, 2);
		const capped = clocked({});
		const second = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '3600' } }, { status: 200 }]);
		await assert.rejects(capped.api.get('items'), { stopReason: 'wait-over-cap' });
		assert.equal(second.count, 1);
	});

	it('leaves a shorter wait as asked, and 0 retries at once', () => {
		const headers = new Headers({ 'retry-after': '1' });
		assert.deepEqual(decide(policy({ maxRetryAfter: 2000 }), failed({ headers })), { retry: true, delayMs: 1000 });
		assert.deepEqual(decide(policy({ maxRetryAfter: 0 }), failed({ headers })), { retry: true, delayMs: 0 });
	});

	it("clamps the rate-limit headers' wait too (GitHub's reset an hour away)", () => {
		const now = 1_800_000_000_000;
		const headers = new Headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 3600) });
		assert.deepEqual(decide(policy({ maxRetryAfter: 1500 }), failed({ outcome: 429, headers, now })), { retry: true, delayMs: 1500 });
	});
});

describe('maxRetryAfter given alone raises maxDelayMs with it, as a ky user expects', () => {
	it('accepts { maxRetryAfter: 60000 } at createClient, and maxDelayMs follows it', () => {
		assert.equal(policy({ maxRetryAfter: 60_000 }).maxDelayMs, 60_000);
		assert.equal(policy({ maxRetryAfter: 60_000 }).maxRetryAfter, 60_000);
	});

	it('sleeps a Retry-After of 60 s with it alone, through the client and the drop-in fetch', async () => {
		const { api, clock } = clocked({ maxRetryAfter: 60_000 });
		const first = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '60' } }, { status: 200 }]);
		await api.get('items');
		assert.deepEqual(clock.waits, [60_000]);
		assert.equal(first.count, 2);
		const fetchClock = new FakeClock();
		const fetch = clockedFetch({ retry: { maxRetryAfter: 60_000 } }, fetchClock);
		const second = serve('GET', '/v1/other', [{ status: 503, headers: { 'retry-after': '60' } }, { status: 200 }]);
		assert.equal((await fetch(`${origin}/v1/other`)).status, 200);
		assert.deepEqual(fetchClock.waits, [60_000]);
		assert.equal(second.count, 2);
	});

	it('leaves maxDelayMs at its default for a smaller or infinite maxRetryAfter, and as given when both are', () => {
		assert.equal(policy({ maxRetryAfter: 5 }).maxDelayMs, 30_000);
		assert.equal(policy({ maxRetryAfter: Number.POSITIVE_INFINITY }).maxDelayMs, 30_000);
		assert.equal(policy({ maxRetryAfter: 10_000, maxDelayMs: 20_000 }).maxDelayMs, 20_000);
	});

	it('still refuses a maxRetryAfter above a maxDelayMs given with it, naming both', () => {
		assert.throws(
			() => policy({ maxRetryAfter: 60_000, maxDelayMs: 30_000 }),
			/^TypeError: Expected `retry\.maxRetryAfter` to be at most `retry\.maxDelayMs` \(30000\), got 60000: .*Raise `retry\.maxDelayMs` to 60000 too, or leave it out\.$/,
		);
		assert.throws(() => policy({ maxRetryAfter: 3e9 }), /No timer holds more than 2147483647 ms\.$/);
	});
});

describe("afterStatusCodes: only these statuses read the server's wait", () => {
	it('backs off on a 503 left out of it, and waits on a 429 in it', async () => {
		const { api, clock } = clocked({ afterStatusCodes: [429], delay: () => 5, jitter: false });
		const seen = serve('GET', '/v1/items', [
			{ status: 503, headers: { 'retry-after': '3600' } },
			{ status: 429, headers: { 'retry-after': '2' } },
			{ status: 200 },
		]);
		await api.get('items');
		assert.deepEqual(clock.waits, [5, 2000]);
		assert.equal(seen.count, 3);
	});

	it('reads the wait on every retried status when unset', () => {
		const headers = new Headers({ 'retry-after': '1' });
		assert.deepEqual(decide(policy(), failed({ outcome: 500, headers })), { retry: true, delayMs: 1000 });
	});

	it('retries no status of its own: a status outside statusCodes stays unretried', () => {
		const headers = new Headers({ 'retry-after': '1' });
		assert.deepEqual(decide(policy({ afterStatusCodes: [404] }), failed({ outcome: 404, headers })), { retry: false, reason: 'permanent' });
	});
});
