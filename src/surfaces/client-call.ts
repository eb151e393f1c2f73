import isNetworkError from 'is-network-error';
import { isNetworkError as isKyNetworkError, type NormalizedOptions, type ResponsePromise } from 'ky';
import { maxDataReadMs, readData } from '../engine/body.ts';
import type { Call, Engine } from '../engine/call.ts';
import type { Clock } from '../engine/clock.ts';
import { newIdempotencyKey } from '../engine/idempotency-key.ts';
import { type AttemptTimer, runAttempts } from '../engine/loop.ts';
import { errorKind } from '../errors/base.ts';
import { isConnectionFailure } from '../errors/network-code.ts';
import { sanitizeRuntimeError } from '../secrets/runtime-errors.ts';
import type { JobBinding } from '../types.ts';
import { bodyMethods, type Fetch, jsonError, type Own } from './client-options.ts';
import { loopHooks, RetryStopped } from './ky-hooks.ts';
import { sendKeepingKey } from './redirects.ts';
/*
One call of the client: the loop ky's `fetch` option runs, and ky's promise with its rejections enriched or sanitised.
*/

/** What every call of one client shares, beyond its options: the engine, the secrets to mask, the header kept on redirects. */
export interface ClientContext {
	readonly engine: Engine;
	readonly clock: Clock;
	readonly secrets: readonly string[];
	/** The API key's header, when redirects are followed by hand to keep it to its origin. */
	readonly keyHeader: string | undefined;
}

// Read on every call, so that tools which patch `globalThis.fetch` later still work.
const globalFetch: Fetch = (input, init) => globalThis.fetch(input, init);
const always = (): boolean => true;
const never = (): boolean => false;

// ky's rule: a response that is not ok fails (a 3xx the caller asked to see included), but for an opaque one, whose
// status a browser hides.
const fails = (response: Response): boolean => !response.ok && response.type !== 'opaque';

/** One call as the loop runs it: the engine's call, and the request ky handed the loop last. */
export interface Opened {
	readonly call: Call;
	readonly fetch: Fetch;
	request: Request | undefined;
	/** The timer of the attempt that succeeded: it bounds the read of the body, as ky bounds its shortcuts' reads. */
	timer: AttemptTimer | undefined;
	/** Whether a body shortcut (`.json()`...) was called: its read is timed from the response on. */
	reading: boolean;
	/** Ends the shortcut's read when the timer does, whether or not the body listens to the abort. */
	end: ((reason: unknown) => void) | undefined;
	/** Whether the call goes through a caller's own fetch (the `fetch` option, or a job's wrapper): its reads race the timer. */
	readonly customFetch: boolean;
	/** Start that timer for the read of the body: the call's `timeout`, within its deadline. */
	arm(): void;
}

// The call's loop: ky hands it the Request it built, after its beforeRequest hooks.
export const openCall = (
	context: ClientContext,
	own: Own,
	job: JobBinding | undefined,
	options: (() => Readonly<NormalizedOptions>) | undefined,
	body?: unknown,
): Opened => {
	const { engine, clock, keyHeader, secrets } = context;
	const byOwn = typeof own.totalTimeout === 'number' ? clock.monotonic() + own.totalTimeout : undefined;
	// The call's own totalTimeout (or its instance's) and its job's maxRetryTime: the nearer holds, and a stop names it.
	const byJob = job?.deadline !== undefined && (byOwn === undefined || job.deadline < byOwn);
	const call = engine.call({
		policy: own.policy,
		allowance: job?.allowance,
		deadline: byJob ? job?.deadline : byOwn,
		deadlineOption: byJob ? 'maxRetryTime' : 'totalTimeout',
		unref: job?.unref,
	});
	const base: Fetch = own.fetch ?? globalFetch;
	const kept: Fetch = keyHeader ? (input, init) => sendKeepingKey(base, input as Request, init, keyHeader) : base;
	const send = job?.send ? job.send(kept) : kept;
	const { throwHttpErrors, parseJson } = own;
	const throws = typeof throwHttpErrors === 'function' ? throwHttpErrors : throwHttpErrors ? always : never;
	const opened: Opened = {
		call,
		request: undefined,
		timer: undefined,
		reading: false,
		end: undefined,
		customFetch: own.fetch !== undefined || job?.send !== undefined,
		arm() {
			const remaining = call.remainingMs();
			const ms = Math.min(own.timeout === false ? Number.POSITIVE_INFINITY : own.timeout, remaining ?? Number.POSITIVE_INFINITY);
			if (Number.isFinite(ms)) {
				opened.timer?.arm(Math.max(1, ms));
			} else {
				opened.timer?.clear();
			}
		},
		fetch: (input, init) => {
			const request = input as Request;
			opened.request = request;
			const { method } = request;
			// Only a method outside retry.methods needs a key to be retried: a GET reads no header for it.
			let hasIdempotencyKey = false;
			if (!call.policy.methods.has(method) || job?.idempotencyKey) {
				hasIdempotencyKey = request.headers.has('idempotency-key');
				const key = newIdempotencyKey(call.policy, method, hasIdempotencyKey, job);
				if (key !== undefined) {
					// Set once, before the first attempt: every attempt carries the same key.
					request.headers.set('Idempotency-Key', key);
					hasIdempotencyKey = true;
				}
			}
			const parse = parseJson && ((text: string, response: Response) => parseJson(text, { request, response }));
			return runAttempts({
				call,
				send,
				input: request,
				init,
				request,
				method,
				url: request.url,
				hasIdempotencyKey,
				replayable: true,
				describe: () => request,
				// ky makes the request's signal for this call alone; a job's is shared, and joined into one of the call's own.
				signal: job?.signal ? AbortSignal.any([request.signal, job.signal]) : request.signal,
				ownSignal: true,
				customFetch: opened.customFetch,
				succeeded: (timer) => {
					opened.timer = timer;
					if (opened.customFetch) {
						timer?.whenEnded((reason) => opened.end?.(reason));
					}
					if (opened.reading) {
						opened.arm();
					}
				},
				timeoutMs: own.timeout,
				fails,
				throws,
				dataReadMs: maxDataReadMs,
				dataFirst: true,
				secrets,
				headers: request.headers,
				body,
				hooks:
					options &&
					loopHooks(own.hooks, {
						call,
						options,
						fails,
						throws,
						read: (response) => readData(response, own.timeout === false ? maxDataReadMs : own.timeout, parse),
					}),
				parseJson: parse,
			});
		},
	};
	return opened;
};

// What ky rejects with before or after the loop: a runtime's error on a URL or a header (ky 2.2 rejects where 2.1
// threw) without the secret it quotes, a `json` that cannot be stringified named, a success's body cut off while read
// enriched like every other failure of the call. Errors of the engine, of hooks and of the caller pass as they are.
export const callFailure = (
	{ secrets }: ClientContext,
	error: unknown,
	options: Readonly<Record<string, unknown>>,
	opened: Opened | undefined,
): unknown => {
	if (errorKind(error)) {
		return error;
	}
	const json = jsonError(error, options);
	if (json) {
		return json;
	}
	// The read of a success's body ran past its time, or failed: the runtime's TypeError ("terminated"), or ky's
	// NetworkError around it (ky 2.2 wraps a shortcut's failed read).
	const request = opened?.request;
	const expired = opened?.timer?.expired();
	if (opened && request && (expired || isNetworkError(error) || isConnectionFailure(error) || isKyNetworkError(error))) {
		const cause = isKyNetworkError(error) ? error.cause : error;
		const outcome = expired ? 'timeout' : 'body';
		return opened.call.giveUp({ outcome, method: request.method, hasIdempotencyKey: false, request: () => request, cause }, undefined);
	}
	return sanitizeRuntimeError(error, secrets, options.headers);
};

// ky's promise, with its rejections passed through `failure`: the promise itself and each body shortcut.
export const guardCall = (
	context: ClientContext,
	promise: ResponsePromise,
	options: Readonly<Record<string, unknown>>,
	opened: Opened,
): ResponsePromise => {
	const rethrow = (error: unknown): never => {
		throw callFailure(context, error, options, opened);
	};
	// ky.stop from a beforeRetry hook: the call resolves with no response, as in ky (its shortcuts have nothing to read).
	const guarded = promise.then(undefined, (error: unknown) =>
		error instanceof RetryStopped ? (undefined as unknown as Response) : rethrow(error),
	) as ResponsePromise;
	// A caller who reads through a shortcut awaits ky's promise, not this one: it must not be reported as unhandled.
	guarded.catch(() => undefined);
	const shortcuts = promise as unknown as Record<string, ((...parameters: unknown[]) => Promise<unknown>) | undefined>;
	const bodyFailure = (error: unknown): never => {
		throw error instanceof RetryStopped
			? new TypeError('The call was stopped by ky.stop in a beforeRetry hook: there is no response, so no body to read.')
			: callFailure(context, error, options, opened);
	};
	const disarm = () => opened.timer?.clear();
	for (const method of bodyMethods) {
		const read = shortcuts[method];
		if (read) {
			// Called at once: ky sets the request's Accept header for it before the request is sent.
			// The body's time starts with the response: now, if it is here, else when the loop hands it over.
			// A body that may not listen to the abort (a custom fetch's own) is not waited for: its read races the timer.
			(guarded as unknown as Record<string, unknown>)[method] = (...parameters: unknown[]) => {
				const reading = read(...parameters);
				opened.reading = true;
				// Subscribers hear of the call's end when its body is read: a body cut off is its failure.
				opened.call.expectBody();
				opened.arm();
				let raced = reading;
				if (opened.customFetch) {
					reading.catch(() => undefined);
					raced = Promise.race([
						reading,
						new Promise<never>((_resolve, reject) => {
							opened.end = reject;
						}),
					]);
				}
				return raced.then(
					(body) => {
						disarm();
						opened.call.bodyRead();
						return body;
					},
					(error: unknown) => {
						disarm();
						try {
							return bodyFailure(error);
						} finally {
							opened.call.bodyRead(error);
						}
					},
				);
			};
		}
	}
	return guarded;
};
