import assert from 'node:assert/strict';
import {
	type AttemptRecord,
	type BreakerOptions,
	type BudgetOptions,
	createClient,
	createFetch,
	isSteadfetchError,
	type RetryOptions,
	retryJob,
	type SteadfetchError,
	type StopReason,
} from '../src/index.ts';
import { type Recorder, type ScriptedReply, withRecorder } from './support/recorder.ts';

/*
One table of scripted scenarios, run through every surface that drives the attempt engine: the client, the drop-in
fetch (resolving and throwing), and a job's client and fetch. Each surface must show the server the same requests and
end each call the same way, with the same stopReason, attempts and history. Where a surface differs by design, the row
says so, and why.
*/

// Millisecond backoff and a 50 ms cap: the whole table runs in well under a second of waits.
const retry = { limit: 2, baseDelayMs: 1, maxDelayMs: 50 } satisfies RetryOptions;
const ok = '{"ok":true}';

type SurfaceName = 'client' | 'fetch (resolves)' | 'fetch (throws)' | 'job.client' | 'job.fetch' | 'job.fetch (given)';

/** The options a scenario gives every surface (a job gets `retry` as its own policy too). */
interface Shared {
	readonly retry: RetryOptions;
	readonly idempotencyKey?: boolean | (() => string);
	readonly budget?: BudgetOptions | false;
	readonly breaker?: BreakerOptions | false;
}

/** How one call ended, as the spec sees it: the same shape for every surface. */
interface Ending {
	/** Requests the server saw during this call. */
	readonly requests: number;
	/** `200 {"ok":true}` or `500`: it resolved with that response; `InternalServerError 500`, `CircuitOpenError`, `TypeError: ...`: it rejected. */
	readonly ends: string;
	/** The enriched error's facts (thrown, or seen by onGiveUp); absent when the call succeeded or no steadfetch error exists. */
	readonly stopReason?: StopReason | undefined;
	readonly attempts?: number;
	/** `1:500 +wait`: attempt number, status or failure, and whether the record carries a `delayMs`. */
	readonly history?: readonly string[];
	/** Minutes from now to `retryAt`; observed only where the row states it. */
	readonly retryAtMin?: number | undefined;
	/** The attempt number of each `onRetry` event (`job#n` for a retry of the job itself); absent where no onRetry is reachable. */
	readonly retries?: readonly string[];
	/** The `delayMs` of each `onRetry` event; observed only where the row states it. */
	readonly delays?: readonly number[];
}

interface Call {
	readonly method: 'GET' | 'POST';
}

/** A surface's own expectation where it differs from the row's, with the reason. */
type Difference =
	| { readonly why: string; readonly requests?: readonly string[]; readonly calls?: readonly Ending[] }
	| { readonly why: string; readonly unsupported: true };

interface Scenario {
	readonly title: string;
	readonly replies: readonly ScriptedReply[];
	readonly options: Shared;
	readonly calls: readonly Call[];
	/** Every request the server saw, in order: method, and `key A` for the first distinct Idempotency-Key. */
	readonly requests: readonly string[];
	readonly expected: readonly Ending[];
	readonly differs?: Partial<Record<SurfaceName, Difference>>;
}

/** What a surface reports while it runs: onRetry and onGiveUp events. */
interface Probe {
	readonly retries: string[];
	readonly delays: number[];
	readonly gaveUp: SteadfetchError[];
}

interface Surface {
	/**
	Failing statuses: `throws` rejects with the enriched error; `resolves` resolves with the last response and hands
	the enriched error to onGiveUp; `resolves-unseen` resolves and no callback of the caller ever sees the error.
	*/
	readonly failing: 'throws' | 'resolves' | 'resolves-unseen';
	/** Whether onRetry events reach the caller. */
	readonly observesRetries: boolean;
	/** Bind the surface to a server; each call of the result runs one call of the scenario. */
	open(options: Shared, server: Recorder, probe: Probe): (call: Call) => Promise<Response>;
}

const hooksOf = (probe: Probe) => ({
	onRetry: (event: { attempt: number; delayMs: number }) => {
		probe.retries.push(`#${event.attempt}`);
		probe.delays.push(event.delayMs);
	},
	onGiveUp: (error: SteadfetchError) => {
		probe.gaveUp.push(error);
	},
});

// A job's own onRetry: a retry of the job as a whole, told apart from the retries of its requests.
const jobHooksOf = (probe: Probe) => ({
	onRetry: (event: { attempt: number; delayMs: number }) => {
		probe.retries.push(`job#${event.attempt}`);
		probe.delays.push(event.delayMs);
	},
});

const init = ({ method }: Call): RequestInit | undefined => (method === 'POST' ? { method, body: 'payload' } : undefined);

const surfaces: Record<SurfaceName, Surface> = {
	client: {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe) {
			const api = createClient({ ...options, ...hooksOf(probe), baseUrl: `${server.url}/v1/` });
			return async ({ method }) => (method === 'GET' ? api.get('items') : api.post('items', { body: 'payload' }));
		},
	},
	'fetch (resolves)': {
		failing: 'resolves',
		observesRetries: true,
		open(options, server, probe) {
			const fetch = createFetch({ ...options, ...hooksOf(probe) });
			return (call) => fetch(`${server.url}/v1/items`, init(call));
		},
	},
	'fetch (throws)': {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe) {
			const fetch = createFetch({ ...options, ...hooksOf(probe), throwHttpErrors: true });
			return (call) => fetch(`${server.url}/v1/items`, init(call));
		},
	},
	// One client for the whole scenario, one job per call: the client's per-origin guards outlive each job.
	'job.client': {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe) {
			const api = createClient({ ...options, ...hooksOf(probe), baseUrl: `${server.url}/v1/` });
			return ({ method }) =>
				retryJob(
					async (job) => {
						const client = job.client(api);
						return method === 'GET' ? client.get('items') : client.post('items', { body: 'payload' });
					},
					{ retry: options.retry, ...jobHooksOf(probe) },
				);
		},
	},
	/*
	The default job.fetch is built by retryJob from the job's `retry` alone (a fetch of the caller's own is the surface
	below): it takes no onRetry, onGiveUp, idempotencyKey, budget, breaker or throwHttpErrors, so a failing status resolves with the last response and nothing the caller passes ever
	sees the enriched error. The job here returns that response (the job succeeds with it). Throwing on !ok instead
	would not help: a plain Error counts as transient, so the job would retry as a whole, a 404 included.
	*/
	'job.fetch': {
		failing: 'resolves-unseen',
		observesRetries: false,
		open(options, server, probe) {
			return (call) => retryJob((job) => job.fetch(`${server.url}/v1/items`, init(call)), { retry: options.retry, ...jobHooksOf(probe) });
		},
	},
	// The caller's own fetch, bound to each job (retryJob's `fetch` option): its policy, callbacks and per-origin guards
	// outlive the job, as the client's do through job.client.
	'job.fetch (given)': {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe) {
			const fetch = createFetch({ ...options, ...hooksOf(probe), throwHttpErrors: true });
			return (call) =>
				retryJob((job) => job.fetch(`${server.url}/v1/items`, init(call)), { retry: options.retry, fetch, ...jobHooksOf(probe) });
		},
	},
};

const historyOf = (history: readonly AttemptRecord[]): string[] =>
	history.map(({ attempt, status, failure, delayMs }) => `${attempt}:${status ?? failure}${delayMs === undefined ? '' : ' +wait'}`);

const describeError = (error: unknown): string => {
	if (isSteadfetchError(error)) {
		return error.status === undefined ? error.name : `${error.name} ${error.status}`;
	}
	return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
};

/** Run one call and describe how it ended; `expected` says which optional facts to observe. */
async function observe(
	surface: Surface,
	run: (call: Call) => Promise<Response>,
	call: Call,
	server: Recorder,
	probe: Probe,
	expected: Ending,
): Promise<Ending> {
	const before = { requests: server.requests.length, retries: probe.retries.length, gaveUp: probe.gaveUp.length };
	let ends: string;
	let error: SteadfetchError | undefined;
	try {
		const response = await run(call);
		const body = await response.text();
		ends = body === '' ? `${response.status}` : `${response.status} ${body}`;
		// A resolving fetch hands the error of a failing status to onGiveUp only.
		error = probe.gaveUp.length > before.gaveUp ? probe.gaveUp.at(-1) : undefined;
	} catch (caught) {
		ends = describeError(caught);
		error = isSteadfetchError(caught) ? caught : undefined;
	}
	const retries = probe.retries.slice(before.retries);
	const delays = probe.delays.slice(before.retries);
	return {
		requests: server.requests.length - before.requests,
		ends,
		...(error
			? {
					stopReason: error.stopReason,
					attempts: error.attempts,
					history: historyOf(error.history),
					...('retryAtMin' in expected ? { retryAtMin: error.retryAt && Math.round((error.retryAt.getTime() - Date.now()) / 60_000) } : {}),
				}
			: {}),
		...(surface.observesRetries ? { retries } : {}),
		...('delays' in expected && surface.observesRetries ? { delays } : {}),
	};
}

/** The row's expectation, seen through a surface: a resolving surface resolves with a failing status it would throw. */
function expectedOn(surface: Surface, ending: Ending): Ending {
	const status = /^\w+ (\d{3})$/.exec(ending.ends)?.[1];
	if (surface.failing === 'throws' || status === undefined) {
		// Errors without a response (an open circuit, a bad option) reject on every surface.
		return surface.failing === 'resolves-unseen' ? unseen(ending) : ending;
	}
	const resolved = { ...ending, ends: status };
	return surface.failing === 'resolves' ? resolved : unseen(resolved);
}

// On job.fetch only the requests and the response are observable: no callback of the caller is wired to its policy.
function unseen(ending: Ending): Ending {
	const { retries: _retries, delays: _delays, ...rest } = ending;
	if (/^\d{3}/.test(ending.ends)) {
		const { stopReason: _stopReason, attempts: _attempts, history: _history, retryAtMin: _retryAtMin, ...bare } = rest;
		return bare;
	}
	return rest;
}

// Keys are named by order of first appearance, so that "the same key on both" reads `key A`, `key A`.
const requestsOf = (server: Recorder): string[] => {
	const keys: string[] = [];
	return server.requests.map(({ method, headers }) => {
		const key = headers['idempotency-key'];
		if (typeof key !== 'string') {
			return method;
		}
		if (!keys.includes(key)) {
			keys.push(key);
		}
		return `${method} key ${String.fromCharCode(65 + keys.indexOf(key))}`;
	});
};

const times = <T>(n: number, reply: T): T[] => Array.from({ length: n }, () => reply);
const failed = (
	ends: string,
	stopReason: StopReason | undefined,
	history: string[],
	retries: string[],
	requests = history.length,
): Ending => ({
	requests,
	ends,
	stopReason,
	attempts: history.length,
	history,
	retries,
});

const scenarios: readonly Scenario[] = [
	{
		title: 'recovers from 500, 500 with the 200 of the third request',
		replies: [{ status: 500 }, { status: 500 }, { status: 200, body: ok }],
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET', 'GET'],
		expected: [{ requests: 3, ends: `200 ${ok}`, retries: ['#2', '#3'] }],
	},
	{
		title: 'fails fast on a 404: one request, permanent, no stopReason',
		replies: times(3, { status: 404 }),
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET'],
		expected: [failed('NotFoundError 404', undefined, ['1:404'], [])],
	},
	{
		title: 'stops at the limit after three 500s',
		replies: times(4, { status: 500 }),
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET', 'GET'],
		expected: [failed('InternalServerError 500', 'limit', ['1:500 +wait', '2:500 +wait', '3:500'], ['#2', '#3'])],
	},
	{
		title: 'stops at once on a Retry-After over maxDelayMs, with retryAt an hour ahead',
		replies: [
			{ status: 503, headers: { 'retry-after': '3600' } },
			{ status: 200, body: ok },
		],
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET'],
		expected: [{ ...failed('ServerError 503', 'wait-over-cap', ['1:503'], []), retryAtMin: 60 }],
	},
	{
		title: 'waits the retry-after-ms of a 429, then succeeds',
		replies: [
			{ status: 429, headers: { 'retry-after-ms': '5' } },
			{ status: 200, body: ok },
		],
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET'],
		expected: [{ requests: 2, ends: `200 ${ok}`, retries: ['#2'], delays: [5] }],
	},
	{
		title: 'does not retry a POST without an Idempotency-Key',
		replies: [{ status: 500 }, { status: 200, body: ok }],
		options: { retry },
		calls: [{ method: 'POST' }],
		requests: ['POST'],
		expected: [failed('InternalServerError 500', 'not-idempotent', ['1:500'], [])],
	},
	{
		title: 'retries a POST with a generated Idempotency-Key, the same key on every attempt',
		replies: [{ status: 500 }, { status: 200, body: ok }],
		options: { retry, idempotencyKey: true },
		calls: [{ method: 'POST' }],
		requests: ['POST key A', 'POST key A'],
		expected: [{ requests: 2, ends: `200 ${ok}`, retries: ['#2'] }],
		differs: {
			'job.fetch': {
				why: 'the default job.fetch has no idempotencyKey (job.fetch (given) has its own), so it sends no key and the POST is not retried',
				requests: ['POST'],
				calls: [{ requests: 1, ends: '500' }],
			},
		},
	},
	{
		title: 'rejects an idempotencyKey() that returns an empty string before sending anything',
		replies: [{ status: 200, body: ok }],
		options: { retry, idempotencyKey: () => '' },
		calls: [{ method: 'POST' }],
		requests: [],
		expected: [{ requests: 0, ends: 'TypeError: Expected `idempotencyKey()` to return a non-empty string.', retries: [] }],
		differs: {
			'job.fetch': { why: 'the default job.fetch takes no key function: job.fetch (given) does', unsupported: true },
		},
	},
	{
		title: 'retries a connection reset, then succeeds',
		replies: [{ reset: true }, { status: 200, body: ok }],
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET'],
		expected: [{ requests: 2, ends: `200 ${ok}`, retries: ['#2'] }],
	},
	{
		// One token: the first call's one retry spends it, and the origin's budget then withholds every retry.
		title: 'withholds retries once the retry budget is spent',
		replies: times(8, { status: 500 }),
		options: { retry, budget: { capacity: 1 }, breaker: false },
		calls: [{ method: 'GET' }, { method: 'GET' }],
		requests: ['GET', 'GET', 'GET'],
		expected: [
			failed('InternalServerError 500', 'budget', ['1:500 +wait', '2:500'], ['#2']),
			failed('InternalServerError 500', 'budget', ['1:500'], []),
		],
		// A job stops where the budget stopped its call: its own retry would resend the request the budget withheld.
		differs: {
			'job.fetch': {
				why: 'the default job.fetch has guards that die with its job: job.fetch (given) shares its own',
				unsupported: true,
			},
		},
	},
	{
		// limit 0: each failing call is one request, so the breaker opens on the second call, not within the first.
		title: 'refuses the next call without a request once two failures open the circuit',
		replies: times(5, { status: 500 }),
		options: { retry: { ...retry, limit: 0 }, budget: false, breaker: { failureThreshold: 2, failureWindowMs: 0, openMs: 60_000 } },
		calls: [{ method: 'GET' }, { method: 'GET' }, { method: 'GET' }],
		requests: ['GET', 'GET'],
		expected: [
			failed('InternalServerError 500', 'limit', ['1:500'], []),
			failed('InternalServerError 500', 'limit', ['1:500'], []),
			{ ...failed('CircuitOpenError', 'circuit-open', [], [], 0), retryAtMin: 1 },
		],
		differs: {
			'job.fetch': {
				why: "the default job.fetch's breaker never sees the other jobs: job.fetch (given) shares its own",
				unsupported: true,
			},
		},
	},
];

for (const scenario of scenarios) {
	describe(scenario.title, () => {
		for (const [name, surface] of Object.entries(surfaces) as [SurfaceName, Surface][]) {
			const difference = scenario.differs?.[name];
			if (difference && 'unsupported' in difference) {
				it.skip(`${name}: not expressible (${difference.why})`);
				continue;
			}
			const requests = difference?.requests ?? scenario.requests;
			const expected = difference?.calls ?? scenario.expected.map((ending) => expectedOn(surface, ending));
			const title = `${name}: sends ${requests.length} request${requests.length === 1 ? '' : 's'} and ends ${expected.map((ending) => ending.ends).join(', then ')}`;
			it(difference ? `${title} (${difference.why})` : title, async () => {
				await withRecorder(scenario.replies, async (server) => {
					const probe: Probe = { retries: [], delays: [], gaveUp: [] };
					const run = surface.open(scenario.options, server, probe);
					const seen: Ending[] = [];
					for (const [index, call] of scenario.calls.entries()) {
						seen.push(await observe(surface, run, call, server, probe, expected[index] as Ending));
					}
					assert.deepEqual(seen, expected);
					assert.deepEqual(requestsOf(server), requests);
				});
			});
		}
	});
}
