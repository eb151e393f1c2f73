import isNetworkError from 'is-network-error';
import type { Clock } from './clock.ts';
import { type CallRef, channels, tracing } from './diagnostics.ts';
import { errorKind } from './errors/base.ts';
import { createError } from './errors/create.ts';
import type { RequestConfig } from './normalize.ts';
import type { Policy, RetryEvent } from './options.ts';
import { guardDecision, type OriginGuard, Origins, originOf, report } from './origins.ts';
import { backoffDelay, decide, isKeyedMethod, isRepeatable, isTransient, spend, timeAfter } from './policy.ts';
import { readQuota, readWait } from './ratelimit.ts';
import { redactUrl } from './redact.ts';
import type { Allowance, Decision, JobBinding, Outcome, SteadfetchError, StopReason, Tally } from './types.ts';

/*
The step around every attempt, once for every surface: admit by the origin's breaker, count and time the attempt,
record its outcome and tell the origin's guard, decide (policy, then budget and breaker, then a job's allowance),
note the wait, tell onRetry or onGiveUp, build the enriched error. The drivers (client.ts, fetch.ts, job.ts) only
carry the decision out: they send, sleep, throw or return.
*/

/** How a failed attempt, or a failed call, is described; the request and the data are read only on the failure path. */
export interface Failure {
	/** How the attempt ended; `body` is a success whose body was cut off while read, `circuit` a refusal by the breaker. */
	readonly outcome: Outcome | 'body' | 'circuit';
	readonly method: string;
	readonly hasIdempotencyKey: boolean;
	/** The request as sent; the error keeps only a redacted copy. */
	readonly request: () => Request;
	readonly response?: Response | undefined;
	readonly data?: unknown;
	/** The runtime's error, for failures without a response. */
	readonly cause?: unknown;
	/** False when the body was a stream sent once: a transient failure then stops. */
	readonly replayable?: boolean;
	/** A retry an `afterResponse` hook forced (ky.retry()): within the limit, after its own wait or the backoff, whatever the policy says. */
	readonly forced?: { readonly delayMs: number | undefined } | undefined;
	/** The attempt ran into the call's deadline: nothing can follow it. */
	readonly pastDeadline?: boolean | undefined;
}

/** One attempt of a call, from the moment it is admitted until its outcome is recorded. */
export interface Attempt {
	readonly number: number;
	readonly start: number;
	settled: boolean;
}

/** How one call is bounded, beyond the engine's policy. */
export interface CallOptions {
	/** The retry policy of this call, when options given per call or to `extend()` changed the engine's. */
	readonly policy?: Policy | undefined;
	/** The job this call runs in: its retries spend the job's allowance, its attempts count in the job's tally. */
	readonly allowance?: Allowance | undefined;
	/** The monotonic time (`clock.monotonic()`) by which the call must end: no retry may start after it. */
	readonly deadline?: number | undefined;
	/** The option that set the deadline, as the user wrote it: a stop names it. */
	readonly deadlineOption?: 'totalTimeout' | 'maxRetryTime' | undefined;
	/** The job's `unref`: the call's waits do not keep a Node process alive. */
	readonly unref?: boolean | undefined;
}

// How much of a long history is kept: the first attempts (how it began) and the last (how it ended).
const historyHead = 10;
const historyTail = 40;

/** An empty tally, for a call or a job. */
export const newTally = (): Tally => ({ attempts: 0, history: [], omitted: 0 });

// Keep the record, leaving out the oldest of the tail once the history is full: bounded, whatever a job makes.
const keep = (tally: Tally, record: Tally['history'][number]): void => {
	if (tally.history.length >= historyHead + historyTail) {
		tally.history.splice(historyHead, 1);
		tally.omitted++;
	}
	tally.history.push(record);
};

/** What every message of a call says of it. */
interface Place {
	readonly call: CallRef;
	readonly origin: string;
	readonly method: string;
	readonly url: string;
}

// Numbers the calls a subscriber hears of, for its logs (a call's identity is its CallRef object).
let lastCallId = 0;

/** What every call of one client or one drop-in fetch shares: its validated options, its guards per origin, its clock. */
export class Engine {
	readonly config: RequestConfig;
	readonly clock: Clock;
	readonly origins: Origins;
	/** The drop-in fetch keeps fetch's rejection shape: a network failure is a `TypeError`. */
	readonly shape: 'ky' | 'fetch';

	constructor(config: RequestConfig, clock: Clock, shape: 'ky' | 'fetch') {
		this.config = config;
		this.clock = clock;
		this.shape = shape;
		this.origins = new Origins(config.budget, config.breaker, config.rateLimit);
	}

	/** Start a call: its own count of attempts, or its job's. */
	call(options: CallOptions = {}): Call {
		return new Call(this, options);
	}
}

/** The attempts of one call: one `client.get(...)` or one `fetch(...)`, with all its retries. */
export class Call {
	readonly policy: Policy;
	/** The call's own tally, or its job's, shared by every call of the job. */
	readonly tally: Tally;
	/** This call's own attempts (the tally may count a whole job's). */
	attempts = 0;
	/** Whether the call's waits let a Node process exit (its job's `unref`). */
	readonly unref: boolean;
	readonly #engine: Engine;
	readonly #allowance: Allowance | undefined;
	readonly #deadline: number | undefined;
	readonly #deadlineOption: 'totalTimeout' | 'maxRetryTime' | undefined;
	#guard: OriginGuard | undefined;
	#guardUrl: string | undefined;
	#current: Attempt | undefined;
	#request: (() => Request) | undefined;
	// What a subscriber hears of this call: made with the call's first message, once a subscriber listens.
	#ref: CallRef | undefined;
	// The last #where(), and the request it was read from: a call's messages say the same until the request changes.
	#place: Place | undefined;
	#placeOf: (() => Request) | undefined;
	#begun = false;
	#ended = false;

	constructor(engine: Engine, { policy, allowance, deadline, deadlineOption, unref = false }: CallOptions) {
		this.#engine = engine;
		this.policy = policy ?? engine.config.policy;
		this.#allowance = allowance;
		this.tally = allowance?.tally ?? newTally();
		this.#deadline = deadline;
		this.#deadlineOption = deadlineOption;
		this.unref = unref;
	}

	/** The time left before the call's deadline (`totalTimeout`, a job's `maxRetryTime`), in milliseconds; undefined for none. */
	remainingMs(): number | undefined {
		return this.#deadline === undefined ? undefined : this.#deadline - this.#engine.clock.monotonic();
	}

	/**
	Wait, if the origin's rate limit says so, before the next attempt: undefined when it may go now (the common case,
	with no promise to await), else the wait. A reset further than `retry.maxDelayMs` away, or past the call's deadline,
	ends the call at once, with a 429 error that says when (`stopReason: 'rate-limited'` or `'deadline'`), after
	`onGiveUp`, and nothing is sent: a wait the call cannot finish must not hold a place in the window for it.
	*/
	pace(url: string, request: () => Request, signal?: AbortSignal): Promise<void> | undefined {
		const pacer = this.#guardOf(url)?.pacer;
		const { clock } = this.#engine;
		const wait = pacer?.reserve(clock.now()) ?? 0;
		if (wait === 0) {
			return undefined;
		}
		this.#open();
		const remaining = this.remainingMs();
		const reason = wait > this.policy.maxDelayMs ? 'rate-limited' : remaining !== undefined && wait >= remaining ? 'deadline' : undefined;
		if (channels.pacing?.hasSubscribers) {
			this.#request = request;
			channels.pacing.publish({ ...this.#where(), waitMs: wait, refused: reason !== undefined });
		}
		if (reason) {
			const refusal: Failure = {
				outcome: 429,
				method: '',
				hasIdempotencyKey: false,
				request,
				// No request was sent: the 429 stands for what the API said of its window.
				response: new Response(null, { status: 429, statusText: 'Too Many Requests' }),
			};
			const retryAt = timeAfter(clock.now(), wait);
			return Promise.reject(this.giveUp(refusal, { retry: false, reason, retryAt }));
		}
		return this.wait(wait, signal).then(() => this.pace(url, request, signal));
	}

	/**
	Admit the next attempt to the URL's origin, count it and start its timer. An open breaker refuses: the call ends with
	a `CircuitOpenError` (thrown here, after `onGiveUp`), and nothing is sent.
	*/
	begin(url: string, request: () => Request): Attempt {
		const { clock } = this.#engine;
		this.#request = request;
		this.#open();
		const admission = this.#guardOf(url)?.breaker?.admit(clock.now());
		if (admission && !admission.admitted) {
			const refusal: Failure = { outcome: 'circuit', method: '', hasIdempotencyKey: false, request };
			throw this.giveUp(refusal, { retry: false, reason: 'circuit-open', retryAt: admission.retryAt });
		}
		this.attempts++;
		const attempt: Attempt = { number: ++this.tally.attempts, start: clock.monotonic(), settled: false };
		this.#current = attempt;
		if (channels.attemptStart?.hasSubscribers) {
			channels.attemptStart.publish({ ...this.#where(), attempt: attempt.number });
		}
		return attempt;
	}

	/**
	Record how an attempt ended, once, whoever sees it first (the response, or the retry decision on a failure: a response
	that arrives after its attempt timed out finds it settled), and tell the origin's guard. `undefined`: it ended without
	an outcome of its own (aborted).
	*/
	settle(attempt: Attempt | undefined, outcome: Outcome | undefined, headers?: Headers): void {
		if (!attempt || attempt.settled) {
			return;
		}
		attempt.settled = true;
		const { clock } = this.#engine;
		const durationMs = Math.round(clock.monotonic() - attempt.start);
		// A 429 is the API pacing its callers, alive and answering: no sign of an outage, nor of a recovery.
		if (outcome !== undefined && outcome !== 429) {
			report(this.#guard, isTransient(this.policy, outcome), clock.now(), durationMs);
		}
		const pacer = this.#guard?.pacer;
		if (pacer && headers) {
			const quota = readQuota(headers, clock.now());
			if (quota) {
				pacer.observe(quota);
			}
		}
		const { number } = attempt;
		// Written out rather than spread in: this runs for every response.
		const record =
			typeof outcome === 'number'
				? { attempt: number, status: outcome, durationMs }
				: outcome
					? { attempt: number, failure: outcome, durationMs }
					: { attempt: number, durationMs };
		keep(this.tally, record);
		if (channels.attemptEnd?.hasSubscribers) {
			channels.attemptEnd.publish({ ...this.#where(), ...record });
		}
		if (typeof outcome === 'number' && outcome < 400) {
			if (channels.callEnd?.hasSubscribers) {
				channels.callEnd.publish({ ...this.#where(), ok: true, status: outcome, attempts: this.attempts });
			}
		}
	}

	/** Settle the attempt in flight without an outcome of its own: it was aborted, or a hook threw. */
	abandon(): void {
		this.settle(this.#current, undefined);
	}

	/**
	Send an attempt's request: `send(input, init)`, inside what a tracer runs around it (`steadfetch/otel`: the attempt's
	span as the active context). Arguments rather than a closure, so that nobody tracing allocates nothing.
	*/
	send<I, N, R>(send: (input: I, init: N) => R, input: I, init: N): R {
		const { around } = tracing;
		const ref = this.#ref;
		return around && ref ? around(ref, () => send(input, init)) : send(input, init);
	}

	/**
	The call ended with an error the engine did not decide: an abort, an exception of a hook or a callback. The attempt in
	flight is settled without an outcome, and call:end is told once (the engine's own ends tell it in `giveUp`).
	*/
	end(error: unknown): void {
		this.abandon();
		// A wait was announced, then the call ended before the attempt it was for: the record must not promise it.
		const record = this.tally.history.findLast((entry) => entry.attempt === this.#current?.number);
		if (record) {
			delete record.delayMs;
		}
		if (this.#begun && !this.#ended && channels.callEnd?.hasSubscribers) {
			this.#ended = true;
			const name = (error as { name?: unknown } | undefined)?.name;
			channels.callEnd.publish({
				...this.#where(),
				ok: false,
				error: typeof name === 'string' ? name : 'Error',
				attempts: this.attempts,
			});
		}
	}

	/** Sleep a wait of the call (a backoff, a rate-limit reset); an abort during it ends the call. */
	wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
		const slept = this.#engine.clock.sleep(ms, signal, this.unref);
		return signal
			? slept.catch((error: unknown) => {
					this.end(error);
					throw error;
				})
			: slept;
	}

	/** Whether one more attempt could be a retry: the method is safe to repeat, and the count is not spent. */
	canRetry(method: string, hasIdempotencyKey: boolean): boolean {
		return this.attempts <= this.policy.limit && isRepeatable(this.policy, method, hasIdempotencyKey);
	}

	/**
	The one step after a failed attempt: record it, decide (the policy, then the origin's budget and breaker, then the
	job's allowance), and on a retry note the wait in the attempt's record and tell `onRetry`. The driver sleeps
	`delayMs` and sends again, or ends the call with `giveUp`.
	*/
	judge(failure: Failure): Decision {
		const { clock } = this.#engine;
		const attempt = this.#current;
		const outcome = failure.outcome as Outcome;
		this.settle(attempt, outcome, failure.response?.headers);
		const now = clock.now();
		const allowed: Decision =
			failure.replayable === false
				? { retry: false, reason: isTransient(this.policy, outcome) ? 'unreplayable-body' : 'permanent' }
				: failure.pastDeadline
					? { retry: false, reason: 'deadline' }
					: failure.forced
						? this.#force(failure.forced.delayMs)
						: this.#decide(failure, now);
		// A retry at the time a 429 names is the API's own schedule, not load it did not ask for: it spends no budget.
		const scheduled = outcome === 429 && failure.response !== undefined && readWait(failure.response.headers, 429, now) !== undefined;
		const decision = spend(this.#allowance, scheduled ? allowed : guardDecision(this.#guard, allowed, now), now);
		if (!decision.retry) {
			if (allowed.retry) {
				if (channels.retryWithheld?.hasSubscribers) {
					channels.retryWithheld.publish({ ...this.#where(), attempt: attempt?.number, reason: decision.reason });
				}
			}
			return decision;
		}
		if (channels.retry?.hasSubscribers) {
			channels.retry.publish({ ...this.#where(), attempt: this.attempts + 1, delayMs: decision.delayMs, after: outcome });
		}
		const record = this.tally.history.findLast((entry) => entry.attempt === attempt?.number);
		if (record) {
			record.delayMs = decision.delayMs;
		}
		const { onRetry } = this.policy;
		try {
			onRetry?.({
				error: this.describe(failure, decision),
				attempt: this.attempts + 1,
				maxAttempts: this.policy.limit + 1,
				delayMs: decision.delayMs,
			});
		} catch (error) {
			// The callback's exception ends the call, on every surface: a subscriber hears of the end.
			this.end(error);
			throw error;
		}
		return decision;
	}

	/**
	An error the fetch threw that is no network failure (a custom fetch's own, not an abort): ky lets `shouldRetry` retry
	it, and so does the engine, within the limit, the method rule, the deadline and a job's allowance. The attempt is
	settled without an outcome (no guard hears of it) and nobody else is told: a stop ends the call with the error as it is.
	*/
	judgeForeign(error: Error, method: string, hasIdempotencyKey: boolean): Decision {
		const { clock } = this.#engine;
		const { shouldRetry } = this.policy;
		this.abandon();
		const now = clock.now();
		const retry = this.attempts;
		const decision = decide(
			this.policy,
			{
				outcome: 'network',
				method,
				hasIdempotencyKey,
				retry,
				remainingMs: this.remainingMs(),
				now,
				foreign: true,
				ask: shouldRetry && (() => shouldRetry({ error: error as SteadfetchError, retryCount: retry })),
			},
			clock.random,
		);
		return spend(this.#allowance, decision, now);
	}

	/** End the call: the enriched error, after `onGiveUp` has seen it. */
	giveUp(failure: Failure, decision: Decision | undefined): SteadfetchError {
		const error = this.describe(failure, decision);
		try {
			this.policy.onGiveUp?.(error);
		} finally {
			// Told even when onGiveUp throws (the call then ends with that exception), and once: end() says no more.
			this.#ended = true;
			if (channels.callEnd?.hasSubscribers) {
				channels.callEnd.publish({
					...this.#where(),
					ok: false,
					error: error.name,
					status: error.status,
					stopReason: error.stopReason,
					attempts: this.attempts,
				});
			}
		}
		return error;
	}

	/** End the call with the failing response handed back as it is (the drop-in fetch): its error is built only if `onGiveUp` or a subscriber wants it. */
	resolveWith(failure: Failure, decision: Decision): void {
		if (this.policy.onGiveUp || channels.callEnd?.hasSubscribers) {
			this.giveUp(failure, decision);
		}
	}

	/** The enriched error for a failure: class by status or kind, the docs' advice, the tally, nothing secret. */
	describe(failure: Failure, decision: Decision | undefined): SteadfetchError {
		const { config, clock, shape } = this.#engine;
		const { outcome } = failure;
		return createError({
			catalog: config.catalog,
			secrets: config.secrets,
			secretHeaders: config.secretHeaders,
			outcome,
			retryable: outcome === 'circuit' || outcome === 'body' || isTransient(this.policy, outcome),
			request: failure.request(),
			response: failure.response,
			data: failure.data,
			attempts: this.tally.attempts,
			history: this.tally.history,
			historyOmitted: this.tally.omitted,
			deadlineOption: this.#deadlineOption,
			decision,
			cause: failure.cause,
			shape,
			now: clock.now(),
		});
	}

	// pace() and begin() ask for the same attempt's origin, and retries for the same URL again: look it up once per URL
	// (reading the origin out of the URL and moving it in the LRU are work on every request).
	#guardOf(url: string): OriginGuard | undefined {
		if (url !== this.#guardUrl) {
			this.#guard = this.#engine.origins.of(url);
			this.#guardUrl = url;
		}
		return this.#guard;
	}

	// The call's first message, whichever step comes first (a rate-limit wait, or the first attempt), once.
	#open(): void {
		if (!this.#begun) {
			this.#begun = true;
			if (channels.callStart?.hasSubscribers) {
				channels.callStart.publish(this.#where());
			}
		}
	}

	// What every message says of the call: which call, its origin, method and redacted URL (built only for a subscriber,
	// once per request: the drop-in fetch builds a Request to describe, and redaction parses the URL).
	#where(): Place {
		if (this.#place && this.#placeOf === this.#request) {
			return this.#place;
		}
		const request = this.#request?.();
		const url = request?.url ?? '';
		this.#ref ??= Object.freeze({ id: ++lastCallId });
		this.#placeOf = this.#request;
		this.#place = Object.freeze({
			call: this.#ref,
			origin: originOf(url),
			method: request?.method ?? '',
			url: redactUrl(url, this.#engine.config.secrets),
		});
		return this.#place;
	}

	// ky's forced retry: it respects the limit and the deadline, and skips every other rule of the policy.
	#force(delayMs: number | undefined): Decision {
		if (this.attempts > this.policy.limit) {
			return { retry: false, reason: 'limit' };
		}
		const wait = delayMs ?? backoffDelay(this.policy, this.attempts, this.#engine.clock.random);
		const remaining = this.remainingMs();
		return remaining !== undefined && wait >= remaining ? { retry: false, reason: 'deadline' } : { retry: true, delayMs: wait };
	}

	#decide(failure: Failure, now: number): Decision {
		const { clock } = this.#engine;
		const { shouldRetry } = this.policy;
		const retry = this.attempts;
		return decide(
			this.policy,
			{
				outcome: failure.outcome as Outcome,
				method: failure.method,
				hasIdempotencyKey: failure.hasIdempotencyKey,
				retry,
				headers: failure.response?.headers,
				remainingMs: this.remainingMs(),
				now,
				// ky hands its shouldRetry the error it would throw: here that is the enriched one, built only when asked.
				ask: shouldRetry && (() => shouldRetry({ error: this.describe(failure, undefined), retryCount: retry })),
			},
			clock.random,
		);
	}
}

/**
The `Idempotency-Key` a POST or PATCH gets when the job it runs in or the policy generates keys and the request carries
none; undefined otherwise. One key per call, set before the first attempt, so that every attempt carries the same.
*/
export function newIdempotencyKey(policy: Policy, method: string, hasKey: boolean, job?: JobBinding): string | undefined {
	const generate = job?.idempotencyKey ?? policy.idempotencyKey;
	if (hasKey || !generate || !isKeyedMethod(method)) {
		return undefined;
	}
	const key = generate();
	if (typeof key !== 'string' || key === '') {
		throw new TypeError('Expected `idempotencyKey()` to return a non-empty string.');
	}
	return key;
}

/** What a job's own retries are bounded by: the step after a pass of the job failed reads it. */
export interface JobState {
	readonly policy: Policy;
	readonly clock: Clock;
	readonly allowance: Allowance;
	/** The monotonic time by which the job must end (`maxRetryTime`). */
	readonly deadline: number | undefined;
	readonly onRetry: ((event: RetryEvent<Error>) => void) | undefined;
}

// Transient failures that a retry of the whole job cannot help: the request itself said no more. A retry the origin's
// budget withheld is final too: the job's own retry would send the same request again, the load the budget sheds.
const final: ReadonlySet<StopReason | undefined> = new Set([
	'wait-over-cap',
	'deadline',
	'allowance',
	'not-idempotent',
	'unreplayable-body',
	'budget',
	// The user's own shouldRetry said no: a retry of the whole job would ask the same question.
	'declined',
]);

/** A TypeError that is no network failure is a bug, not a failure of the API: p-retry's own rule. */
export const isBug = (error: unknown): boolean => !errorKind(error) && error instanceof TypeError && !isNetworkError(error);

/**
The step after a failed pass of a job: a fail-fast error, a final stop or a bug ends the job; anything else is retried
after the longer of the error's `retryAt` and the job's backoff, if the job's allowance and deadline allow. On a retry
the wait is noted in the record of the error's own last attempt (not the tally's last, which may be another call's)
and `onRetry` is told.
*/
export function judgeJobFailure(job: JobState, error: unknown, pass: number): Decision {
	const { policy, clock, allowance, deadline } = job;
	const enriched = errorKind(error) ? (error as SteadfetchError) : undefined;
	if (enriched && (!enriched.retryable || final.has(enriched.stopReason))) {
		return { retry: false, reason: enriched.stopReason ?? 'permanent' };
	}
	if (isBug(error)) {
		return { retry: false, reason: 'permanent' };
	}
	const now = clock.now();
	const asked = enriched?.retryAt ? enriched.retryAt.getTime() - now : 0;
	const delayMs = Math.max(asked, backoffDelay(policy, pass, clock.random));
	if (asked > policy.maxDelayMs) {
		return { retry: false, reason: 'wait-over-cap', retryAt: timeAfter(now, delayMs) };
	}
	if (deadline !== undefined && clock.monotonic() + delayMs >= deadline) {
		return { retry: false, reason: 'deadline', retryAt: timeAfter(now, delayMs) };
	}
	const decision = spend(allowance, { retry: true, delayMs }, now);
	if (!decision.retry) {
		return decision;
	}
	const own = enriched?.history.at(-1)?.attempt;
	const record = allowance.tally.history.findLast((entry) => entry.attempt === own);
	if (record && record.delayMs === undefined) {
		record.delayMs = delayMs;
	}
	job.onRetry?.({ error: error as Error, attempt: pass + 1, maxAttempts: policy.limit + 1, delayMs });
	return decision;
}
