import isNetworkError from 'is-network-error';
import { createError } from './errors/create.ts';
import { type FetchConfig, type FetchOptions, normalizeFetchOptions } from './options.ts';
import { guardDecision, Origins, report } from './origins.ts';
import { type Allowance, type Decision, decide, isRepeatable, isTransient, type Outcome, sleep, spend, type Tally } from './policy.ts';
import { sanitizeRuntimeError } from './redact.ts';

const clock = (): number => globalThis.performance.now();
// Duck-typed: SDKs may build their Requests from another realm or a polyfill.
const isRequest = (input: unknown): input is Request =>
	typeof input === 'object' &&
	input !== null &&
	!(input instanceof URL) &&
	typeof (input as Request).clone === 'function' &&
	'method' in input;
// Read no more of an error body than an error keeps; the rest is cancelled.
const maxDataBytes = 64 * 1024;

async function readData(response: Response): Promise<unknown> {
	const reader = response.body?.getReader();
	if (!reader) {
		return undefined;
	}
	const chunks: Uint8Array[] = [];
	let size = 0;
	try {
		while (size < maxDataBytes) {
			const { done, value } = await reader.read();
			if (done) {
				break;
			}
			chunks.push(value);
			size += value.byteLength;
		}
	} catch {
		// A body cut off mid-way still tells something: keep what arrived.
	} finally {
		void reader.cancel().catch(() => undefined);
	}
	const bytes = new Uint8Array(size);
	let offset = 0;
	for (const chunk of chunks) {
		bytes.set(chunk.subarray(0, size - offset), offset);
		offset += chunk.byteLength;
	}
	const text = new TextDecoder().decode(bytes.subarray(0, maxDataBytes));
	if (text === '') {
		return undefined;
	}
	try {
		return /\bjson\b/i.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text;
	} catch {
		return text;
	}
}

/** What a failed call of the drop-in fetch is described from. */
interface FailedCall {
	readonly config: FetchConfig;
	readonly tally: Tally;
	readonly url: string;
	readonly method: string;
	readonly headers: HeadersInit | undefined;
}

// Built only on the failure path, so that a success allocates nothing for it.
const describe = (
	{ config, tally, url, method, headers }: FailedCall,
	outcome: Outcome | 'circuit',
	response: Response | undefined,
	decision: Decision,
	cause?: unknown,
	data?: unknown,
) =>
	createError({
		...config,
		outcome,
		retryable: outcome === 'circuit' || isTransient(config.policy, outcome),
		request: new Request(url, { method, ...(headers ? { headers } : {}) }),
		response,
		data,
		attempts: tally.attempts,
		history: tally.history,
		decision,
		cause,
		shape: 'fetch',
	});

/**
The fetch behind `createFetch`, and behind a job's `job.fetch()`, whose retries draw on the job's allowance and stop at its deadline.
*/
export function fetchWith(config: FetchConfig, allowance?: Allowance, deadline?: number): typeof globalThis.fetch {
	const { policy } = config;
	const origins = new Origins(config.budget, config.breaker);
	const steadfetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
		const send = config.fetch ?? globalThis.fetch;
		const request = isRequest(input) ? input : undefined;
		const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
		const signal = init?.signal ?? request?.signal ?? undefined;
		let headers = init?.headers ?? request?.headers;
		let hasKey = false;
		// Only a method outside retry.methods needs a key to be retried: GET's success path never builds Headers.
		if (!policy.methods.has(method)) {
			const withKey = new Headers(headers);
			hasKey = withKey.has('idempotency-key');
			if (!hasKey && policy.idempotencyKey && (method === 'POST' || method === 'PATCH')) {
				withKey.set('Idempotency-Key', policy.idempotencyKey());
				headers = withKey;
				hasKey = true;
				init = { ...init, headers };
			}
		}
		// A stream handed in as the body can be read once; a Request's body can be cloned (tee'd) for every attempt.
		const replayable = !(init?.body instanceof ReadableStream);
		const repeatable = replayable && policy.limit > 0 && isRepeatable(policy, method, hasKey);
		const tally: Tally = allowance?.tally ?? { attempts: 0, history: [] };
		const url = request?.url ?? String(input);
		const guard = origins.of(url);
		const failure: FailedCall = { config, tally, url, method, headers };
		for (let retry = 1; ; retry++) {
			signal?.throwIfAborted();
			const admission = guard?.breaker?.admit(Date.now());
			if (admission && !admission.admitted) {
				const refusal = describe(failure, 'circuit', undefined, { retry: false, reason: 'circuit-open', retryAt: admission.retryAt });
				policy.onGiveUp?.(refusal);
				throw refusal;
			}
			const last = !repeatable || retry > policy.limit;
			const started = clock();
			tally.attempts++;
			let response: Response | undefined;
			let cause: unknown;
			try {
				response = await send(request && request.body !== null && !last ? request.clone() : input, init);
			} catch (error) {
				// An abort rejects with the signal's reason, and a TypeError of fetch's own (a bad URL, a bad header) is the
				// caller's: both pass through, the latter without the URL's query or the header's value.
				if (signal?.aborted) {
					throw error;
				}
				if (!isNetworkError(error)) {
					throw sanitizeRuntimeError(error, config.secrets);
				}
				cause = error;
			}
			const outcome: Outcome = response ? response.status : 'network';
			const record: Tally['history'][number] | undefined =
				// A job's tally counts its successes too; a plain call's success needs no record.
				allowance || !response || response.status >= 400
					? {
							attempt: tally.attempts,
							...(response ? { status: response.status } : { failure: 'network' }),
							durationMs: Math.round(clock() - started),
						}
					: undefined;
			if (record) {
				tally.history.push(record);
			}
			report(guard, !response || isTransient(policy, response.status), Date.now());
			// Below 400 is no failure: 2xx, a 3xx the caller asked to see (redirect: 'manual', 304), an opaque response.
			if (response && response.status < 400) {
				return response;
			}
			const now = Date.now();
			const decision: Decision = replayable
				? spend(
						allowance,
						guardDecision(
							guard,
							decide(policy, {
								outcome,
								method,
								hasIdempotencyKey: hasKey,
								retry,
								headers: response?.headers,
								remainingMs: deadline === undefined ? undefined : deadline - now,
								now,
							}),
							now,
						),
						now,
					)
				: isTransient(policy, outcome)
					? { retry: false, reason: 'unreplayable-body' }
					: { retry: false, reason: 'permanent' };
			if (!decision.retry) {
				if (response && !config.throwHttpErrors) {
					if (policy.onGiveUp) {
						policy.onGiveUp(describe(failure, outcome, response, decision, cause));
					}
					// What the server sent, untouched: the caller's own error handling reads it.
					return response;
				}
				const error = describe(failure, outcome, response, decision, cause, response && (await readData(response)));
				policy.onGiveUp?.(error);
				throw error;
			}
			if (record) {
				record.delayMs = decision.delayMs;
			}
			// A response that is not returned must not hold its connection.
			void response?.body?.cancel().catch(() => undefined);
			policy.onRetry?.({
				error: describe(failure, outcome, response, decision, cause),
				attempt: retry + 1,
				maxAttempts: policy.limit + 1,
				delayMs: decision.delayMs,
			});
			await sleep(decision.delayMs, signal);
		}
	};
	return steadfetch as typeof globalThis.fetch;
}

/**
A drop-in `fetch` that retries what the shared policy retries (statuses, methods, `Idempotency-Key` rule, backoff, `Retry-After`) and changes nothing else: it takes what fetch takes and resolves with a real `Response` for every status, the last one when retries run out. Hand it to any SDK that accepts a custom fetch.

Rejections keep fetch's shapes: an abort rejects with the signal's reason, a network failure with a `TypeError` (steadfetch's `FetchNetworkError`, with advice and history). With `throwHttpErrors: true`, failing statuses throw the client's enriched errors instead.

A `ReadableStream` body is sent once and never retried (it cannot be replayed); every other body (string, JSON, `URLSearchParams`, `FormData`, `Blob`, `ArrayBuffer`, a `Request` with a body) is sent intact on every attempt.

@example
```
import OpenAI from 'openai';
const openai = new OpenAI({fetch: createFetch(), maxRetries: 0});
```
*/
export function createFetch(options: FetchOptions = {}): typeof globalThis.fetch {
	return fetchWith(normalizeFetchOptions(options));
}
