import { createError } from '../errors/create.ts';
import type { RequestConfig } from '../options/normalize.ts';
import type { Policy } from '../options/options.ts';
import type { Allowance, Decision, Outcome, SteadfetchError, Tally } from '../types.ts';
import { CallPlace } from './call-place.ts';
import type { Clock } from './clock.ts';
import { channels, tracing } from './diagnostics.ts';
import { Domains, type Scope } from './guards/domains.ts';
import type { Pacer } from './guards/pacer.ts';
import { readQuotas, readWait } from './guards/ratelimit.ts';
import { credentialOf, modelOf } from './guards/scope.ts';
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
	/** A guard refused the call (its rate-limit window, its breaker): nothing was sent. */
	readonly refused?: boolean | undefined;
}

/** One attempt of a call, from the moment it is admitted until its outcome is recorded. */
export interface Attempt {
	readonly number: number;
	readonly start: number;
	settled: boolean;
	/** The rate-limit windows it took a place in, given back when it settles. */
	windows: readonly Pacer[] | undefined;
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
	readonly domains: Domains;
	/** The drop-in fetch keeps fetch's rejection shape: a network failure is a `TypeError`. */
	readonly shape: 'ky' | 'fetch';

	constructor(config: RequestConfig, clock: Clock, shape: 'ky' | 'fetch') {
		this.config = config;
		this.clock = clock;
		this.shape = shape;
		this.domains = new Domains(config.budget, config.breaker, config.rateLimit !== false, clock.random);
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
	#scope: Scope | undefined;
	#scopeUrl: string | undefined;
	// What the call's requests carry (`aim`): the method, the headers and body as the caller gave them.
	#method = '';
	#headers: unknown;
	#body: unknown;
	// The call's tenant for rate-limit windows (its credential, and the domain `rateLimit.key` names), once asked for.
	#tenant: string | undefined;
	// The windows the next attempt took a place in, from `pace` until `begin` hands them to the attempt.
	#taken: readonly Pacer[] | undefined;
	#current: Attempt | undefined;
	// What the call's messages to subscribers say of it.
	readonly #place: CallPlace;
	// The call's signal, as the loop hands it to pace(): an end the engine did not decide was an abort if it aborted.
	#signal: AbortSignal | undefined;

	constructor(engine: Engine, { policy, allowance, deadline, deadlineOption, unref = false }: CallOptions) {
		this.#engine = engine;
		this.policy = policy ?? engine.config.policy;
		this.#allowance = allowance;
		this.tally = allowance?.tally ?? newTally();
		this.#deadline = deadline;
		this.#deadlineOption = deadlineOption;
		this.unref = unref;
		this.#place = new CallPlace(engine.config.secrets, engine.config.secretHeaders);
	}

	/**
	What the call's requests carry: the method, and the headers and body as the caller gave them (a `HeadersInit`; ky's
	`json` or `body`), read only when a rate-limit window needs the call's tenant.
	*/
	aim(method: string, headers: unknown, body: unknown): void {
		this.#method = method;
		this.#headers = headers;
		this.#body = body;
	}

	/** The engine's wall-clock time. */
	now(): number {
		return this.#engine.clock.now();
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
		const { domains, config } = this.#engine;
		const { windows } = domains;
		this.#signal = signal;
		// A key of the user's runs for every call, so that one that throws always ends its call, window or not.
		const keyed = config.rateLimit !== false && config.rateLimit.key !== undefined;
		const scope = windows && (keyed || !windows.empty) ? this.#scopeOf(url) : undefined;
		if (!windows || !scope) {
			return undefined;
		}
		let tenant: string;
		try {
			tenant = this.#tenantOf(url);
		} catch (error) {
			// The user's `rateLimit.key` threw: the call ends with its exception, on every surface.
			this.end(error);
			throw error;
		}
		const pacers = windows.empty ? [] : windows.of(tenant, domains.endpointOf(scope));
		if (pacers.length === 0) {
			return undefined;
		}
		const { clock } = this.#engine;
		const now = clock.now();
		let wait = 0;
		for (const pacer of pacers) {
			wait = Math.max(wait, pacer.peek(now));
		}
		if (wait === 0) {
			for (const pacer of pacers) {
				pacer.take(now);
			}
			this.#taken = pacers;
			return undefined;
		}
		// The place first: a call whose first step is this wait tells its start with its request's place.
		this.#place.at(url, request);
		this.#place.open();
		const remaining = this.remainingMs();
		const reason = wait > this.policy.maxDelayMs ? 'rate-limited' : remaining !== undefined && wait >= remaining ? 'deadline' : undefined;
		if (channels.pacing?.hasSubscribers) {
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
				refused: true,
			};
			const retryAt = timeAfter(now, wait);
			return Promise.reject(this.giveUp(refusal, { retry: false, reason, retryAt }));
		}
		return this.#waitForWindows(wait, pacers, signal).then(() => this.pace(url, request, signal));
	}

	/**
	Admit the next attempt to the URL's origin, count it and start its timer. An open breaker refuses: the call ends with
	a `CircuitOpenError` (thrown here, after `onGiveUp`), and nothing is sent.
	*/
	begin(url: string, request: () => Request): Attempt {
		const { clock } = this.#engine;
		this.#place.at(url, request);
		this.#place.open();
		const refusedUntil = this.#engine.domains.admit(this.#scopeOf(url), clock.now());
		const taken = this.#taken;
		this.#taken = undefined;
		if (refusedUntil !== undefined) {
			for (const pacer of taken ?? []) {
				pacer.release(clock.now(), false);
			}
			const refusal: Failure = { outcome: 'circuit', method: '', hasIdempotencyKey: false, request, refused: true };
			throw this.giveUp(refusal, { retry: false, reason: 'circuit-open', retryAt: refusedUntil });
		}
		this.attempts++;
		const attempt: Attempt = { number: ++this.tally.attempts, start: clock.monotonic(), settled: false, windows: taken };
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
		const now = clock.now();
		if (outcome !== undefined) {
			this.#engine.domains.report(this.#scope, outcome, isTransient(this.policy, outcome), now, durationMs);
		}
		for (const pacer of attempt.windows ?? []) {
			pacer.release(now, typeof outcome === 'number');
		}
		const windows = this.#engine.domains.windows;
		if (windows && headers && this.#scope) {
			const quotas = readQuotas(headers, now);
			if (quotas.length > 0) {
				try {
					windows.observe(this.#tenantOf(this.#scopeUrl ?? ''), this.#engine.domains.endpointOf(this.#scope), quotas, now);
				} catch {
					// The user's `rateLimit.key` threw: the window stays unknown, and the next call's pace() ends with it.
				}
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
			this.#place.attemptEnded(record, this.#signal);
		}
	}

	/** The call succeeded with the response of the attempt just settled: it ends for subscribers (or when its body is read). */
	succeed(status: number): void {
		this.#place.succeed(status, this.attempts);
	}

	/**
	A body shortcut of the client (`.json()`...) reads the body of the success: the call ends for subscribers when the read
	does (`bodyRead`), so that a body cut off is the call's one end, as a failure.
	*/
	expectBody(): void {
		this.#place.holding = true;
	}

	/**
	The shortcut's read ended: in success (the call ends so, if it succeeded), or with `error`. A read that failed for the
	network or a timeout ended the call in `giveUp` already; anything else (an abort, a body that is no JSON) ends it here.
	*/
	bodyRead(error?: unknown): void {
		const place = this.#place;
		place.holding = false;
		if (error === undefined) {
			if (place.succeeded !== undefined) {
				place.succeed(place.succeeded, this.attempts);
			}
			return;
		}
		place.abort(error, this.#signal, this.attempts);
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
		return around && ref ? around(ref, () => send(input, init), this.#place) : send(input, init);
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
		this.#place.abort(error, this.#signal, this.attempts);
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

	// A wait for rate-limit windows: it ends early when anything is learnt of one of them (an answer of a request in
	// flight), so that a call held by the requests in flight goes as soon as their answers say it may.
	async #waitForWindows(ms: number, pacers: readonly Pacer[], signal: AbortSignal | undefined): Promise<void> {
		const news = new AbortController();
		for (const pacer of pacers) {
			pacer.listen(news);
		}
		try {
			await this.#engine.clock.sleep(ms, signal ? AbortSignal.any([signal, news.signal]) : news.signal, this.unref);
		} catch (error) {
			if (signal?.aborted || !news.signal.aborted) {
				this.end(error);
				throw error;
			}
		} finally {
			for (const pacer of pacers) {
				pacer.unlisten(news);
			}
		}
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
		const decision = spend(
			this.#allowance,
			scheduled ? allowed : this.#engine.domains.guardDecision(this.#scope, outcome, allowed, now),
			now,
		);
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
			this.#place.fail(error, failure.refused === true, this.attempts);
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

	// pace() and begin() ask for the same attempt's scope, and retries for the same URL again: look it up once per URL
	// (reading the origin and endpoint out of the URL and finding their state are work on every request).
	#scopeOf(url: string): Scope | undefined {
		if (url !== this.#scopeUrl) {
			this.#scope = this.#engine.domains.scope(url, this.#method);
			this.#scopeUrl = url;
			this.#tenant = undefined;
		}
		return this.#scope;
	}

	// The tenant whose rate-limit windows the call's requests spend: the credential they carry, and the domain the
	// user's `rateLimit.key` names (OpenAI's model, which travels in the body). Worked out once per URL, when needed.
	#tenantOf(url: string): string {
		if (this.#tenant === undefined) {
			const { config } = this.#engine;
			const credential = credentialOf(this.#headers, url, config.secretHeaders);
			const key = config.rateLimit === false ? undefined : config.rateLimit.key;
			let domain: unknown;
			if (key) {
				domain = key({ url, method: this.#method, headers: headersOf(this.#headers), body: this.#body });
				if (domain !== undefined && typeof domain !== 'string') {
					throw new TypeError(`Expected \`rateLimit.key()\` to return a string or undefined, got ${typeof domain}.`);
				}
			} else {
				domain = modelOf(this.#body);
			}
			this.#tenant = domain === undefined ? credential : `${credential}/${domain}`;
		}
		return this.#tenant;
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

// The headers a call was given, as Headers for `rateLimit.key` (a HeadersInit that fetch would refuse reads as none).
const headersOf = (init: unknown): Headers => {
	try {
		return init instanceof Headers ? init : new Headers(init as HeadersInit | undefined);
	} catch {
		return new Headers();
	}
};
