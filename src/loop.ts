import isNetworkError from 'is-network-error';
import type { Call, Failure } from './attempt.ts';
import { readData } from './body.ts';
import { sanitizeRuntimeError } from './redact.ts';
import type { Outcome } from './types.ts';

/*
The one attempt loop, under the drop-in fetch and the client alike: wait for the origin's rate limit, admit by its
breaker, send with the attempt's own timer (which also bounds the read of a failing response's body), ask the engine,
then sleep or end the call. Every wait is the call's: its signal ends them at once, and its deadline bounds them, so a
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
	/** Each attempt's time limit in milliseconds, the read of a failing response's body included; `false` for none. */
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
	/** ky's `parseJson`, for a failing JSON body. */
	readonly parseJson?: ((text: string, response: Response) => unknown) | undefined;
	/** The client's retry-time ky hooks, when it has any. */
	readonly hooks?: LoopHooks | undefined;
}

/** A retry an `afterResponse` hook forced (ky.retry()): the error it stands for, and its own wait and request. */
export interface Forced {
	readonly error: Error;
	readonly delayMs: number | undefined;
	readonly request: Request | undefined;
}

/** The client's ky hooks that belong to retries, as the loop runs them (retry-hooks.ts). */
export interface LoopHooks {
	/** After each response: a Response replaces it; a `Forced` retries. */
	afterResponse(response: Response, request: Request, retryCount: number): Promise<Response | Forced>;
	/** Before each retry, after its wait: a Request replaces the request; a Response ends the call with it; `'stop'` ends it with none. */
	beforeRetry(request: Request, error: Error, retryCount: number): Promise<Request | Response | 'stop' | undefined>;
}

/** A call a `beforeRetry` hook stopped (ky.stop): the client resolves it with no response, as ky does. */
export class RetryStopped extends Error {
	override name = 'RetryStopped';
}

/** An attempt's own timer: it aborts the attempt once its time is up. */
interface AttemptTimer {
	readonly signal: AbortSignal;
	readonly expired: () => boolean;
	readonly clear: () => void;
}

const startTimer = (ms: number, signal: AbortSignal | undefined, unref: boolean): AttemptTimer => {
	const controller = new AbortController();
	const timer = setTimeout(() => controller.abort(new DOMException('The attempt timed out.', 'TimeoutError')), ms);
	if (unref) {
		(timer as { unref?: () => void }).unref?.();
	}
	return {
		signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
		expired: () => controller.signal.aborted,
		clear: () => clearTimeout(timer),
	};
};

/** Run one call's attempts until it succeeds, or ends with the enriched error, or resolves with the failing response. */
export async function runAttempts(attempts: Attempts): Promise<Response> {
	const { call, send, method, url, signal, describe, replayable, hooks } = attempts;
	let { request, input } = attempts;
	for (;;) {
		signal?.throwIfAborted();
		const waiting = call.pace(url, describe, signal);
		if (waiting) {
			await waiting;
		}
		const attempt = call.begin(url, describe);
		const last = !replayable || !call.canRetry(method, attempts.hasIdempotencyKey);
		const remaining = call.remainingMs();
		const { timeoutMs } = attempts;
		// The nearer of the attempt's timeout and the call's deadline; past the deadline, no retry is asked for.
		const byDeadline = remaining !== undefined && (timeoutMs === false || remaining <= timeoutMs);
		const limit = byDeadline ? remaining : timeoutMs === false ? undefined : timeoutMs;
		const timer = limit === undefined ? undefined : startTimer(Math.max(1, limit), signal, call.unref);
		const init = timer ? { ...attempts.init, signal: timer.signal } : attempts.init;
		let response: Response | undefined;
		let cause: unknown;
		let outcome: Outcome;
		try {
			response = await call.send(send, request && request.body !== null && !last ? request.clone() : input, init);
			outcome = response.status;
		} catch (error) {
			// An abort rejects with the signal's reason, and a TypeError of fetch's own (a bad URL, a bad header) is the
			// caller's: both pass through, the latter without the URL's query or the header's value.
			if (signal?.aborted || !(timer?.expired() || isNetworkError(error))) {
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
			const after = await hooks.afterResponse(response, request, call.attempts - 1);
			if (after instanceof Response) {
				response = after;
				outcome = after.status;
			} else {
				forced = after;
			}
		}
		if (response && !forced && !attempts.fails(response)) {
			call.settle(attempt, response.status, response.headers);
			return response;
		}
		const throws = response !== undefined && attempts.throws(response.status);
		// ky's order: a failing body is read before the decision, within the attempt's timeout (10 s without one), so
		// that shouldRetry, onRetry and beforeRetry see `error.data`. A response that may be handed back keeps its body.
		const readMs = Math.min(timeoutMs === false ? attempts.dataReadMs : timeoutMs, remaining ?? Number.POSITIVE_INFINITY);
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
			const next = await retryHooked(hooks, forced?.request ?? request, forced?.error ?? call.describe(failure, decision), call);
			if (next instanceof Response) {
				return endWith(next, failure, attempts);
			}
			request = next;
			input = next;
		}
	}
}

// The beforeRetry hooks, ky's way: a Request replaces the request, a Response or ky.stop ends the call; what a hook
// throws ends the call as it is.
const retryHooked = async (hooks: LoopHooks, request: Request, error: Error, call: Call): Promise<Request | Response> => {
	let next: Awaited<ReturnType<LoopHooks['beforeRetry']>>;
	try {
		next = await hooks.beforeRetry(request, error, call.attempts);
	} catch (thrown) {
		call.end(thrown);
		throw thrown;
	}
	if (next === 'stop') {
		const stopped = new RetryStopped('A beforeRetry hook returned ky.stop.');
		call.end(stopped);
		throw stopped;
	}
	return next ?? request;
};

// A Response a beforeRetry hook handed back ends the call, as in ky: a failing one rejects when the call throws on it.
const endWith = async (response: Response, failure: Failure, attempts: Attempts): Promise<Response> => {
	if (!attempts.fails(response) || !attempts.throws(response.status)) {
		return response;
	}
	const readMs = attempts.timeoutMs === false ? attempts.dataReadMs : attempts.timeoutMs;
	throw attempts.call.giveUp(
		{ ...failure, outcome: response.status, response, data: await readData(response, readMs, attempts.parseJson) },
		undefined,
	);
};
