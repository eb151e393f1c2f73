import { type Bindable, bindable } from '../engine/binding.ts';
import { maxDataReadMs } from '../engine/body.ts';
import { Engine } from '../engine/call.ts';
import { type Clock, systemClock } from '../engine/clock.ts';
import { newIdempotencyKey } from '../engine/idempotency-key.ts';
import { runAttempts } from '../engine/loop.ts';
import { type FetchConfig, normalizeFetchOptions } from '../options/normalize.ts';
import type { FetchOptions } from '../options/options.ts';
import { describeRequest, safeHeaders } from '../secrets/runtime-errors.ts';
import type { JobBinding } from '../types.ts';

// Duck-typed: SDKs may build their Requests from another realm or a polyfill.
// Below 400 is no failure: 2xx, a 3xx the caller asked to see (redirect: 'manual', 304), an opaque response.
const fails = (response: Response): boolean => response.status >= 400;

const isRequest = (input: unknown): input is Request =>
	typeof input === 'object' &&
	input !== null &&
	!(input instanceof URL) &&
	typeof (input as Request).clone === 'function' &&
	'method' in input;

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
): Bindable<typeof globalThis.fetch> {
	const { policy, throwHttpErrors } = config;
	const throws = typeof throwHttpErrors === 'function' ? throwHttpErrors : () => throwHttpErrors;
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
		if (!policy.methods.has(method) || job?.idempotencyKey) {
			const withKey = safeHeaders(headers);
			hasKey = withKey.has('idempotency-key');
			const key = newIdempotencyKey(policy, method, hasKey, job);
			if (key !== undefined) {
				withKey.set('Idempotency-Key', key);
				headers = withKey;
				hasKey = true;
				init = { ...init, headers };
			}
		}
		// A stream handed in as the body can be read once; a Request's body can be cloned (tee'd) for every attempt.
		const url = request?.url ?? String(input);
		return runAttempts({
			call: engine.call({ allowance: job?.allowance, deadline: job?.deadline, deadlineOption: 'maxRetryTime', unref: job?.unref }),
			send: job?.send ? job.send(send) : send,
			input,
			init,
			request,
			method,
			url,
			hasIdempotencyKey: hasKey,
			replayable: !(init?.body instanceof ReadableStream),
			// Built only on the failure path, so that a success allocates nothing for it.
			describe: () => describeRequest(url, { method, ...(headers ? { headers } : {}) }),
			signal,
			ownSignal: false,
			customFetch: config.fetch !== undefined || job?.send !== undefined,
			// fetch has no timeout of its own: a call's signal (AbortSignal.timeout) is the caller's.
			timeoutMs: false,
			fails,
			throws,
			dataReadMs,
			dataFirst: false,
			secrets: config.secrets,
			headers,
			body: init?.body ?? undefined,
		});
	};
	return bindable(steadfetch, (binding) => fetchWith(config, clock, binding, dataReadMs, engine));
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
