import type { Job } from 'bullmq';
import type { KyInstance } from 'ky';
import { defaults } from '../../options/defaults.ts';
import { normalizePolicy } from '../../options/normalize.ts';
import type { Policy, RetryOptions } from '../../options/options.ts';
import { checkFeature, checkNumber, isRecord, maxTimer, rejectOption } from '../../options/rules.ts';

/** Options of `createWorker`, beside BullMQ's own `WorkerOptions`. */
export interface QueueJobOptions {
	/**
	The retries inside one run of a job: `retry.limit` is the run's whole allowance, spent by requests through `job.client()` and `job.fetch`; the queue's `attempts` are the job's real retries. The delays time the in-run retries of `job.fetch` and the backoff between the queue's attempts (`createBackoffStrategy`).
	@default {limit: 1, baseDelayMs: 300, factor: 2, maxDelayMs: 30000, jitter: true}
	*/
	readonly retry?: RetryOptions | number | undefined;
	/**
	What the queue does on an API's outage: when a run fails on one (its requests failed with a 5xx, a network error or a
	timeout until its allowance ran out, the client's retry budget was spent, or the client's circuit breaker is open),
	every worker of the queue stops sending to that API (its origin) and one probe goes per `probeMs` (doubled by each
	failed probe in a row, at most `maxProbeMs`), through Redis; the first probe that gets an answer other than an outage's
	reopens it. Jobs calling other APIs go on. `false` turns it off.
	@default {probeMs: 100, maxProbeMs: 1000}
	*/
	readonly outage?: OutageOptions | false | undefined;
	/**
	The longest an API's jobs are held for a wait it asked for (a 429's or 503's `Retry-After` or rate-limit reset), in
	milliseconds. A pause holds every job of every worker that calls the API: a longer wait (`Retry-After: 86400`, or a
	nonsense one of decades) fails the job instead, at once, with the API's `retryAt` in its error, as a client fails a
	call whose wait is over `retry.maxDelayMs`. At most 2^31 - 1.
	@default 600000
	*/
	readonly maxPauseMs?: number | undefined;
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
	/** 1 for the first run of the job; a run an API's pause or circuit held back does not count (BullMQ's `attemptsMade` + 1). */
	readonly attempt: number;
	/** Aborted when BullMQ cancels the job, or an API's pause or outage circuit holds the run back; pass it to work that should stop then. */
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

export const defaultInRunLimit = 1;

// The run's retry options: steadfetch's defaults, but one retry unless a limit is given.
export const inRun = (retry: QueueJobOptions['retry']): RetryOptions =>
	typeof retry === 'number' ? { limit: retry } : { limit: defaultInRunLimit, ...retry };
export const policyOf = (retry: QueueJobOptions['retry']): Policy => normalizePolicy({ retry: inRun(retry) });

/** `createWorker`'s and `createProcessor`'s own options, checked. */
export interface WorkerSettings {
	readonly policy: Policy;
	readonly retry: RetryOptions;
	/** The probing interval of the outage circuit; undefined when `outage: false`. */
	readonly probing: { readonly probeMs: number; readonly maxProbeMs: number } | undefined;
	readonly maxPauseMs: number;
}

// How far the probing interval may grow by default: from the client's `breaker.openMs` to ten times it.
const defaultProbeGrowth = 10;
const defaultMaxPauseMs = 600_000;

// Whole milliseconds, as Redis keeps them: a probing interval of 0.5 would be no interval at all.
const wholeMs = (path: string, value: unknown, fallback: number, max: number): number => {
	const ms = checkNumber(path, value, fallback, 1, max);
	if (!Number.isInteger(ms)) {
		rejectOption(path, `a whole number of milliseconds from 1 to ${max}`, value);
	}
	return ms;
};

const outageSettings = (outage: unknown, maxPauseMs: number): WorkerSettings['probing'] => {
	const options = checkFeature('outage', outage, ['probeMs', 'maxProbeMs']);
	if (!options) {
		return undefined;
	}
	// No probing interval may hold the queue longer than the longest pause it takes from the API.
	const probeMs = wholeMs('outage.probeMs', options.probeMs, Math.min(defaults.client.breaker.openMs, maxPauseMs), maxPauseMs);
	const maxProbeMs = wholeMs('outage.maxProbeMs', options.maxProbeMs, Math.min(probeMs * defaultProbeGrowth, maxPauseMs), maxPauseMs);
	if (maxProbeMs < probeMs) {
		throw new RangeError(`Expected \`outage.maxProbeMs\` to be at least \`outage.probeMs\` (${probeMs}), got ${maxProbeMs}.`);
	}
	return { probeMs, maxProbeMs };
};

const workerOptionNames: readonly string[] = ['retry', 'outage', 'maxPauseMs'];

/** Check `createWorker`'s (or `createProcessor`'s) own options, as `createClient` checks its own: a TypeError naming the option. */
export function workerSettings(options: unknown, entry: 'createWorker' | 'createProcessor' = 'createWorker'): WorkerSettings {
	if (!isRecord(options)) {
		throw new TypeError(`Expected the options of \`${entry}\` to be an object, got ${options === null ? 'null' : typeof options}.`);
	}
	const where = entry === 'createWorker' ? "BullMQ's own options go in its third argument" : "BullMQ's own options go to the Worker";
	for (const key of Object.keys(options)) {
		if (!workerOptionNames.includes(key)) {
			throw new TypeError(`Unknown option \`${key}\` of \`${entry}\`; ${where}.`);
		}
	}
	const retry = inRun(options.retry as QueueJobOptions['retry']);
	const maxPauseMs = wholeMs('maxPauseMs', options.maxPauseMs, defaultMaxPauseMs, maxTimer);
	return Object.freeze({
		policy: normalizePolicy({ retry }),
		retry,
		probing: outageSettings(options.outage, maxPauseMs),
		maxPauseMs,
	});
}
