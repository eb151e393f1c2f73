import { DelayedError, type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { KyInstance } from 'ky';
import { bindTo } from '../../engine/binding.ts';
import { systemClock } from '../../engine/clock.ts';
import { newTally } from '../../engine/history.ts';
import { errorKind } from '../../errors/base.ts';
import { normalizeFetchOptions } from '../../options/normalize.ts';
import { fetchWith } from '../../surfaces/fetch.ts';
import type { SteadfetchError } from '../../types.ts';
import { queueAction } from './action.ts';
import { WorkerClosingError } from './errors.ts';
import { checkHoldsHost, type HoldsHost, QueueHolds } from './holds.ts';
import { type QueueJobFunction, type QueueJobOptions, type WorkerSettings, workerSettings } from './options.ts';
import { failedOn, failedOrigin, isOutage, jobIdempotencyKey, logLine, observing, type RunState } from './run.ts';

/*
The processor BullMQ runs for each job: it binds the job function's `client()` and `fetch` to the run, asks the queue's
holds (holds.ts) before the run sends to an origin, and hands the run's failure to the queue as what it is (queueAction).
`createWorker` builds its Worker on it; `createProcessor` gives it to a Worker the user builds.
*/

/** A BullMQ processor: what `new Worker(name, processor, options)` takes. */
export type QueueProcessor<DataType = unknown, ResultType = unknown> = (
	job: Job<DataType, ResultType>,
	token?: string,
	signal?: AbortSignal,
) => Promise<ResultType>;

// The reason closeWorker cancels the jobs still running past its grace period with; their runs see a WorkerClosingError.
export const closingReason = 'steadfetch: the worker is shutting down';

/** The processor of `fn` for a queue whose holds live in `host`'s Redis (the host is read at the first job). */
export function processorFor<DataType, ResultType>(
	host: () => HoldsHost,
	fn: QueueJobFunction<DataType, ResultType>,
	settings: WorkerSettings,
): QueueProcessor<DataType, ResultType> {
	if (typeof fn !== 'function') {
		throw new TypeError(`Expected the job to be a function, got ${typeof fn}.`);
	}
	const { policy, retry, probing, maxPauseMs } = settings;
	// Made at the first job: createWorker's worker does not exist yet when its processor is made.
	let holds: QueueHolds | undefined;
	const holdsOf = (): QueueHolds => {
		holds ??= new QueueHolds(host(), probing ?? { probeMs: 1, maxProbeMs: 1 });
		return holds;
	};

	const run = async (job: Job<DataType, ResultType>, signal: AbortSignal, state: RunState): Promise<ResultType> => {
		const { allowance } = state;
		const idempotencyKey = await jobIdempotencyKey(job.queueQualifiedName, job.id);
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

	// Each origin this run probed learns what the probe found: an answer closes its circuit, an outage there keeps it open
	// longer, and a probe that got no answer lets the next run probe.
	const settleProbes = async (state: RunState, outageAt: string | undefined): Promise<void> => {
		const circuit = holdsOf();
		for (const [origin, domain] of state.domains) {
			if (domain.probe) {
				await (domain.answered ? circuit.close(origin) : origin === outageAt ? circuit.probeFailed(origin) : circuit.release(origin));
			}
		}
	};

	// Three parameters: BullMQ hands a cancellation signal only to a processor that declares it.
	return async (job: Job<DataType, ResultType>, token?: string, cancelled?: AbortSignal): Promise<ResultType> => {
		const circuit = holdsOf();
		const held = new AbortController();
		const state: RunState = {
			allowance: { retriesLeft: policy.limit, tally: newTally() },
			domains: new Map(),
			lastOrigin: undefined,
			lastFailed: false,
			admit: (origin) => circuit.admit(origin),
			// A wait longer than maxPauseMs pauses nothing: the job fails with it (below).
			pause: (origin, waitMs) => (waitMs <= maxPauseMs ? circuit.pause(origin, waitMs) : Promise.resolve()),
			held,
			heldMs: 0,
			handedBack: undefined,
		};
		// BullMQ aborts with the reason it is given (a string); closeWorker's runs see a WorkerClosingError a job can test.
		const stopping = new AbortController();
		const stop = () => stopping.abort(cancelled?.reason === closingReason ? new WorkerClosingError() : cancelled?.reason);
		cancelled?.addEventListener('abort', stop, { once: true });
		if (cancelled?.aborted) {
			stop();
		}
		// Back to the queue, uncharged, after `ms`: the job waits in BullMQ's delayed set, and no worker sleeps it.
		const later = async (ms: number): Promise<never> => {
			await job.moveToDelayed(Date.now() + Math.max(1, Math.ceil(ms)), token);
			throw new DelayedError();
		};
		try {
			const result = await run(job, AbortSignal.any([stopping.signal, held.signal]), state);
			await settleProbes(state, undefined);
			return result;
		} catch (error) {
			// Held back by an origin's holds before a request: the job waits until they end, uncharged.
			if (held.signal.aborted) {
				await settleProbes(state, undefined);
				return await later(state.heldMs);
			}
			// closeWorker ran out of patience: back to waiting, uncharged, for another worker.
			if (cancelled?.aborted && cancelled.reason === closingReason) {
				await settleProbes(state, undefined);
				throw Worker.RateLimitError();
			}
			// The run's own error, or the failing response job.fetch handed back that the run then threw on.
			const failure = failedOn(error, state);
			const decision = queueAction(failure);
			const origin = failedOrigin(failure, state);
			// The pause first: the other workers must stop sending before anything else happens here (state.pause skips a
			// wait past maxPauseMs, which fails the job below).
			const overlong = decision.action === 'pause' && decision.waitMs > maxPauseMs;
			if (decision.action === 'pause' && origin !== undefined) {
				await state.pause(origin, decision.waitMs);
			}
			const outage = probing !== undefined && decision.action === 'retry' && isOutage(failure, state) ? origin : undefined;
			await settleProbes(state, outage);
			if (outage !== undefined && !state.domains.get(outage)?.probe) {
				await circuit.open(outage);
			}
			// The client's own circuit breaker refused the call without a request: the run is held back, as by the queue's
			// circuit (which it has just opened), and the job waits uncharged until the breaker lets a probe through.
			if (errorKind(failure) === 'circuit') {
				const retryAt = (failure as SteadfetchError).retryAt?.getTime() ?? 0;
				return await later(Math.max(retryAt - Date.now(), probing?.probeMs ?? 1));
			}
			await job.log(logLine(failure));
			if (decision.action === 'fail' || overlong) {
				const message = (error as Error)?.message ?? String(error);
				throw new UnrecoverableError(
					overlong ? `${message} The queue does not pause past maxPauseMs (${maxPauseMs} ms): the job fails.` : message,
				);
			}
			if (decision.action === 'pause') {
				return await later(decision.waitMs);
			}
			throw error;
		}
	};
}

/**
The processor `createWorker` runs, for a `Worker` you build yourself (`new Worker(name, processor, options)`): each job
runs `fn` with a context like `retryJob`'s, and its failures reach the queue as `createWorker` hands them (docs/queues.md).
`queue` is a BullMQ `Queue` of the same queue (name, prefix and Redis server): the holds (a 429's pause and the outage
circuit, per origin) live in its Redis; a job of another queue fails at once with a `TypeError`'s message. Set the
worker's `settings.backoffStrategy` to `createBackoffStrategy(options.retry)` for jobs added with
`backoff: {type: 'custom'}`, as `createWorker` does.

@example
```ts
// Type-checked, not run: needs a Redis server.
import { Queue, Worker } from 'bullmq';
import { createClient } from 'steadfetch';
import { createBackoffStrategy, createProcessor } from 'steadfetch/bullmq';

const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const api = createClient({ baseUrl: 'https://api.example.com/v1/' });
const queue = new Queue('sync', { connection });
const processor = createProcessor(queue, async ({ client, job }) => client(api).get(`items/${job.data}`).json());
const worker = new Worker('sync', processor, { connection, settings: { backoffStrategy: createBackoffStrategy() } });
await worker.close();
await queue.close();
```
*/
export function createProcessor<DataType = unknown, ResultType = unknown>(
	queue: Queue,
	fn: QueueJobFunction<DataType, ResultType>,
	options: QueueJobOptions = {},
): QueueProcessor<DataType, ResultType> {
	const host = checkHoldsHost(queue, '`createProcessor`');
	const processor = processorFor(() => host, fn, workerSettings(options, 'createProcessor'));
	const qualifiedName = (queue as { readonly qualifiedName?: unknown }).qualifiedName;
	return async (job, token, signal) => {
		if (job.queueQualifiedName !== qualifiedName) {
			throw new UnrecoverableError(
				`TypeError: the processor of \`createProcessor\` is for the queue ${String(qualifiedName)}, and got a job of ${job.queueQualifiedName}.`,
			);
		}
		return await processor(job, token, signal);
	};
}
