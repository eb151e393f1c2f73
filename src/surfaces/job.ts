import type { KyInstance } from 'ky';
import pRetry from 'p-retry';
import { bindTo, isBindable } from '../engine/binding.ts';
import { type Clock, systemClock } from '../engine/clock.ts';
import { newTally } from '../engine/history.ts';
import { isBug, type JobState, judgeJobFailure } from '../engine/job-policy.ts';
import { errorKind } from '../errors/base.ts';
import { defaults } from '../options/defaults.ts';
import { normalizeFetchOptions, normalizePolicy } from '../options/normalize.ts';
import type { RetryEvent, RetryOptions } from '../options/options.ts';
import { readOptions } from '../options/read.ts';
import { checkOptionsObject } from '../options/request-rules.ts';
import { checkCallback, checkFlag, checkOptionNames } from '../options/rules.ts';
import type { Allowance, JobBinding, SteadfetchError } from '../types.ts';
import { fetchWith } from './fetch.ts';

/** Options of `retryJob`. */
export interface JobOptions {
	/**
	The job's retry policy. `retry.limit` is the job's whole allowance of retries: retries of the job itself and retries of the requests it makes through `job.client()` and `job.fetch()` all spend from it. The delays (`baseDelayMs`, `factor`, `maxDelayMs`, `jitter`) time the job's own retries.
	@default {limit: 2, baseDelayMs: 300, factor: 2, maxDelayMs: 30000, jitter: true}
	*/
	readonly retry?: RetryOptions | number | undefined;
	/**
	Stops the job: an attempt in flight (through `job.signal`, `job.client()`, `job.fetch()`) or a wait between attempts ends at once, and the job rejects with the signal's reason.
	@default undefined
	*/
	readonly signal?: AbortSignal | undefined;
	/**
	The most time the job may take, in milliseconds: no retry starts after it, and requests through `job.client()` and `job.fetch()` end by it too (a client's own `totalTimeout` still holds when it ends sooner).
	@default Infinity
	*/
	readonly maxRetryTime?: number | undefined;
	/**
	Called before each retry of the job with what the attempt threw, the next attempt's number and the wait.
	@default undefined
	*/
	readonly onRetry?: ((event: RetryEvent<Error>) => void) | undefined;
	/**
	Called once when the job fails for good, with the error it rejects with.
	@default undefined
	*/
	readonly onGiveUp?: ((error: Error) => void) | undefined;
	/**
	Let a Node process exit while the job waits: between its attempts, and in the waits of its requests through `job.client()` and `job.fetch()` (backoff, `Retry-After`, rate-limit pacing). By default a pending job keeps the process alive, as p-retry does: a script whose only work is `await retryJob(...)` runs it to its end. A long-lived service that must not be held open by a job's wait sets it.
	@default false
	*/
	readonly unref?: boolean | undefined;
	/**
	A fetch made by `createFetch`, to be `job.fetch`: bound to the job (its retries spend the job's allowance and stop at its deadline), with everything else its own: retry policy, `idempotencyKey`, `throwHttpErrors`, callbacks, and the per-origin budget, breaker and pacing it shares with every other call and job that uses it. Without it, `job.fetch` is a fresh drop-in fetch with the job's `retry` and default guards that last one job.
	@default undefined
	*/
	readonly fetch?: typeof globalThis.fetch | undefined;
}

/** What the job's function is handed on each attempt. */
export interface JobContext {
	/** 1 for the first attempt of the job. */
	readonly attempt: number;
	/** How many retries the job may still make, its requests' retries included. */
	readonly retriesLeft: number;
	/** The job's `signal`; pass it to work that should stop when the job is stopped. */
	readonly signal: AbortSignal | undefined;
	/** The client, bound to the job: its retries spend the job's allowance, its calls end by the job's deadline and signal, and its errors count every attempt of the job. */
	client(client: KyInstance): KyInstance;
	/** A drop-in fetch bound to the job the same way, with the job's retry policy. */
	readonly fetch: typeof globalThis.fetch;
}

const jobOptionNames: readonly string[] = ['retry', ...Object.keys(defaults.job)];

/** What a job queue should do with a job that failed. */
export type QueueDecision = { readonly permanent: true } | { readonly permanent: false; readonly retryAt: Date | undefined };

/**
Run `fn` and retry it as a whole on failure, with the same classification as the client: a fail-fast error (400, 401, 404, a bad option's `TypeError`) stops at once; transient ones (5xx, 429, network, timeouts) are retried with backoff, never sooner than the `Retry-After` they carry; errors that are not steadfetch's are retried, but a non-network `TypeError` (a bug) is not. Rejects with the last error, whose `attempts` and `history` cover every HTTP attempt the job made through `job.client()` or `job.fetch()`.

Retries do not multiply across layers: the job and the requests it makes through the job's context spend one allowance of `retry.limit` retries, so a job whose requests always fail makes at most `retry.limit + 1` requests per request it makes in one pass. A pending job keeps a Node process alive, unless `unref` is set.

@example
```ts
import { createClient, retryJob } from 'steadfetch';

const api = createClient({ baseUrl: 'https://api.example.com/v1/' });
const shutdown = new AbortController();
await retryJob(
	async (job) => {
		const items = await job.client(api).get('items').json<unknown[]>();
		await saveAll(items);
	},
	{ signal: shutdown.signal, maxRetryTime: 60_000 },
);
```
*/
export function retryJob<T>(fn: (job: JobContext) => T | PromiseLike<T>, options: JobOptions = {}): Promise<T> {
	return runJob(fn, options, systemClock);
}

/** `retryJob` on a given clock: the system's for users, a spec's own in specs. */
export async function runJob<T>(fn: (job: JobContext) => T | PromiseLike<T>, input: JobOptions, clock: Clock): Promise<T> {
	if (typeof fn !== 'function') {
		throw new TypeError(`Expected the job to be a function, got ${typeof fn}.`);
	}
	checkOptionsObject(input);
	const options = readOptions(input);
	checkOptionNames('retryJob', options as Record<string, unknown>, jobOptionNames);
	const { signal, maxRetryTime = defaults.job.maxRetryTime, onRetry, onGiveUp } = options;
	const unref = checkFlag('unref', options.unref, defaults.job.unref);
	const policy = normalizePolicy({ ...(options.retry === undefined ? {} : { retry: options.retry }) });
	checkCallback('onRetry', onRetry);
	checkCallback('onGiveUp', onGiveUp);
	if (typeof maxRetryTime !== 'number' || !(maxRetryTime > 0)) {
		throw new TypeError(`Expected \`maxRetryTime\` to be a positive number of milliseconds, got ${String(maxRetryTime)}.`);
	}
	if (options.fetch !== undefined && !isBindable(options.fetch)) {
		throw new TypeError('Expected `fetch` to be a fetch made by createFetch, whose policy and guards the job can take on.');
	}
	if (signal !== undefined && !(signal instanceof AbortSignal)) {
		throw new TypeError('Expected `signal` to be an AbortSignal.');
	}
	const deadline = Number.isFinite(maxRetryTime) ? clock.monotonic() + maxRetryTime : undefined;
	const allowance: Allowance = { retriesLeft: policy.limit, tally: newTally() };
	const job: JobState = { policy, clock, allowance, deadline, onRetry };
	// The job's requests spend its allowance, end by its deadline and wait as it does (unref): client.ts and fetch.ts read it.
	const binding: JobBinding = { allowance, deadline, unref, signal };
	const fetch = options.fetch
		? bindTo(options.fetch, binding, 'a fetch made by createFetch')
		: fetchWith(normalizeFetchOptions({ retry: options.retry ?? {} }), clock, binding);
	const client = (instance: KyInstance): KyInstance =>
		bindTo(instance, binding, 'a client made by createClient: `job.client()` binds its calls to the job');

	return pRetry((attempt) => fn(Object.freeze({ attempt, retriesLeft: allowance.retriesLeft, signal, client, fetch })), {
		// The allowance is the real bound; p-retry's count only backs it up. Waits are the engine's (full jitter,
		// Retry-After), so p-retry's are zero.
		retries: policy.limit,
		minTimeout: 0,
		unref,
		...(signal ? { signal } : {}),
		onFailedAttempt: async ({ error, attemptNumber }) => {
			const decision = judgeJobFailure(job, error, attemptNumber);
			if (!decision.retry) {
				onGiveUp?.(error);
				throw error;
			}
			await clock.sleep(decision.delayMs, signal, unref);
		},
	});
}

/**
What a job queue should do with a failed job: drop it for good (a fail-fast error: retrying cannot help), or run it again at `retryAt` (from `Retry-After`, or the next backoff) instead of holding a worker. Errors that are not steadfetch's count as transient with no time.
*/
export function queueDecision(error: unknown): QueueDecision {
	if (!errorKind(error)) {
		return isBug(error) ? { permanent: true } : { permanent: false, retryAt: undefined };
	}
	const { retryable, retryAt } = error as SteadfetchError;
	return retryable ? { permanent: false, retryAt } : { permanent: true };
}
