import { type Job, type Queue, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { KyInstance } from 'ky';
import { bindTo } from '../../engine/binding.ts';
import { systemClock } from '../../engine/clock.ts';
import { newTally } from '../../engine/history.ts';
import { normalizeFetchOptions } from '../../options/normalize.ts';
import { checkNumber, isRecord, maxTimer } from '../../options/rules.ts';
import { fetchWith } from '../../surfaces/fetch.ts';
import type { SteadfetchError } from '../../types.ts';
import { queueAction } from './action.ts';
import { createBackoffStrategy } from './backoff.ts';
import { WorkerClosingError } from './errors.ts';
import { QueueHolds } from './holds.ts';

import { pauseOnlyLimiter, type QueueJobFunction, type QueueJobOptions, workerSettings } from './options.ts';
import { failedOn, isOutage, jobIdempotencyKey, logLine, observing, type RunState } from './run.ts';

/*
The `steadfetch/bullmq` subpath: a BullMQ worker whose job function makes its requests through steadfetch, and whose
failures reach the queue as what they are. Fail-fast errors fail the job at once (UnrecoverableError); a wait the API asked
for pauses the whole queue through BullMQ's Redis-backed rate limit, uncharged; an outage opens the queue's own circuit
(holds.ts), shared by every worker through Redis, as is the pause; other transient failures are BullMQ's own retries, timed by
`createBackoffStrategy`. A job's POST and PATCH calls carry one Idempotency-Key, and `closeWorker` shuts a worker down
without losing or doubling a job. The main entry never imports this file: bullmq and a Redis client stay optional.
*/

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
	const { policy, retry, probing, maxPauseMs } = workerSettings(options);
	const strategy = createBackoffStrategy(options.retry);

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
		const config = normalizeFetchOptions({ retry, fetch: send, idempotencyKey: nextKey, onGiveUp: handBack });
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
		async (job: Job<DataType, ResultType>, _token?: string, cancelled?: AbortSignal): Promise<ResultType> => {
			const admission = await holds.admit();
			if (admission.kind === 'wait') {
				// Paused, or another run probes the outage: back to waiting, nothing sent, uncharged. The admit script stopped
				// the queue fetching jobs meanwhile.
				throw Worker.RateLimitError();
			}
			const probe = admission.kind === 'probe';
			const held = new AbortController();
			const state: RunState = {
				allowance: { retriesLeft: probe ? 0 : policy.limit, tally: newTally() },
				probe,
				lastFailed: false,
				sent: false,
				answered: false,
				heldFor: probe ? undefined : () => holds.heldFor(),
				// A wait longer than maxPauseMs pauses nothing: the job fails with it (below).
				pause: (waitMs) => (waitMs <= maxPauseMs ? holds.pause(waitMs) : Promise.resolve()),
				held,
				heldMs: 0,
				handedBack: undefined,
			};
			// BullMQ aborts with the reason it is given (a string); closeWorker's runs see a WorkerClosingError a job can test.
			const stopping = new AbortController();
			const stop = () => stopping.abort(closing.has(worker) ? new WorkerClosingError() : cancelled?.reason);
			cancelled?.addEventListener('abort', stop, { once: true });
			if (cancelled?.aborted) {
				stop();
			}
			try {
				const result = await run(job, AbortSignal.any([stopping.signal, held.signal]), state);
				if (probe) {
					// Only an answer from the API that is no outage closes the circuit; a run that sent nothing says nothing.
					await (state.answered ? holds.close() : holds.release());
				}
				return result;
			} catch (error) {
				// Held back by the queue's holds before a request, or closeWorker ran out of patience: the job goes back to
				// waiting, uncharged, for the next probe or another worker.
				if (held.signal.aborted || (cancelled?.aborted && worker.closing)) {
					throw Worker.RateLimitError();
				}
				// The run's own error, or the failing response job.fetch handed back that the run then threw on.
				const failure = failedOn(error, state);
				const decision = queueAction(failure);
				// The pause first: the other workers must stop sending before anything else happens here.
				const overlong = decision.action === 'pause' && decision.waitMs > maxPauseMs;
				if (decision.action === 'pause' && !overlong) {
					await holds.pause(decision.waitMs);
				}
				const outage = probing !== undefined && decision.action === 'retry' && isOutage(failure, state);
				if (probe) {
					await (outage ? holds.probeFailed() : state.answered ? holds.close() : holds.release());
				} else if (outage) {
					await holds.open();
				}
				await job.log(logLine(failure));
				if (decision.action === 'fail' || overlong) {
					const message = (error as Error)?.message ?? String(error);
					throw new UnrecoverableError(
						overlong ? `${message} The queue does not pause past maxPauseMs (${maxPauseMs} ms): the job fails.` : message,
					);
				}
				if (decision.action === 'pause') {
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
	// Without the outage circuit, the holds still pause the queue for the API's waits; no run ever opens the circuit.
	const holds = new QueueHolds(worker, probing ?? { probeMs: 1, maxProbeMs: 1 });
	return worker;
}

// The workers closeWorker is closing: their runs' signals abort with a WorkerClosingError.
const closing = new WeakSet<Worker>();

/** Options of `closeWorker`. */
export interface CloseOptions {
	/**
	How long the jobs in flight may take to finish, in milliseconds. Past it, their runs are aborted (their `signal`, with a
	`WorkerClosingError`, and the calls of their `client()` and `fetch`) and the jobs go back to waiting, uncharged, for
	another worker. At most 2^31 - 1, the longest a timer holds.
	@default 10000
	*/
	readonly graceMs?: number | undefined;
}

/**
Close a worker made by `createWorker` for a shutdown (SIGTERM): it takes no new job, the jobs in flight finish, and those
still running after `graceMs` are aborted with a `WorkerClosingError` and go back to waiting without an attempt charged.
No job is lost, and none runs on two workers at once: a job goes back only once its run has ended.

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
	if (!isRecord(options)) {
		throw new TypeError(`Expected the options of \`closeWorker\` to be an object, got ${options === null ? 'null' : typeof options}.`);
	}
	const graceMs = checkNumber('graceMs', options.graceMs, 10_000, 0, maxTimer);
	closing.add(worker);
	const closed = worker.close();
	const timer = setTimeout(() => worker.cancelAllJobs('steadfetch: the worker is shutting down'), graceMs);
	try {
		await closed;
	} finally {
		clearTimeout(timer);
	}
}

/**
Lift what the adapter holds a queue with: the pause a 429's or 503's wait set, the outage circuit, and BullMQ's rate-limit
key. For an operator who knows better than the API's `Retry-After` (a quota raised), or a queue emptied for a fresh
start. `obliterate` alone leaves nothing of the adapter's held for a new queue of the same name but BullMQ's rate-limit
key, which the adapter sets for a second at most.

@example
```ts
// Type-checked, not run: needs a Redis server.
import { Queue } from 'bullmq';
import { liftHolds } from 'steadfetch/bullmq';

await liftHolds(new Queue('sync', { connection: { host: '127.0.0.1', port: 6379 } }));
```
*/
export async function liftHolds(queue: Queue | Worker): Promise<void> {
	const host = queue as Partial<Record<'toKey' | 'getBackend', unknown>> | null;
	if (typeof host?.toKey !== 'function' || typeof host.getBackend !== 'function') {
		throw new TypeError(`Expected \`liftHolds\` to be given a BullMQ Queue or Worker, got ${host === null ? 'null' : typeof host}.`);
	}
	await new QueueHolds(queue, { probeMs: 1, maxProbeMs: 1 }).lift();
}
