import assert from 'node:assert/strict';
import type { KyInstance, ResponsePromise } from 'ky';
import {
	type AttemptRecord,
	type BreakerOptions,
	type BudgetOptions,
	type ClientOptions,
	isRefusal,
	isSteadfetchError,
	type JobOptions,
	type RequestPolicyOptions,
	type RetryOptions,
	type SteadfetchError,
	type StopReason,
} from '../src/index.ts';
import { runJob } from '../src/surfaces/job.ts';
import { clockedClient, clockedFetch, FakeClock } from './support/clocked.ts';
import { type Recorder, type ScriptedReply, withRecorder } from './support/recorder.ts';

/*
One table of scripted scenarios, run through every surface that drives the attempt engine: the client, the drop-in
fetch (resolving and throwing), and a job's client and fetch. Each surface must show the server the same requests and
end each call the same way, with the same stopReason, attempts and history. Where a surface differs by design, the row
says so, and why.

Every surface runs on the spec's clock (a FakeClock): the engine's waits take no time, and a deadline, a Retry-After
date or an abort during a wait is decided on the clock, not raced against a busy machine. ky's own per-attempt
`timeout` runs on real timers: its rows use a server that never answers, so they assert that the timeout ends the
attempt, never how soon.
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
	/**
	Each attempt's timeout, in milliseconds: ky's `timeout` for a client; the drop-in fetch has none of its own, so its
	caller gives each call `AbortSignal.timeout(ms)`, as docs/fetch.md says to.
	*/
	readonly timeoutMs?: number;
	/** The call's deadline, in milliseconds: `totalTimeout` for a client; `maxRetryTime` for a job, which bounds its requests. */
	readonly deadlineMs?: number;
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
	/** Milliseconds from the clock's now to `retryAt`, exactly; observed only where the row states it. */
	readonly retryInMs?: number | undefined;
	/** The error's `data` (the failing response's body); observed only where the row states it. */
	readonly data?: unknown;
	/** The attempt number of each `onRetry` event (`job#n` for a retry of the job itself); absent where no onRetry is reachable. */
	readonly retries?: readonly string[];
	/** The `delayMs` of each `onRetry` event; observed only where the row states it. */
	readonly delays?: readonly number[];
}

interface Call {
	readonly method: 'GET' | 'POST';
	/** Instead of the server's `/v1/items`. */
	readonly url?: string;
	readonly headers?: Readonly<Record<string, string>>;
	/** The caller aborts its signal (a job's `signal` for a job) as the first wait of the call starts. */
	readonly abortDuringWait?: true;
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

/** What a call resolved with, its body read as a caller reads it. */
interface Reply {
	readonly status: number;
	readonly body: string;
}

/** The spec's clock; `onWait` runs as the engine starts a wait, as a caller that aborts during a backoff would. */
class TableClock extends FakeClock {
	onWait: (() => void) | undefined;

	constructor() {
		super();
		const { sleep } = this;
		this.sleep = (ms, signal) => {
			this.onWait?.();
			return sleep(ms, signal);
		};
	}
}

interface Surface {
	/**
	Failing statuses: `throws` rejects with the enriched error; `resolves` resolves with the last response and hands
	the enriched error to onGiveUp; `resolves-unseen` resolves and no callback of the caller ever sees the error.
	*/
	readonly failing: 'throws' | 'resolves' | 'resolves-unseen';
	/** Whether onRetry events reach the caller. */
	readonly observesRetries: boolean;
	/** Bind the surface to a server; each call of the result runs one call of the scenario, with the caller's signal. */
	open(options: Shared, server: Recorder, probe: Probe, clock: FakeClock): (call: Call, signal: AbortSignal | undefined) => Promise<Reply>;
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

const policyOf = ({ retry, idempotencyKey, budget, breaker }: Shared, probe: Probe): RequestPolicyOptions => ({
	retry,
	...(idempotencyKey === undefined ? {} : { idempotencyKey }),
	...(budget === undefined ? {} : { budget }),
	...(breaker === undefined ? {} : { breaker }),
	...hooksOf(probe),
});

// A job's client takes its deadline from the job (what is left of maxRetryTime), not from a totalTimeout of its own.
const clientOf = (options: Shared, server: Recorder, probe: Probe, clock: FakeClock, inJob: boolean): KyInstance => {
	const { timeoutMs, deadlineMs } = options;
	const own: ClientOptions = {
		...policyOf(options, probe),
		baseUrl: `${server.url}/v1/`,
		...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
		...(deadlineMs === undefined || inJob ? {} : { totalTimeout: deadlineMs }),
	};
	return clockedClient(own, clock);
};

const jobOptionsOf = (options: Shared, probe: Probe, signal: AbortSignal | undefined): JobOptions => ({
	retry: options.retry,
	...(options.deadlineMs === undefined ? {} : { maxRetryTime: options.deadlineMs }),
	...(signal ? { signal } : {}),
	...jobHooksOf(probe),
});

// Read through ky's shortcut, as a caller of the client does: a body cut off mid-way is enriched there only.
const requestThrough = async (api: KyInstance, { method, url, headers }: Call, signal: AbortSignal | undefined): Promise<Reply> => {
	const own = { ...(headers ? { headers } : {}), ...(signal ? { signal } : {}) };
	const promise: ResponsePromise = method === 'GET' ? api.get(url ?? 'items', own) : api.post(url ?? 'items', { ...own, body: 'payload' });
	const body = await promise.text();
	return { status: (await promise).status, body };
};

const fetchThrough = async (
	fetch: typeof globalThis.fetch,
	server: Recorder,
	call: Call,
	init: RequestInit | undefined,
): Promise<Reply> => {
	const response = await fetch(call.url ?? `${server.url}/v1/items`, init);
	// A call a guard refused resolves with a local Response: what matters is that it is one, not its wording.
	const body = await response.text();
	return { status: response.status, body: isRefusal(response) ? `(refused: ${response.headers.get('x-steadfetch-refused')})` : body };
};

// The drop-in fetch's per-attempt timeout is the caller's: a signal per call, made as the call starts.
const initOf = ({ method, headers }: Call, options: Shared, given: AbortSignal | undefined): RequestInit | undefined => {
	const timeout = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
	const signal = given && timeout ? AbortSignal.any([given, timeout]) : (given ?? timeout);
	const init: RequestInit = {
		...(method === 'POST' ? { method, body: 'payload' } : {}),
		...(headers ? { headers } : {}),
		...(signal ? { signal } : {}),
	};
	return Object.keys(init).length === 0 ? undefined : init;
};

const surfaces: Record<SurfaceName, Surface> = {
	client: {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe, clock) {
			const api = clientOf(options, server, probe, clock, false);
			return (call, signal) => requestThrough(api, call, signal);
		},
	},
	'fetch (resolves)': {
		failing: 'resolves',
		observesRetries: true,
		open(options, server, probe, clock) {
			const fetch = clockedFetch(policyOf(options, probe), clock);
			return (call, signal) => fetchThrough(fetch, server, call, initOf(call, options, signal));
		},
	},
	'fetch (throws)': {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe, clock) {
			const fetch = clockedFetch({ ...policyOf(options, probe), throwHttpErrors: true }, clock);
			return (call, signal) => fetchThrough(fetch, server, call, initOf(call, options, signal));
		},
	},
	// One client for the whole scenario, one job per call: the client's per-origin guards outlive each job. The caller's
	// signal is the job's: job.client() hands it to its calls.
	'job.client': {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe, clock) {
			const api = clientOf(options, server, probe, clock, true);
			return (call, signal) =>
				runJob((job) => requestThrough(job.client(api), call, undefined), jobOptionsOf(options, probe, signal), clock);
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
		open(options, server, probe, clock) {
			return (call, signal) =>
				runJob(
					(job) => fetchThrough(job.fetch, server, call, initOf(call, options, undefined)),
					jobOptionsOf(options, probe, signal),
					clock,
				);
		},
	},
	// The caller's own fetch, bound to each job (retryJob's `fetch` option): its policy, callbacks and per-origin guards
	// outlive the job, as the client's do through job.client.
	'job.fetch (given)': {
		failing: 'throws',
		observesRetries: true,
		open(options, server, probe, clock) {
			const fetch = clockedFetch({ ...policyOf(options, probe), throwHttpErrors: true }, clock);
			return (call, signal) =>
				runJob(
					(job) => fetchThrough(job.fetch, server, call, initOf(call, options, undefined)),
					{ ...jobOptionsOf(options, probe, signal), fetch },
					clock,
				);
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
	run: (call: Call, signal: AbortSignal | undefined) => Promise<Reply>,
	call: Call,
	server: Recorder,
	probe: Probe,
	clock: TableClock,
	expected: Ending,
): Promise<Ending> {
	const before = { requests: server.requests.length, retries: probe.retries.length, gaveUp: probe.gaveUp.length };
	const caller = call.abortDuringWait ? new AbortController() : undefined;
	clock.onWait = caller
		? () => {
				clock.onWait = undefined;
				caller.abort();
			}
		: undefined;
	let ends: string;
	let error: SteadfetchError | undefined;
	try {
		const { status, body } = await run(call, caller?.signal);
		ends = body === '' ? `${status}` : `${status} ${body}`;
		// A resolving fetch hands the error of a failing status to onGiveUp only. (A job that resolves after a call of its
		// client gave up retried the whole pass: that error is not how the call ended.)
		error = surface.failing === 'resolves' && probe.gaveUp.length > before.gaveUp ? probe.gaveUp.at(-1) : undefined;
	} catch (caught) {
		ends = describeError(caught);
		error = isSteadfetchError(caught) ? caught : undefined;
	}
	const retries = probe.retries.slice(before.retries);
	const delays = probe.delays.slice(before.retries);
	const retryIn = error?.retryAt && error.retryAt.getTime() - clock.now();
	return {
		requests: server.requests.length - before.requests,
		ends,
		...(error
			? {
					stopReason: error.stopReason,
					attempts: error.attempts,
					history: historyOf(error.history),
					...('retryAtMin' in expected ? { retryAtMin: retryIn === undefined ? undefined : Math.round(retryIn / 60_000) } : {}),
					...('retryInMs' in expected ? { retryInMs: retryIn } : {}),
					...('data' in expected ? { data: error.data } : {}),
				}
			: {}),
		...(surface.observesRetries ? { retries } : {}),
		...('delays' in expected && surface.observesRetries ? { delays } : {}),
	};
}

/** The row's expectation, seen through a surface: a resolving surface resolves with a failing status it would throw. */
function expectedOn(surface: Surface, ending: Ending): Ending {
	// A call the open circuit refused resolves where failing statuses do, with a local 503 (docs/fetch.md).
	const refusal = ending.ends === 'CircuitOpenError' ? '503 (refused: circuit-open)' : undefined;
	const status = refusal ? '503' : /^\w+ (\d{3})$/.exec(ending.ends)?.[1];
	if (surface.failing === 'throws' || status === undefined) {
		// Errors without a response (a bad option, a bad URL) reject on every surface.
		return surface.failing === 'resolves-unseen' ? unseen(ending) : ending;
	}
	const resolved = { ...ending, ends: refusal ?? status };
	return surface.failing === 'resolves' ? resolved : unseen(resolved);
}

// On job.fetch only the requests and the response are observable: no callback of the caller is wired to its policy.
function unseen(ending: Ending): Ending {
	const { retries: _retries, delays: _delays, ...rest } = ending;
	if (/^\d{3}/.test(ending.ends)) {
		const {
			stopReason: _stopReason,
			attempts: _attempts,
			history: _history,
			retryAtMin: _retryAtMin,
			retryInMs: _retryInMs,
			data: _data,
			...bare
		} = rest;
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

// How each surface gets a per-attempt timeout, and what the timeout rows therefore show.
const callerTimeout = 'TimeoutError: The operation was aborted due to timeout';
const fetchTimeout =
	"the drop-in fetch has no timeout of its own: the caller's AbortSignal.timeout ends the call with the signal's reason, as fetch does, and an abort is never retried";
const jobFetchTimeout =
	"as the drop-in fetch; the job then retries the whole pass (an error that is not steadfetch's is transient to a job), whose call makes a new signal";
// A body cut off after a 200: read through the client's shortcut, or by the caller from fetch's Response.
const fetchCut =
	"fetch resolves with the Response; its body is the caller's to read, and rejects with the runtime's TypeError, as fetch's does (docs/resilience.md)";
const jobCut = 'the job reads the body inside its pass: a cut-off body is transient to a job, which retries the whole pass';
const fetchDeadline =
	'the drop-in fetch has no deadline of its own: a caller bounds it with a signal; in a job, maxRetryTime does (the job rows)';
const malformed = '{"error": "unfinished';

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
	{
		title: 'retries an attempt that hangs past its timeout, then succeeds',
		replies: [{ hang: true }, { status: 200, body: ok }],
		options: { retry, timeoutMs: 50 },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET'],
		expected: [{ requests: 2, ends: `200 ${ok}`, retries: ['#2'] }],
		differs: {
			'fetch (resolves)': { why: fetchTimeout, requests: ['GET'], calls: [{ requests: 1, ends: callerTimeout, retries: [] }] },
			'fetch (throws)': { why: fetchTimeout, requests: ['GET'], calls: [{ requests: 1, ends: callerTimeout, retries: [] }] },
			'job.fetch': { why: jobFetchTimeout, requests: ['GET', 'GET'], calls: [{ requests: 2, ends: `200 ${ok}` }] },
			'job.fetch (given)': {
				why: jobFetchTimeout,
				requests: ['GET', 'GET'],
				calls: [{ requests: 2, ends: `200 ${ok}`, retries: ['job#2'] }],
			},
		},
	},
	{
		title: 'stops at the limit after three attempts that hang past their timeout',
		replies: times(4, { hang: true }),
		options: { retry, timeoutMs: 50 },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET', 'GET'],
		expected: [failed('TimeoutError', 'limit', ['1:timeout +wait', '2:timeout +wait', '3:timeout'], ['#2', '#3'])],
		differs: {
			'fetch (resolves)': { why: fetchTimeout, requests: ['GET'], calls: [{ requests: 1, ends: callerTimeout, retries: [] }] },
			'fetch (throws)': { why: fetchTimeout, requests: ['GET'], calls: [{ requests: 1, ends: callerTimeout, retries: [] }] },
			'job.fetch': { why: jobFetchTimeout, requests: ['GET', 'GET', 'GET'], calls: [{ requests: 3, ends: callerTimeout }] },
			'job.fetch (given)': {
				why: jobFetchTimeout,
				requests: ['GET', 'GET', 'GET'],
				calls: [{ requests: 3, ends: callerTimeout, retries: ['job#2', 'job#3'] }],
			},
		},
	},
	{
		title: 'rejects a success whose body is cut off mid-way, without another request',
		replies: [
			{ status: 200, body: '{"ok":', cut: true },
			{ status: 200, body: ok },
		],
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET'],
		expected: [failed('NetworkError', undefined, ['1:200'], [])],
		differs: {
			'fetch (resolves)': { why: fetchCut, calls: [{ requests: 1, ends: 'TypeError: terminated', retries: [] }] },
			'fetch (throws)': { why: fetchCut, calls: [{ requests: 1, ends: 'TypeError: terminated', retries: [] }] },
			'job.client': { why: jobCut, requests: ['GET', 'GET'], calls: [{ requests: 2, ends: `200 ${ok}`, retries: ['job#2'] }] },
			'job.fetch': { why: jobCut, requests: ['GET', 'GET'], calls: [{ requests: 2, ends: `200 ${ok}` }] },
			'job.fetch (given)': { why: jobCut, requests: ['GET', 'GET'], calls: [{ requests: 2, ends: `200 ${ok}`, retries: ['job#2'] }] },
		},
	},
	{
		// The clock stands still until the engine waits: the date two seconds ahead of it is a wait of exactly 2000 ms.
		title: 'waits until the HTTP-date of a Retry-After, then succeeds',
		replies: [
			{ status: 503, headers: { 'retry-after': new Date(new FakeClock().now() + 2000).toUTCString() } },
			{ status: 200, body: ok },
		],
		options: { retry: { ...retry, maxDelayMs: 5000 } },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET'],
		expected: [{ requests: 2, ends: `200 ${ok}`, retries: ['#2'], delays: [2000] }],
	},
	{
		title: 'takes its own backoff after a Retry-After that is garbage or negative',
		replies: [
			{ status: 503, headers: { 'retry-after': 'soon' } },
			{ status: 503, headers: { 'retry-after': '-5' } },
			{ status: 200, body: ok },
		],
		// No jitter: the backoff's own 1 ms, then 2 ms, show that neither header was read as a wait.
		options: { retry: { ...retry, jitter: false } },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET', 'GET'],
		expected: [{ requests: 3, ends: `200 ${ok}`, retries: ['#2', '#3'], delays: [1, 2] }],
	},
	{
		title: 'keeps the text of a JSON error body that does not parse',
		replies: times(3, { status: 500, body: malformed }),
		options: { retry },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET', 'GET'],
		expected: [{ ...failed('InternalServerError 500', 'limit', ['1:500 +wait', '2:500 +wait', '3:500'], ['#2', '#3']), data: malformed }],
		differs: {
			'fetch (resolves)': {
				why: 'resolves with the response as sent, its body unread: onGiveUp is told without data',
				calls: [
					{
						...failed(`500 ${malformed}`, 'limit', ['1:500 +wait', '2:500 +wait', '3:500'], ['#2', '#3']),
						data: undefined,
					},
				],
			},
			'job.fetch': { why: 'resolves with the response as sent', calls: [{ requests: 3, ends: `500 ${malformed}` }] },
		},
	},
	{
		// 10 s: the client's totalTimeout also runs on ky's real timer, which the call must never come near.
		title: 'stops with stopReason deadline when the next wait would pass the deadline',
		replies: [
			{ status: 503, headers: { 'retry-after-ms': '6000' } },
			{ status: 503, headers: { 'retry-after-ms': '6000' } },
			{ status: 200, body: ok },
		],
		options: { retry: { ...retry, maxDelayMs: 30_000 }, deadlineMs: 10_000 },
		calls: [{ method: 'GET' }],
		requests: ['GET', 'GET'],
		expected: [{ ...failed('ServerError 503', 'deadline', ['1:503 +wait', '2:503'], ['#2']), retryInMs: 6000 }],
		differs: {
			'fetch (resolves)': { why: fetchDeadline, unsupported: true },
			'fetch (throws)': { why: fetchDeadline, unsupported: true },
		},
	},
	{
		title: 'ends with the abort when the caller aborts during a backoff, without another request',
		replies: [
			{ status: 503, headers: { 'retry-after-ms': '5' } },
			{ status: 200, body: ok },
		],
		options: { retry },
		calls: [{ method: 'GET', abortDuringWait: true }],
		requests: ['GET'],
		expected: [{ requests: 1, ends: 'AbortError: This operation was aborted', retries: ['#2'] }],
	},
	{
		title: 'rejects a URL that does not parse before sending anything',
		replies: [{ status: 200, body: ok }],
		options: { retry },
		calls: [{ method: 'GET', url: 'http://[bad' }],
		requests: [],
		expected: [{ requests: 0, ends: 'TypeError: Invalid URL: http://[bad', retries: [] }],
	},
	{
		title: 'rejects a header value with CR or LF before sending anything, naming the header',
		replies: [{ status: 200, body: ok }],
		options: { retry },
		calls: [{ method: 'GET', headers: { 'x-note': 'a\r\nSet-Cookie: b' } }],
		requests: [],
		expected: [{ requests: 0, ends: 'TypeError: Expected `headers.x-note` to be a string without CR, LF or NUL characters.', retries: [] }],
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
					const clock = new TableClock();
					const run = surface.open(scenario.options, server, probe, clock);
					const seen: Ending[] = [];
					for (const [index, call] of scenario.calls.entries()) {
						seen.push(await observe(surface, run, call, server, probe, clock, expected[index] as Ending));
					}
					assert.deepEqual(seen, expected);
					assert.deepEqual(requestsOf(server), requests);
				});
			});
		}
	});
}
