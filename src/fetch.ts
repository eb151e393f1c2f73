import isNetworkError from 'is-network-error';
import { Engine, type Failure, newIdempotencyKey } from './attempt.ts';
import { maxDataReadMs, readData } from './body.ts';
import { type Clock, systemClock } from './clock.ts';
import { type FetchConfig, normalizeFetchOptions } from './normalize.ts';
import type { FetchOptions } from './options.ts';
import { describeRequest, safeHeaders, sanitizeRuntimeError } from './redact.ts';
import type { JobBinding } from './types.ts';

// Duck-typed: SDKs may build their Requests from another realm or a polyfill.
const isRequest = (input: unknown): input is Request =>
	typeof input === 'object' &&
	input !== null &&
	!(input instanceof URL) &&
	typeof (input as Request).clone === 'function' &&
	'method' in input;
/** Where a fetch made by `createFetch` keeps the way to bind it to a job (retryJob's `fetch` option). */
export const bindToJob: unique symbol = Symbol('steadfetch.bindToJob') as never;

/** A fetch made by steadfetch, which a job can bind to itself, keeping its policy and its origins' guards. */
export type BindableFetch = typeof globalThis.fetch & { readonly [bindToJob]: (job: JobBinding) => typeof globalThis.fetch };

/**
The fetch behind `createFetch`, and behind a job's `job.fetch`, whose retries draw on the job's allowance and stop at its
deadline. A job binds a user's fetch with its engine: the per-origin budget, breaker and pacing outlive the job.
*/
export function fetchWith(
	config: FetchConfig,
	clock: Clock = systemClock,
	job?: JobBinding,
	dataReadMs: number = maxDataReadMs,
	engine: Engine = new Engine(config, clock, 'fetch'),
): BindableFetch {
	const { policy } = config;
	const steadfetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
		const send = config.fetch ?? globalThis.fetch;
		const request = isRequest(input) ? input : undefined;
		const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
		const own = init?.signal ?? request?.signal ?? undefined;
		// A job's signal stops its job.fetch calls, as it stops job.client()'s: with the call's own, whichever aborts first.
		const bound = job?.signal;
		const signal = bound && own ? AbortSignal.any([own, bound]) : (own ?? bound);
		if (signal && signal !== own) {
			init = { ...init, signal };
		}
		let headers = init?.headers ?? request?.headers;
		let hasKey = false;
		// Only a method outside retry.methods needs a key to be retried: GET's success path never builds Headers.
		if (!policy.methods.has(method)) {
			const withKey = safeHeaders(headers);
			hasKey = withKey.has('idempotency-key');
			const key = newIdempotencyKey(policy, method, hasKey);
			if (key !== undefined) {
				withKey.set('Idempotency-Key', key);
				headers = withKey;
				hasKey = true;
				init = { ...init, headers };
			}
		}
		// A stream handed in as the body can be read once; a Request's body can be cloned (tee'd) for every attempt.
		const replayable = !(init?.body instanceof ReadableStream);
		const url = request?.url ?? String(input);
		// Built only on the failure path, so that a success allocates nothing for it.
		const described = () => describeRequest(url, { method, ...(headers ? { headers } : {}) });
		const call = engine.call({ allowance: job?.allowance, deadline: job?.deadline, deadlineOption: 'maxRetryTime', unref: job?.unref });
		for (;;) {
			signal?.throwIfAborted();
			const waiting = call.pace(url, described, signal);
			if (waiting) {
				await waiting;
			}
			const attempt = call.begin(url, described);
			const last = !replayable || !call.canRetry(method, hasKey);
			let response: Response | undefined;
			let cause: unknown;
			try {
				response = await call.send(send, request && request.body !== null && !last ? request.clone() : input, init);
			} catch (error) {
				// An abort rejects with the signal's reason, and a TypeError of fetch's own (a bad URL, a bad header) is the
				// caller's: both pass through, the latter without the URL's query or the header's value.
				if (signal?.aborted || !isNetworkError(error)) {
					call.end(error);
					throw signal?.aborted ? error : sanitizeRuntimeError(error, config.secrets, headers);
				}
				cause = error;
			}
			// Below 400 is no failure: 2xx, a 3xx the caller asked to see (redirect: 'manual', 304), an opaque response.
			if (response && response.status < 400) {
				call.settle(attempt, response.status, response.headers);
				return response;
			}
			const failure: Failure = {
				outcome: response ? response.status : 'network',
				method,
				hasIdempotencyKey: hasKey,
				request: described,
				response,
				cause,
				replayable,
			};
			const decision = call.judge(failure);
			if (!decision.retry) {
				if (response && !config.throwHttpErrors) {
					call.resolveWith(failure, decision);
					// What the server sent, untouched: the caller's own error handling reads it.
					return response;
				}
				throw call.giveUp({ ...failure, data: response && (await readData(response, dataReadMs)) }, decision);
			}
			// A response that is not returned must not hold its connection.
			void response?.body?.cancel().catch(() => undefined);
			await call.wait(decision.delayMs, signal);
		}
	};
	return Object.defineProperty(steadfetch, bindToJob, {
		value: (binding: JobBinding) => fetchWith(config, clock, binding, dataReadMs, engine),
	}) as unknown as BindableFetch;
}

/**
A drop-in `fetch` that retries what the shared policy retries (statuses, methods, `Idempotency-Key` rule, backoff, `Retry-After`) and changes nothing else: it takes what fetch takes and resolves with a real `Response` for every status, the last one when retries run out. Hand it to any SDK that accepts a custom fetch.

Rejections keep fetch's shapes: an abort rejects with the signal's reason, a network failure with a `TypeError` (steadfetch's `FetchNetworkError`, with advice and history). With `throwHttpErrors: true`, failing statuses throw the client's enriched errors instead.

A `ReadableStream` body is sent once and never retried (it cannot be replayed); every other body (string, JSON, `URLSearchParams`, `FormData`, `Blob`, `ArrayBuffer`, a `Request` with a body) is sent intact on every attempt.

@example
```ts
import OpenAI from 'openai';
import { createFetch } from 'steadfetch';

// The SDK's own retries off; `idempotencyKey: true` lets its POSTs (every completion) be retried, one key per call.
const openai = new OpenAI({ fetch: createFetch({ idempotencyKey: true }), maxRetries: 0 });
```
*/
export function createFetch(options: FetchOptions = {}): typeof globalThis.fetch {
	return fetchWith(normalizeFetchOptions(options));
}
