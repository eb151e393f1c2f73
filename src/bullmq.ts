/**
A BullMQ worker whose jobs make their requests through steadfetch (docs/queues.md); `bullmq` is an optional peer.
@module steadfetch/bullmq
*/
import { type BackoffStrategy, type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { KyInstance } from 'ky';
import { newTally } from './attempt.ts';
import { bindTo } from './binding.ts';
import { systemClock } from './clock.ts';
import { defaults } from './defaults.ts';
import { errorKind } from './errors/base.ts';
import { fetchWith } from './fetch.ts';
import { normalizeFetchOptions, normalizePolicy } from './normalize.ts';
import type { Policy, RetryOptions } from './options.ts';
import { backoffDelay } from './policy.ts';
import { queueAction } from './queue-action.ts';
import { QueueCircuit } from './queue-circuit.ts';
import { failedOn, isOutage, jobIdempotencyKey, logLine, observing, type RunState } from './queue-run.ts';
import type { SteadfetchError } from './types.ts';

export { type QueueAction, queueAction } from './queue-action.ts';
export { jobIdempotencyKey } from './queue-run.ts';

/*
The `steadfetch/bullmq` subpath: a BullMQ worker whose job function makes its requests through steadfetch, and whose
failures reach the queue as what they are. Fail-fast errors fail the job at once (UnrecoverableError); a wait the API asked
for pauses the whole queue through BullMQ's Redis-backed rate limit, uncharged; an outage opens the queue's own circuit
(queue-circuit.ts), shared by every worker through Redis; other transient failures are BullMQ's own retries, timed by
`createBackoffStrategy`. A job's POST and PATCH calls carry one Idempotency-Key, and `closeWorker` shuts a worker down
without losing or doubling a job. The main entry never imports this file: bullmq and a Redis client stay optional.
*/

/** Options of `createWorker`, beside BullMQ's own `WorkerOptions`. */
export interface QueueJobOptions {
	/**
	The retries inside one run of a job: `retry.limit` is the run's whole allowance, spent by requests through `job.client()` and `job.fetch`; the queue's `attempts` are the job's real retries. The delays time the in-run retries of `job.fetch` and the backoff between the queue's attempts (`createBackoffStrategy`).
	@default {limit: 1, baseDelayMs: 300, factor: 2, maxDelayMs: 30000, jitter: true}
	*/
	readonly retry?: RetryOptions | number | undefined;
	/**
	What the whole queue does on an outage: when a run fails on one (its requests failed with a 5xx, a network error or a
	timeout until its allowance ran out, the client's retry budget was spent, or the client's circuit breaker is open),
	every worker of the queue stops sending and one probe goes per `probeMs` (doubled by each failed probe in a row, at
	most `maxProbeMs`), through Redis; the first probe that gets an answer other than an outage's reopens the queue. `false`
	turns it off.
	@default {probeMs: 100, maxProbeMs: 1000}
	*/
	readonly outage?: OutageOptions | false | undefined;
}

/** The queue's circuit on an outage (`createWorker`'s `outage` option). */
export interface OutageOptions {
	/**
	Milliseconds between probes once a run failed on an outage: the client's `breaker.openMs`, so a fleet of workers sends
	an outage what one client sends it.
	@default 100
	*/
	readonly probeMs?: number | undefined;
	/**
	The longest wait between probes, in milliseconds: each failed probe in a row doubles the wait, up to this. A blip
	costs the queue about `probeMs`; a long outage sees one probe per `maxProbeMs`, and the queue resumes within
	`maxProbeMs` of the API's recovery. Ten times `probeMs` by default: at a steady 100 ms, a 10 s outage alone would cost
	a run of 1,000 jobs 0.1 requests per job (docs/queues.md, figures). `maxProbeMs: probeMs` probes at a steady pace.
	@default 1000
	*/
	readonly maxProbeMs?: number | undefined;
}

/** What the job function is handed on each run of a BullMQ job. */
export interface QueueJobContext<DataType = unknown> {
	/** The BullMQ job: `data`, `id`, `log()`, `updateProgress()`... */
	readonly job: Job<DataType>;
	/** 1 for the first run of the job; a run the queue's rate limit sent back does not count (BullMQ's `attemptsMade` + 1). */
	readonly attempt: number;
	/** Aborted when BullMQ cancels the job, or the queue's outage circuit holds the run back; pass it to work that should stop then. */
	readonly signal: AbortSignal | undefined;
	/** The client, bound to this run: its retries spend the run's allowance, its calls end with the run's `signal`. */
	client(client: KyInstance): KyInstance;
	/**
	A drop-in fetch bound to this run the same way, with the run's retry policy. It resolves with a failing response, as
	fetch does; when the run then throws an error of its own on it, the queue acts on that response as on the error
	`client()` would have thrown: a 404 fails the job at once, a 429's `Retry-After` pauses the queue.
	*/
	readonly fetch: typeof globalThis.fetch;
	/**
	The job's `Idempotency-Key`: derived from the queue and the job's id, the same on every run on every worker. The
	first POST or PATCH of a run through `client()` or `fetch` carries it, the n-th carries it with `-n` appended; a key
	the request sets itself is kept. Hand it to an SDK that takes its own (`{idempotencyKey}`).
	*/
	readonly idempotencyKey: string;
}

/** A job function for `createWorker`. */
export type QueueJobFunction<DataType, ResultType> = (context: QueueJobContext<DataType>) => ResultType | PromiseLike<ResultType>;

const defaultInRunLimit = 1;

/**
A worker's `limiter`, set when none is given. BullMQ reads the queue's rate-limit key (what `rateLimit(ms)` sets) only
for a worker that has a `limiter` (moveToActive-11.lua: `getRateLimitTTL(maxJobs, ...)` needs `maxJobs`): without one, a
rate-limited queue goes on handing out jobs. This one never limits by itself: no worker takes 2^53 jobs a second.
*/
export const pauseOnlyLimiter: { readonly max: number; readonly duration: number } = Object.freeze({
	max: Number.MAX_SAFE_INTEGER,
	duration: 1000,
});

// The run's retry options: steadfetch's defaults, but one retry unless a limit is given.
const inRun = (retry: QueueJobOptions['retry']): RetryOptions =>
	typeof retry === 'number' ? { limit: retry } : { limit: defaultInRunLimit, ...retry };
const policyOf = (retry: QueueJobOptions['retry']): Policy => normalizePolicy({ retry: inRun(retry) });

/**
A BullMQ backoff strategy (`settings.backoffStrategy`, for jobs added with `backoff: {type: 'custom'}`) with steadfetch's
backoff: the client's exponential delay with full jitter for the queue's retry `attemptsMade`, and never sooner than the
error's `retryAt` (the server's `Retry-After`, a circuit's reopening). `createWorker` sets it unless the worker has one.

@example
```ts
// Type-checked, not run: needs a Redis server.
import { Queue, Worker } from 'bullmq';
import { createBackoffStrategy } from 'steadfetch/bullmq';

const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const worker = new Worker('sync', async () => 'done', {
	connection,
	settings: { backoffStrategy: createBackoffStrategy({ baseDelayMs: 1000 }) },
});
await new Queue('sync', { connection }).add('sync', { id: '42' }, { attempts: 5, backoff: { type: 'custom' } });
```
*/
export function createBackoffStrategy(retry?: RetryOptions | number): BackoffStrategy {
	const policy = policyOf(retry);
	return (attemptsMade, _type, error) => {
		const backoff = backoffDelay(policy, Math.max(1, attemptsMade));
		const retryAt = errorKind(error) ? (error as SteadfetchError).retryAt : undefined;
		return Math.max(backoff, retryAt ? Math.ceil(retryAt.getTime() - Date.now()) : 0);
	};
}

const positive = (name: string, value: unknown, fallback: number): number => {
	if (value === undefined) {
		return fallback;
	}
	if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
		throw new TypeError(`Expected \`outage.${name}\` to be a positive number of milliseconds, got ${String(value)}.`);
	}
	return value;
};

const outageSettings = (outage: QueueJobOptions['outage']): { probeMs: number; maxProbeMs: number } | undefined => {
	if (outage === false) {
		return undefined;
	}
	if (outage !== undefined && (typeof outage !== 'object' || outage === null)) {
		throw new TypeError(`Expected \`outage\` to be an object or false, got ${outage === null ? 'null' : typeof outage}.`);
	}
	const probeMs = positive('probeMs', outage?.probeMs, defaults.client.breaker.openMs);
	const maxProbeMs = positive('maxProbeMs', outage?.maxProbeMs, probeMs * defaultProbeGrowth);
	if (maxProbeMs < probeMs) {
		throw new RangeError(`Expected \`outage.maxProbeMs\` to be at least \`outage.probeMs\` (${probeMs}), got ${maxProbeMs}.`);
	}
	return { probeMs, maxProbeMs };
};

// How far the probing interval may grow by default: from the client's `breaker.openMs` to ten times it.
const defaultProbeGrowth = 10;

const workerOptionNames: ReadonlySet<string> = new Set(['retry', 'outage']);

/**
Create a BullMQ `Worker` that runs `fn` for each job, with a context like `retryJob`'s, and hands its failures to the queue
as what they are (`queueAction`):
- a fail-fast error fails the job at once with BullMQ's `UnrecoverableError`: `failedReason` is the enriched message with
  the API docs' advice, and the error's `toJSON()` is written to the job's log (`job.log`);
- a wait the API asked for (429 or 503 with `Retry-After` or a rate-limit reset) rate-limits the **whole queue** until the
  error's `retryAt` (BullMQ's Redis-backed rate limit: every worker of the queue on every machine waits), and the job goes
  back to waiting without an attempt charged (`attemptsMade` unchanged);
- a run that failed on an outage (`outage`) is retried as below, and the whole queue waits: one probe per `probeMs` until
  the API answers again; the runs held back send nothing and are not charged;
- any other failure is BullMQ's to retry, by the job's `attempts` and the worker's backoff strategy
  (`createBackoffStrategy`, set unless `settings.backoffStrategy` is given: add jobs with `backoff: {type: 'custom'}`).

A run that throws its own error on a failing response `fetch` handed back (its last request) is sorted by that response.

The worker gets `pauseOnlyLimiter` unless it has a `limiter`: BullMQ ignores the queue's rate limit in a worker without one.
Its POST and PATCH calls through the run's `client()` and `fetch` carry the job's `Idempotency-Key` (`idempotencyKey`).
Close it with `closeWorker` to let the job in flight finish, or go back to waiting after a grace period.

**Requests per job.** A run whose function makes k requests (first attempts) through `job.client()` or `job.fetch` sends
at most k + L requests, L being `retry.limit` (1 by default): the run's retries are one allowance, and a response that
asks for a wait ends them; a probe has no retry (L = 0), and a run held back by the outage circuit sends nothing. A job
with `attempts` A that the API rate-limited in R of its runs sends at most **(k + L) × (A + R)** requests; with one request
per run and the default, 2A + R. R is bounded only by BullMQ's `maxStartedAttempts` (then A + R ≤ `maxStartedAttempts`).

@example
```ts
// Type-checked, not run: needs a Redis server.
import { Queue } from 'bullmq';
import { createClient } from 'steadfetch';
import { createWorker } from 'steadfetch/bullmq';

const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const api = createClient({ baseUrl: 'https://api.example.com/v1/' });
const worker = createWorker<{ id: string }>(
	'sync',
	async ({ job, client }) => client(api).post('items', { json: job.data }).json(),
	{ connection },
	{ retry: 1 },
);
await new Queue('sync', { connection }).add('sync', { id: '42' }, { attempts: 5, backoff: { type: 'custom' } });
```
*/
export function createWorker<DataType = unknown, ResultType = unknown>(
	name: string,
	fn: QueueJobFunction<DataType, ResultType>,
	workerOptions: WorkerOptions,
	options: QueueJobOptions = {},
): Worker<DataType, ResultType> {
	if (typeof fn !== 'function') {
		throw new TypeError(`Expected the job to be a function, got ${typeof fn}.`);
	}
	if (typeof options !== 'object' || options === null) {
		throw new TypeError(`Expected the options of \`createWorker\` to be an object, got ${options === null ? 'null' : typeof options}.`);
	}
	for (const key of Object.keys(options)) {
		if (!workerOptionNames.has(key)) {
			throw new TypeError(`Unknown option \`${key}\` of \`createWorker\`; BullMQ's own options go in its third argument.`);
		}
	}
	const retry = options.retry;
	const policy = policyOf(retry);
	const retryOptions = inRun(retry);
	const strategy = createBackoffStrategy(retry);
	const probing = outageSettings(options.outage);

	const run = async (job: Job<DataType, ResultType>, signal: AbortSignal, state: RunState): Promise<ResultType> => {
		const { allowance } = state;
		const idempotencyKey = await jobIdempotencyKey(worker.qualifiedName, job.id);
		let keyed = 0;
		const nextKey = (): string => (++keyed === 1 ? idempotencyKey : `${idempotencyKey}-${keyed}`);
		const send = observing((input, init) => globalThis.fetch(input, init), state, signal);
		// A failing response is handed back as fetch does; the queue keeps the error the client would have thrown for it.
		const handBack = (error: SteadfetchError): void => {
			state.handedBack = error;
		};
		const config = normalizeFetchOptions({ retry: retryOptions, fetch: send, idempotencyKey: nextKey, onGiveUp: handBack });
		const bound = fetchWith(config, systemClock, { allowance, deadline: undefined });
		// The run's signal ends its fetch calls too, unless a call brings its own.
		const fetch: typeof globalThis.fetch = (input, init) => bound(input, init?.signal ? init : { ...init, signal });
		// The client's calls spend the run's allowance, end with its signal, are watched as job.fetch's are, and carry the
		// job's key (a client that generates keys keeps the job's instead of making one per run).
		const client = (instance: KyInstance): KyInstance =>
			bindTo(
				instance,
				{ allowance, deadline: undefined, signal, send: (inner) => observing(inner, state, signal), idempotencyKey: nextKey },
				'a client made by createClient: `client()` binds its calls to the run',
			);
		return fn(Object.freeze({ job: job as Job<DataType>, attempt: job.attemptsMade + 1, signal, client, fetch, idempotencyKey }));
	};

	const worker: Worker<DataType, ResultType> = new Worker<DataType, ResultType>(
		name,
		// Three parameters: BullMQ hands a cancellation signal only to a processor that declares it.
		async (job: Job<DataType, ResultType>, _token?: string, signal?: AbortSignal): Promise<ResultType> => {
			const admission = probing ? await circuit.admit() : { kind: 'run' as const };
			if (admission.kind === 'wait') {
				// The admit script paused the queue until the next probe may go: back to waiting, nothing sent, uncharged.
				throw Worker.RateLimitError();
			}
			const probe = admission.kind === 'probe';
			const held = new AbortController();
			const state: RunState = {
				allowance: { retriesLeft: probe ? 0 : policy.limit, tally: newTally() },
				lastFailed: false,
				handedBack: undefined,
				isHeld: probing && !probe ? () => circuit.isOpen() : undefined,
				held,
			};
			try {
				const result = await run(job, signal ? AbortSignal.any([signal, held.signal]) : held.signal, state);
				if (probe) {
					await circuit.close();
				}
				return result;
			} catch (error) {
				// Held back by the circuit before a retry, or closeWorker ran out of patience: the job goes back to waiting,
				// uncharged, for the next probe or another worker.
				if (held.signal.aborted || (signal?.aborted && worker.closing)) {
					throw Worker.RateLimitError();
				}
				// The run's own error, or the failing response job.fetch handed back that the run then threw on.
				const failure = failedOn(error, state);
				const decision = queueAction(failure);
				const outage = probing !== undefined && decision.action === 'retry' && isOutage(failure, state);
				await job.log(logLine(failure));
				if (probe) {
					await (outage ? circuit.probeFailed() : circuit.close());
				} else if (outage) {
					await circuit.open();
				}
				if (decision.action === 'fail') {
					throw new UnrecoverableError((error as Error)?.message ?? String(error));
				}
				if (decision.action === 'pause') {
					await circuit.pause(decision.waitMs);
					throw Worker.RateLimitError();
				}
				throw error;
			}
		},
		{
			...workerOptions,
			limiter: workerOptions.limiter ?? pauseOnlyLimiter,
			settings: { ...workerOptions.settings, backoffStrategy: workerOptions.settings?.backoffStrategy ?? strategy },
		},
	);
	const circuit = new QueueCircuit(worker, probing ?? { probeMs: 1, maxProbeMs: 1 });
	return worker;
}

/** Options of `closeWorker`. */
export interface CloseOptions {
	/**
	How long the jobs in flight may take to finish, in milliseconds. Past it, their runs are aborted (their `signal`, and
	the calls of their `client()` and `fetch`) and the jobs go back to waiting, uncharged, for another worker.
	@default 10000
	*/
	readonly graceMs?: number | undefined;
}

/**
Close a worker made by `createWorker` for a shutdown (SIGTERM): it takes no new job, the jobs in flight finish, and those
still running after `graceMs` are aborted and go back to waiting without an attempt charged. No job is lost, and none runs
on two workers at once: a job goes back only once its run has ended.

@example
```ts
// Type-checked, not run: needs a Redis server.
import { closeWorker, createWorker } from 'steadfetch/bullmq';

const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const worker = createWorker('sync', async ({ job }) => job.data, { connection });
process.once('SIGTERM', () => void closeWorker(worker, { graceMs: 20_000 }).then(() => process.exit(0)));
```
*/
export async function closeWorker(worker: Worker, options: CloseOptions = {}): Promise<void> {
	const graceMs = options.graceMs ?? 10_000;
	if (typeof graceMs !== 'number' || !(graceMs >= 0)) {
		throw new TypeError(`Expected \`graceMs\` to be a non-negative number of milliseconds, got ${String(graceMs)}.`);
	}
	const closing = worker.close();
	const timer = setTimeout(() => worker.cancelAllJobs('steadfetch: the worker is shutting down'), graceMs);
	try {
		await closing;
	} finally {
		clearTimeout(timer);
	}
}
