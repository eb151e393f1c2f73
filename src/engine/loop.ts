import isNetworkError from 'is-network-error';
import { errorKind } from '../errors/base.ts';
import { isConnectionFailure } from '../errors/network-code.ts';
import { sanitizeRuntimeError } from '../secrets/runtime-errors.ts';
import type { Outcome, SteadfetchError } from '../types.ts';
import { readData } from './body.ts';
import type { Attempt, Call, Failure } from './call.ts';
import { refusalResponse } from './refusal.ts';

/*
The one attempt loop, under the drop-in fetch and the client alike: wait for the origin's rate limit, admit by its
breaker, send with the attempt's own timer, read a failing response's body within a `timeout` of its own (as ky does),
ask the engine, then sleep or end the call. Every wait is the call's: its signal ends them at once, and its deadline bounds them, so a
call that ends leaves nothing behind (undici's retry handler has the same rule). The surfaces only say what to send
and how the call ends: the client hands it ky's Request through ky's `fetch` option; the drop-in fetch its arguments.
*/

/** What a surface hands the loop for one call. */
export interface Attempts {
	readonly call: Call;
	/** The fetch each attempt goes through. */
	readonly send: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
	readonly input: RequestInfo | URL;
	readonly init: RequestInit | undefined;
	/** The input when it is a Request: cloned for every attempt but the last, so that its body can be sent again. */
	readonly request: Request | undefined;
	readonly method: string;
	readonly url: string;
	readonly hasIdempotencyKey: boolean;
	/** False for a stream handed in as the body: it is sent once. */
	readonly replayable: boolean;
	/** The request as it describes the call in errors and messages; built only when asked. */
	readonly describe: () => Request;
	/** Ends the attempt in flight and every wait of the call. */
	readonly signal: AbortSignal | undefined;
	/** Whether `signal` is the call's own, made for it alone (then an attempt's timer may leave a listener on it). */
	readonly ownSignal: boolean;
	/**
	Whether the fetch is a caller's own, which may not listen to its signal (a mock, a polyfill): then the attempt's
	timer also races it, as ky's timer does. The runtime's fetch ends at the abort, and is spared the race's promises.
	*/
	readonly customFetch: boolean;
	/** Told of the timer of the attempt that succeeded: the client bounds the read of its body with it. */
	readonly succeeded?: ((timer: AttemptTimer | undefined) => void) | undefined;
	/** Each attempt's time limit in milliseconds, and again for the read of a failing response's body; `false` for none. */
	readonly timeoutMs: number | false;
	/** Whether a response is a failure: fetch's callers read a 3xx they asked for, ky's see `!response.ok` as one. */
	readonly fails: (response: Response) => boolean;
	/** Whether a failing status the call ends on rejects (the enriched error) or resolves (the response, as fetch does). */
	readonly throws: (status: number) => boolean;
	/** How long reading a failing body for its error may take when no attempt timer bounds it. */
	readonly dataReadMs: number;
	/** Read a failing response's body before the decision (ky's order: `shouldRetry` and `onRetry` see `error.data`). */
	readonly dataFirst: boolean;
	/** Secrets a runtime's own error may quote, and the headers it may quote them from. */
	readonly secrets: readonly string[];
	readonly headers: unknown;
	/** The body as the caller gave it (ky's `json` or `body`, fetch's `init.body`), for `rateLimit.key`. */
	readonly body?: unknown;
	/** ky's `parseJson`, for a failing JSON body. */
	readonly parseJson?: ((text: string, response: Response) => unknown) | undefined;
	/** The client's retry-time ky hooks, when it has any. */
	readonly hooks?: LoopHooks | undefined;
}

/** A retry an `afterResponse` hook forced (ky.retry()): the error it stands for, and its own wait and request. */
export class Forced {
	readonly error: Error;
	readonly delayMs: number | undefined;
	readonly request: Request | undefined;

	constructor(error: Error, delayMs: number | undefined, request: Request | undefined) {
		this.error = error;
		this.delayMs = delayMs;
		this.request = request;
	}
}

/** The client's ky hooks that belong to retries, as the loop runs them (surfaces/ky-hooks.ts). */
export interface LoopHooks {
	/** After each response: a Response replaces it; a `Forced` retries. */
	afterResponse(response: Response, request: Request, retryCount: number): Promise<Response | Forced>;
	/**
	Before each retry, after its wait: the request to send (the same, or one a hook made), or a Response the call ends
	with; it throws what ends the call otherwise (a hook's exception, ky.stop, an error for a failing Response).
	*/
	beforeRetry(request: Request, error: Error, failure: Failure): Promise<{ readonly send: Request } | { readonly end: Response }>;
}

const expire = (timer: AttemptTimer): void => timer.abort(new DOMException('The attempt timed out.', 'TimeoutError'));

/**
An attempt's own timer: its signal aborts when the time is up or the call's signal aborts, and keeps following the
call's signal after the response arrived, so that an abort still ends the read of its body. A signal of the call's own
(the client's: ky makes one per call) is followed by a listener that goes with it; any other (a caller's signal handed
to the drop-in fetch, which may outlive many calls) through `AbortSignal.any`, which leaves nothing on it. It runs for
every attempt of the client: one object that listens for itself, not closures.
*/
export class AttemptTimer {
	readonly signal: AbortSignal;
	readonly #controller = new AbortController();
	readonly #source: AbortSignal | undefined;
	readonly #unref: boolean;
	#timer: ReturnType<typeof setTimeout> | undefined;
	#lose: ((reason: unknown) => void) | undefined;

	constructor(ms: number, source: AbortSignal | undefined, unref: boolean, ownSignal: boolean) {
		this.#source = source;
		this.#unref = unref;
		this.arm(ms);
		if (!source || !ownSignal) {
			this.signal = source ? AbortSignal.any([source, this.#controller.signal]) : this.#controller.signal;
			return;
		}
		this.signal = this.#controller.signal;
		if (source.aborted) {
			this.handleEvent();
		} else {
			source.addEventListener('abort', this, { once: true });
		}
	}

	/** Start the time again: the read of a success's body gets a `timeout` of its own, as in ky. */
	arm(ms: number): void {
		clearTimeout(this.#timer);
		this.#timer = setTimeout(expire, ms, this);
		if (this.#unref) {
			(this.#timer as { unref?: () => void }).unref?.();
		}
	}

	/** Whether the time ran out (an abort of the call's signal is the caller's, not a timeout). */
	expired(): boolean {
		return this.#controller.signal.aborted && !this.#source?.aborted;
	}

	handleEvent(): void {
		this.abort(this.#source?.reason);
	}

	/** Be told when the attempt is ended after its response arrived (the read of its body timed out, or was aborted). */
	whenEnded(lose: (reason: unknown) => void): void {
		this.#lose = lose;
	}

	/** End the attempt: its signal aborts, and what `race` waits for loses to the reason. */
	abort(reason: unknown): void {
		this.#controller.abort(reason);
		this.#lose?.(reason);
	}

	/**
	`sending`, or the reason the attempt ended first: a fetch that does not listen to its signal (a mock, a polyfill) is
	not waited for (ky races its timer the same way). A response that comes after it lost is cancelled.
	*/
	race(sending: Promise<Response>): Promise<Response> {
		if (this.#controller.signal.aborted) {
			void sending.then(cancelBody, () => undefined);
			return Promise.reject(this.#controller.signal.reason);
		}
		return Promise.race([
			sending,
			new Promise<never>((_resolve, reject) => {
				this.#lose = (reason) => {
					void sending.then(cancelBody, () => undefined);
					reject(reason);
				};
			}),
		]);
	}

	clear(): void {
		clearTimeout(this.#timer);
		this.#lose = undefined;
	}
}

const cancelBody = (response: Response): void => void response.body?.cancel().catch(() => undefined);

/** Run one call's attempts until it succeeds, or ends with the enriched error, or resolves with the failing response. */
export async function runAttempts(attempts: Attempts): Promise<Response> {
	const { call, send, method, url, signal, describe, replayable, hooks } = attempts;
	let { request, input } = attempts;
	call.aim(method, attempts.headers, attempts.body);
	for (;;) {
		signal?.throwIfAborted();
		let attempt: Attempt;
		try {
			const waiting = call.pace(url, describe, signal);
			if (waiting) {
				await waiting;
			}
			attempt = call.begin(url, describe);
		} catch (error) {
			// A guard refused the call (nothing was sent): where the caller does not throw on the status it stands for,
			// a local Response, as fetch's contract and the SDKs on it expect.
			const refused = errorKind(error) ? (error as SteadfetchError) : undefined;
			const status = refused?.stopReason === 'circuit-open' ? 503 : refused?.status;
			if (refused && status !== undefined && !attempts.throws(status)) {
				return refusalResponse(refused, call.now());
			}
			throw error;
		}
		const last = !replayable || !call.canRetry(method, attempts.hasIdempotencyKey);
		const remaining = call.remainingMs();
		const { timeoutMs } = attempts;
		// The nearer of the attempt's timeout and the call's deadline; past the deadline, no retry is asked for.
		const byDeadline = remaining !== undefined && (timeoutMs === false || remaining <= timeoutMs);
		const limit = byDeadline ? remaining : timeoutMs === false ? undefined : timeoutMs;
		const timer = limit === undefined ? undefined : new AttemptTimer(Math.max(1, limit), signal, call.unref, attempts.ownSignal);
		const init = timer ? { ...attempts.init, signal: timer.signal } : attempts.init;
		let response: Response | undefined;
		let cause: unknown;
		let outcome: Outcome;
		try {
			const sending = call.send(send, request && request.body !== null && !last ? request.clone() : input, init);
			response = await (timer && attempts.customFetch ? timer.race(sending) : sending);
			outcome = response.status;
		} catch (error) {
			// An abort rejects with the signal's reason, and a TypeError of fetch's own (a bad URL, a bad header) is the
			// caller's: both pass through, the latter without the URL's query or the header's value.
			if (signal?.aborted || !(timer?.expired() || isNetworkError(error) || isConnectionFailure(error))) {
				// ky's shouldRetry may retry even such an error: only a `true` does.
				if (!signal?.aborted && error instanceof Error && call.policy.shouldRetry) {
					const decision = call.judgeForeign(error, method, attempts.hasIdempotencyKey);
					if (decision.retry) {
						await call.wait(decision.delayMs, signal);
						continue;
					}
				}
				call.end(error);
				throw signal?.aborted ? error : sanitizeRuntimeError(error, attempts.secrets, attempts.headers);
			}
			outcome = timer?.expired() ? 'timeout' : 'network';
			cause = error;
		} finally {
			timer?.clear();
		}
		let forced: Forced | undefined;
		if (response && hooks && request) {
			// A custom fetch may answer with a Response-like object, as ky allows: only a Forced is no response.
			let after: Response | Forced;
			try {
				after = await hooks.afterResponse(response, request, call.attempts - 1);
			} catch (error) {
				// The hook's exception ends the call: the attempt had its answer, and the call ends once, with the exception.
				call.settle(attempt, response.status, response.headers);
				call.end(error);
				throw error;
			}
			if (after instanceof Forced) {
				forced = after;
			} else {
				response = after;
				outcome = after.status;
			}
		}
		if (response && !forced && !attempts.fails(response)) {
			call.settle(attempt, response.status, response.headers);
			call.succeed(response.status);
			attempts.succeeded?.(timer);
			return response;
		}
		const throws = response !== undefined && attempts.throws(response.status);
		// ky's order: a failing body is read before the decision, within the attempt's timeout (10 s without one), so
		// that shouldRetry, onRetry and beforeRetry see `error.data`. A response that may be handed back keeps its body.
		// What is left of the deadline now, after the attempt, not before it.
		const readMs = Math.min(timeoutMs === false ? attempts.dataReadMs : timeoutMs, call.remainingMs() ?? Number.POSITIVE_INFINITY);
		const data =
			response && !forced && attempts.dataFirst
				? await readData(throws ? response : response.clone(), readMs, attempts.parseJson)
				: undefined;
		const failure: Failure = {
			outcome,
			method,
			hasIdempotencyKey: attempts.hasIdempotencyKey,
			request: describe,
			response,
			data,
			cause,
			replayable,
			forced: forced && { delayMs: forced.delayMs },
			pastDeadline: outcome === 'timeout' && byDeadline,
		};
		const decision = call.judge(failure);
		if (!decision.retry) {
			if (forced) {
				call.end(forced.error);
				throw forced.error;
			}
			if (response && !throws) {
				call.resolveWith(failure, decision);
				// What the server sent, untouched: the caller's own error handling reads it.
				return response;
			}
			throw call.giveUp(
				response && !attempts.dataFirst ? { ...failure, data: await readData(response, readMs, attempts.parseJson) } : failure,
				decision,
			);
		}
		// A response that is not returned must not hold its connection.
		void response?.body?.cancel().catch(() => undefined);
		await call.wait(decision.delayMs, signal);
		if (hooks && request) {
			const next = await hooks.beforeRetry(forced?.request ?? request, forced?.error ?? call.describe(failure, decision), failure);
			if ('end' in next) {
				// The hook's Response is the call's: it ends with it.
				call.succeed(next.end.status);
				return next.end;
			}
			request = next.send;
			input = next.send;
		}
	}
}
