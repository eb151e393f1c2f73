import { createError } from '../errors/create.ts';
import type { RequestConfig } from '../options/normalize.ts';
import type { Policy } from '../options/options.ts';
import type { Allowance, Decision, Outcome, SteadfetchError, Tally } from '../types.ts';
import { CallPlace } from './call-place.ts';
import type { Clock } from './clock.ts';
import { channels, tracing } from './diagnostics.ts';
import { guardDecision, type OriginGuard, Origins, report } from './guards/origins.ts';
import { readQuota, readWait } from './guards/ratelimit.ts';
import { keepRecord, newTally } from './history.ts';
import { backoffDelay, decide, isRepeatable, isTransient, spend, timeAfter } from './policy.ts';

/*
The step around every attempt, once for every surface: admit by the origin's breaker, count and time the attempt,
record its outcome and tell the origin's guard, decide (policy, then budget and breaker, then a job's allowance),
note the wait, tell onRetry or onGiveUp, build the enriched error. The surfaces (surfaces/client.ts, fetch.ts, job.ts) only
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
	// What the call's messages to subscribers say of it.
	readonly #place: CallPlace;

	constructor(engine: Engine, { policy, allowance, deadline, deadlineOption, unref = false }: CallOptions) {
		this.#engine = engine;
		this.policy = policy ?? engine.config.policy;
		this.#allowance = allowance;
		this.tally = allowance?.tally ?? newTally();
		this.#deadline = deadline;
		this.#deadlineOption = deadlineOption;
		this.unref = unref;
		this.#place = new CallPlace(engine.config.secrets);
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
		this.#place.open();
		const remaining = this.remainingMs();
		const reason = wait > this.policy.maxDelayMs ? 'rate-limited' : remaining !== undefined && wait >= remaining ? 'deadline' : undefined;
		if (channels.pacing?.hasSubscribers) {
			this.#place.request = request;
			channels.pacing.publish({ ...this.#place.where(), waitMs: wait, refused: reason !== undefined });
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
		this.#place.request = request;
		this.#place.open();
		const admission = this.#guardOf(url)?.breaker?.admit(clock.now());
		if (admission && !admission.admitted) {
			const refusal: Failure = { outcome: 'circuit', method: '', hasIdempotencyKey: false, request };
			throw this.giveUp(refusal, { retry: false, reason: 'circuit-open', retryAt: admission.retryAt });
		}
		this.attempts++;
		const attempt: Attempt = { number: ++this.tally.attempts, start: clock.monotonic(), settled: false };
		this.#current = attempt;
		if (channels.attemptStart?.hasSubscribers) {
			channels.attemptStart.publish({ ...this.#place.where(), attempt: attempt.number });
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
		keepRecord(this.tally, record);
		if (channels.attemptEnd?.hasSubscribers) {
			channels.attemptEnd.publish({ ...this.#place.where(), ...record });
		}
		if (typeof outcome === 'number' && outcome < 400) {
			if (channels.callEnd?.hasSubscribers) {
				channels.callEnd.publish({ ...this.#place.where(), ok: true, status: outcome, attempts: this.attempts });
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
		const ref = this.#place.ref;
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
		if (this.#place.begun && !this.#place.ended && channels.callEnd?.hasSubscribers) {
			this.#place.ended = true;
			const name = (error as { name?: unknown } | undefined)?.name;
			channels.callEnd.publish({
				...this.#place.where(),
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
					channels.retryWithheld.publish({ ...this.#place.where(), attempt: attempt?.number, reason: decision.reason });
				}
			}
			return decision;
		}
		if (channels.retry?.hasSubscribers) {
			channels.retry.publish({ ...this.#place.where(), attempt: this.attempts + 1, delayMs: decision.delayMs, after: outcome });
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
			this.#place.ended = true;
			if (channels.callEnd?.hasSubscribers) {
				channels.callEnd.publish({
					...this.#place.where(),
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
