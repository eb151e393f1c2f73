import isNetworkError from 'is-network-error';
import ky, {
	type BeforeRequestHook,
	type HTTPError,
	isHTTPError as isKyHttpError,
	isNetworkError as isKyNetworkError,
	isTimeoutError as isKyTimeoutError,
	type KyInstance,
	type Options as KyOptions,
	type NormalizedOptions,
	type ResponsePromise,
	type ShouldRetryState,
} from 'ky';
import type { SteadfetchError } from './errors/base.ts';
import { createError } from './errors/create.ts';
import {
	assertHeaderValues,
	type ClientConfig,
	type ClientOptions,
	normalizeClientOptions,
	normalizeLimit,
	ownOptionNames,
	type Policy,
} from './options.ts';
import { guardDecision, type OriginGuard, Origins, report } from './origins.ts';
import {
	type Allowance,
	allowanceKey,
	backoffDelay,
	type Decision,
	decide,
	isTransient,
	type Outcome,
	spend,
	type Tally,
} from './policy.ts';
import { sanitizeRuntimeError } from './redact.ts';

/** What one call (one `client.get(...)`, all its attempts) keeps while it runs. */
interface Call {
	readonly policy: Policy;
	readonly start: number;
	readonly totalTimeout: number | undefined;
	/** The call's own tally, or its job's, shared by every call of the job. */
	readonly tally: Tally;
	readonly allowance: Allowance | undefined;
	/** This call's own attempts (the tally may count a whole job's). */
	attempts: number;
	/** The attempt in flight: its number (in the tally) and start, and whether its outcome is recorded. */
	pending: Pending | undefined;
	/** The budget and breaker of the origin of the attempt in flight. */
	guard: OriginGuard | undefined;
	/** The request of the last attempt, as sent. */
	request: Request | undefined;
	plannedDelay: number | undefined;
	stop: Decision | undefined;
}

type Failure = HTTPError | Error;

// Where a call keeps its state: in ky's per-request `context` (a copy made for each request), which every hook sees.
const callKey: unique symbol = Symbol('steadfetch.call') as never;
const callOf = (options: Readonly<NormalizedOptions>): Call | undefined => options.context[callKey as never] as Call | undefined;
const clock = (): number => globalThis.performance.now();
// Every method goes through our `shouldRetry`, which applies the policy's own method rule.
const allMethods = ['get', 'post', 'put', 'patch', 'head', 'delete', 'options', 'trace', 'query'];

const outcomeOf = (error: unknown): Outcome | undefined =>
	isKyHttpError(error) ? error.response.status : isKyNetworkError(error) ? 'network' : isKyTimeoutError(error) ? 'timeout' : undefined;

interface Pending {
	readonly attempt: number;
	readonly start: number;
	done: boolean;
}

// Once per attempt, whoever sees its outcome first: the response, or ky's retry decision on a failure. A response that
// arrives after its attempt timed out finds it done; calls of one job that run side by side each fill their own.
const record = ({ tally, guard, policy }: Call, outcome: Outcome | undefined, pending: Pending | undefined): void => {
	if (!pending || pending.done) {
		return;
	}
	pending.done = true;
	if (outcome !== undefined) {
		report(guard, isTransient(policy, outcome), Date.now());
	}
	tally.history.push({
		attempt: pending.attempt,
		...(typeof outcome === 'number' ? { status: outcome } : outcome ? { failure: outcome } : {}),
		durationMs: Math.round(clock() - pending.start),
	});
};

// Method and key are read from the request that failed: a user hook may have replaced or changed it.
const judge = (call: Call, error: Failure, retry: number, outcome: Outcome): Decision => {
	const { request } = error as { request: Request };
	const now = Date.now();
	return decide(call.policy, {
		outcome,
		method: request.method,
		hasIdempotencyKey: request.headers.has('idempotency-key'),
		retry,
		headers: isKyHttpError(error) ? error.response.headers : undefined,
		remainingMs: call.totalTimeout === undefined ? undefined : call.totalTimeout - (clock() - call.start),
		now,
	});
};

const enrich = (config: ClientConfig, call: Call, error: Failure, outcome: Outcome, decision: Decision | undefined): SteadfetchError => {
	const http = isKyHttpError(error) ? error : undefined;
	return createError({
		...config,
		outcome,
		retryable: isTransient(call.policy, outcome),
		request: (error as { request: Request }).request,
		response: http?.response,
		data: http?.data,
		attempts: call.tally.attempts,
		history: call.tally.history,
		decision,
		cause: error.cause,
	});
};

// ky copies the retry options for every request: equal arrays count as unchanged.
const same = (value: unknown, expected: unknown): boolean =>
	value === expected ||
	(Array.isArray(value) &&
		Array.isArray(expected) &&
		value.length === expected.length &&
		value.every((item, index) => item === expected[index]));

const addIdempotencyKey =
	(generate: () => string): BeforeRequestHook =>
	({ request }) => {
		if (/^(?:POST|PATCH)$/i.test(request.method) && !request.headers.has('idempotency-key')) {
			const key = generate();
			if (typeof key !== 'string' || key === '') {
				throw new TypeError('Expected `idempotencyKey()` to return a non-empty string.');
			}
			// Set once, before ky clones the request for retries: every attempt carries the same key.
			request.headers.set('Idempotency-Key', key);
		}
	};

const requestMethods = ['get', 'post', 'put', 'patch', 'head', 'delete', 'query'] as const;
const bodyMethods = ['json', 'text', 'arrayBuffer', 'blob', 'formData', 'bytes'] as const;
// The call that ky's init hook set up last. Init hooks run synchronously inside the call to ky, so right after that
// call returns, this is its state: the link between a ResponsePromise and the call behind it.
let latest: Call | undefined;

// ky reads a success's body outside its hooks: a body cut off mid-way rejects with the runtime's bare TypeError
// ("terminated"). Give it the same enrichment as every other failure of the call.
const enrichBodyReads = (promise: ResponsePromise, call: Call | undefined, config: ClientConfig): void => {
	for (const method of bodyMethods) {
		const read = promise[method] as ((...parameters: unknown[]) => Promise<unknown>) | undefined;
		if (read && call) {
			(promise as unknown as Record<string, unknown>)[method] = (...parameters: unknown[]) =>
				read(...parameters).catch((error: unknown) => {
					if (!call.request || !isNetworkError(error)) {
						throw error;
					}
					const failure = createError({
						...config,
						outcome: 'body',
						retryable: true,
						request: call.request,
						attempts: call.tally.attempts,
						history: call.tally.history,
						decision: undefined,
						cause: error,
					});
					call.policy.onGiveUp?.(failure);
					throw failure;
				});
		}
	}
};

function guardInputs(instance: KyInstance, config: ClientConfig): KyInstance {
	const guarded = <F extends (...parameters: never[]) => unknown>(call: F): F =>
		((...parameters: Parameters<F>) => {
			latest = undefined;
			try {
				const promise = call(...parameters) as ResponsePromise;
				enrichBodyReads(promise, latest, config);
				return promise;
			} catch (error) {
				throw sanitizeRuntimeError(error, config.secrets);
			}
		}) as F;
	return Object.assign(guarded(instance), instance, {
		...Object.fromEntries(requestMethods.map((method) => [method, guarded(instance[method])])),
		extend: ((options) => guardInputs(instance.extend(options), config)) as KyInstance['extend'],
	});
}

/**
Create a ky instance that retries transient failures with exponential backoff and full jitter, honours `Retry-After`, fails fast on every other status, and throws errors that carry the API's troubleshooting advice.

All of ky's options pass through, and hooks given here run after steadfetch's own. Options are validated now: a bad one throws a `TypeError` naming it.

@example
```
const api = createClient({baseUrl: 'https://api.example.com/v1/', apiKey: process.env.API_KEY});
const user = await api.get('users/42').json();
```
*/
export function createClient(options: ClientOptions = {}): KyInstance {
	const config = normalizeClientOptions(options);
	const { policy } = config;
	const { hooks = {}, ...kyOptions } = config.kyOptions;
	const baseRetry = { limit: policy.limit, methods: allMethods, statusCodes: [] as number[], afterStatusCodes: [] as number[] };
	// Per-origin retry budget and circuit breaker: this client's own, shared by its extend()ed copies and job.client() views.
	const origins = new Origins(config.budget, config.breaker);

	const begin = (request: KyOptions): void => {
		for (const name of ownOptionNames) {
			if (name in request) {
				throw new TypeError(`\`${name}\` is set by createClient, not per request or by extend.`);
			}
		}
		// Checked before ky builds its Headers, whose error would quote the value (a secret, maybe).
		assertHeaderValues(request.headers);
		if (request.throwHttpErrors !== undefined && request.throwHttpErrors !== true) {
			throw new TypeError('`throwHttpErrors` cannot be turned off on a steadfetch client: ky then skips every status retry.');
		}
		// Per request, or through extend(), only ky's `retry.limit` may change; the rest of the policy is the client's.
		let limit = policy.limit;
		if (typeof request.retry === 'number') {
			limit = normalizeLimit(request.retry, 'retry');
		} else if (request.retry) {
			for (const [key, value] of Object.entries(request.retry)) {
				if (key === 'limit') {
					limit = normalizeLimit(value);
				} else if (!(key in baseRetry) || !same(value, baseRetry[key as keyof typeof baseRetry])) {
					throw new TypeError(`Only \`retry.limit\` can be set per request or by extend(); \`retry.${key}\` is set by createClient.`);
				}
			}
		}
		const allowance = request.context?.[allowanceKey as never] as Allowance | undefined;
		const call: Call = {
			policy: limit === policy.limit ? policy : { ...policy, limit },
			start: clock(),
			totalTimeout: typeof request.totalTimeout === 'number' ? request.totalTimeout : undefined,
			tally: allowance?.tally ?? { attempts: 0, history: [] },
			allowance,
			attempts: 0,
			pending: undefined,
			guard: undefined,
			request: undefined,
			plannedDelay: undefined,
			stop: undefined,
		};
		const shouldRetry = ({ error, retryCount }: ShouldRetryState): boolean => {
			const outcome = outcomeOf(error);
			record(call, outcome, call.pending);
			if (outcome === undefined) {
				return false;
			}
			const now = Date.now();
			const decision = spend(call.allowance, guardDecision(call.guard, judge(call, error, retryCount, outcome), now), now);
			if (!decision.retry) {
				call.stop = decision;
				return false;
			}
			call.plannedDelay = decision.delayMs;
			// This call's record: in a job's shared tally, the last one may be another call's.
			const own = call.tally.history.findLast((entry) => entry.attempt === call.pending?.attempt);
			if (own) {
				own.delayMs = decision.delayMs;
			}
			policy.onRetry?.({
				error: enrich(config, call, error, outcome, decision),
				attempt: retryCount + 1,
				maxAttempts: limit + 1,
				delayMs: decision.delayMs,
			});
			return true;
		};
		// ky copied `context` for this request before init hooks ran: writing to it touches nothing shared.
		request.context = Object.assign(request.context ?? {}, { [callKey]: call });
		latest = call;
		const delay = (retry: number): number => {
			// Set by shouldRetry just before; a retry forced by an afterResponse hook (ky.retry()) gets plain backoff.
			const planned = call.plannedDelay;
			call.plannedDelay = undefined;
			return planned ?? backoffDelay(call.policy, retry);
		};
		request.retry = { ...baseRetry, limit, shouldRetry, delay };
		const fetch = request.fetch;
		request.fetch = (input, init) => {
			const sent = input as Request;
			call.request = sent;
			call.guard = origins.of(sent.url);
			const admission = call.guard?.breaker?.admit(Date.now());
			if (admission && !admission.admitted) {
				// Refused before sending: a CircuitOpenError, which passes through beforeError untouched.
				const refusal = createError({
					...config,
					outcome: 'circuit',
					retryable: true,
					request: sent,
					attempts: call.tally.attempts,
					history: call.tally.history,
					decision: { retry: false, reason: 'circuit-open', retryAt: admission.retryAt },
				});
				policy.onGiveUp?.(refusal);
				return Promise.reject(refusal);
			}
			call.attempts++;
			const pending: Pending = { attempt: ++call.tally.attempts, start: clock(), done: false };
			call.pending = pending;
			// The response is seen here rather than in an afterResponse hook, for which ky would clone (tee) every response.
			return (fetch ? fetch(input, init) : globalThis.fetch(input, init)).then((response) => {
				record(call, response.status, pending);
				return response;
			});
		};
	};

	return guardInputs(
		ky.create({
			...kyOptions,
			retry: baseRetry,
			hooks: {
				init: [begin, ...(hooks.init ?? [])],
				// Only when keys are generated: every hook ky runs costs every request.
				beforeRequest: [...(policy.idempotencyKey ? [addIdempotencyKey(policy.idempotencyKey)] : []), ...(hooks.beforeRequest ?? [])],
				afterResponse: hooks.afterResponse ?? [],
				beforeRetry: hooks.beforeRetry ?? [],
				beforeError: [
					({ error, options: normalized }) => {
						const call = callOf(normalized);
						const outcome = outcomeOf(error);
						// Aborts, errors thrown by hooks and schema failures are the caller's own: they pass through untouched.
						if (!call || outcome === undefined) {
							return error;
						}
						record(call, outcome, call.pending);
						// ky stops at the limit without asking shouldRetry: work out the reason and the retry time here.
						let decision = call.stop ?? (isTransient(call.policy, outcome) ? judge(call, error, call.attempts, outcome) : undefined);
						if (decision?.retry) {
							// The policy would go on, so ky stopped for its own reason: the call's totalTimeout ran out.
							decision = { retry: false, reason: 'deadline', retryAt: Date.now() + decision.delayMs };
						}
						const enriched = enrich(config, call, error, outcome, decision);
						policy.onGiveUp?.(enriched);
						return enriched;
					},
					...(hooks.beforeError ?? []),
				],
			},
		}),
		config,
	);
}

/** A client with the default policy and no base URL, for absolute URLs. */
export const steadfetch: KyInstance = /* @__PURE__ */ createClient();
