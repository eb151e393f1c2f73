import { type Queue, Worker, type WorkerOptions } from 'bullmq';
import { checkNumber, isRecord, maxTimer } from '../../options/rules.ts';
import { createBackoffStrategy } from './backoff.ts';
import { checkHoldsHost, QueueHolds } from './holds.ts';
import { type QueueJobFunction, type QueueJobOptions, workerSettings } from './options.ts';
import { closingReason, processorFor } from './processor.ts';

/*
The `steadfetch/bullmq` subpath: a BullMQ worker whose job function makes its requests through steadfetch, and whose
failures reach the queue as what they are. Fail-fast errors fail the job at once (UnrecoverableError); a wait the API asked
for pauses that API (its origin) for every worker of the queue, through Redis, and the job waits for it uncharged; an
outage opens that origin's circuit (holds.ts), shared by every worker through Redis, as is the pause; other transient
failures are BullMQ's own retries, timed by `createBackoffStrategy`. A job's POST and PATCH calls carry one
Idempotency-Key, and `closeWorker` shuts a worker down without losing or doubling a job. The main entry never imports
this file: bullmq and a Redis client stay optional.
*/

/**
Create a BullMQ `Worker` that runs `fn` for each job, with a context like `retryJob`'s, and hands its failures to the queue
as what they are (`queueAction`):
- a fail-fast error fails the job at once with BullMQ's `UnrecoverableError`: `failedReason` is the enriched message with
  the API docs' advice, and the error's `toJSON()` is written to the job's log (`job.log`);
- a wait the API asked for (429 or 503 with `Retry-After` or a rate-limit reset) pauses **that API** (its origin) for
  every worker of the queue on every machine, through Redis, until the error's `retryAt`, and the job waits in the
  queue's delayed set without an attempt charged (`attemptsMade` unchanged);
- a run that failed on an outage (`outage`) is retried as below, and the queue's runs stop sending to that origin: one
  probe per `probeMs` until it answers again; the runs held back send nothing, wait in the delayed set and are not charged;
- any other failure is BullMQ's to retry, by the job's `attempts` and the worker's backoff strategy
  (`createBackoffStrategy`, set unless `settings.backoffStrategy` is given: add jobs with `backoff: {type: 'custom'}`).

A run asks the holds of an origin before its first request there, and before a retry after a failure: jobs calling
another API go on. A run that throws its own error on a failing response `fetch` handed back (its last request) is sorted
by that response. `createProcessor` gives the same processor to a `Worker` you build yourself.

Its POST and PATCH calls through the run's `client()` and `fetch` carry the job's `Idempotency-Key` (`idempotencyKey`).
Close it with `closeWorker` to let the job in flight finish, or go back to waiting after a grace period.

**Requests per job.** A run whose function makes k requests (first attempts) through `job.client()` or `job.fetch` sends
at most k + L requests, L being `retry.limit` (1 by default): the run's retries are one allowance, and a response that
asks for a wait ends them; a probe has no retry (L = 0), and a run held back by a hold sends nothing. A job
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
	const settings = workerSettings(options);
	const strategy = createBackoffStrategy(options.retry);
	const worker: Worker<DataType, ResultType> = new Worker<DataType, ResultType>(
		name,
		processorFor(() => worker, fn, settings),
		{
			...workerOptions,
			settings: { ...workerOptions.settings, backoffStrategy: workerOptions.settings?.backoffStrategy ?? strategy },
		},
	);
	return worker;
}

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
	const closed = worker.close();
	const timer = setTimeout(() => worker.cancelAllJobs(closingReason), graceMs);
	try {
		await closed;
	} finally {
		clearTimeout(timer);
	}
}

/**
Lift what the adapter holds a queue's requests with, for every origin: the pauses a 429's or 503's wait set, and the
outage circuits. For an operator who knows better than the API's `Retry-After` (a quota raised), or a queue emptied for a
fresh start. The jobs a hold already sent to the delayed set keep their time (`queue.promoteJobs()` runs every delayed job
now, yours too). `obliterate` alone leaves nothing of the adapter's held for a new queue of the same name.

@example
```ts
// Type-checked, not run: needs a Redis server.
import { Queue } from 'bullmq';
import { liftHolds } from 'steadfetch/bullmq';

await liftHolds(new Queue('sync', { connection: { host: '127.0.0.1', port: 6379 } }));
```
*/
export async function liftHolds(queue: Queue | Worker): Promise<void> {
	await new QueueHolds(checkHoldsHost(queue, '`liftHolds`'), { probeMs: 1, maxProbeMs: 1 }).lift();
}
