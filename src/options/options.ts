/*
The public option types: their TSDoc is the manual, and docs/api is generated from it. The defaults live in
defaults.ts (spec/defaults.spec.ts holds the `@default`s to them), the checks in rules.ts, the normalizers in
normalize.ts.
*/
import type { Options as KyOptions } from 'ky';
import type { Catalog } from '../catalog/parse.ts';
import type { SteadfetchError } from '../types.ts';
import type { BreakerOptions, BudgetOptions, RateLimitOptions } from './guards.ts';

/** What `retry.shouldRetry` is handed: ky's `ShouldRetryState`, with steadfetch's enriched error. */
export interface ShouldRetryState {
	/** The enriched error of the attempt that just failed. An `HttpStatusError` extends ky's `HTTPError`, so `error instanceof HTTPError` and `error.response.status` work as with ky; `NetworkError` and `TimeoutError` extend ky's too (the drop-in fetch's network failure is a `FetchNetworkError`, a `TypeError` as fetch's own). Its `stopReason` and `retryAt` are unset: nothing is decided yet. An error a custom `fetch` threw that is no network failure comes as it was thrown: a `true` retries it too, as in ky. */
	readonly error: SteadfetchError;
	/** The number of the retry being decided: 1 for the first retry, as in ky. */
	readonly retryCount: number;
}

/**
How failed requests are retried. Shared by `createClient`, `createFetch` and `retryJob`.

The number of requests for one call is at most `limit + 1`. ky's own retry options (`backoffLimit`, `delay`, `jitter` as a
function, `shouldRetry`, `maxRetryAfter`, `afterStatusCodes`) are taken with ky's meaning: docs/retries.md, "ky's retry options".
*/
export interface RetryOptions {
	/**
	How many times a failed request is retried: a call makes at most `limit + 1` requests. A non-negative integer.
	@default 2
	*/
	readonly limit?: number | undefined;
	/**
	Methods that are retried. POST and PATCH are not idempotent: they are retried only when the request carries an `Idempotency-Key` header (see `idempotencyKey`).
	@default ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']
	*/
	readonly methods?: readonly string[] | undefined;
	/**
	Response statuses that are retried. Every other status fails at once, after one request.
	@default [408, 429, 500, 502, 503, 504]
	*/
	readonly statusCodes?: readonly number[] | undefined;
	/**
	The retried statuses whose wait the server names is honoured (`Retry-After`, `retry-after-ms`, the rate-limit headers): ky's `afterStatusCodes`. On a retried status outside it the headers are ignored and the backoff is used. A status outside `statusCodes` has no effect, as in ky.
	@default every status in `statusCodes`
	*/
	readonly afterStatusCodes?: readonly number[] | undefined;
	/**
	The first backoff delay in milliseconds, before jitter: retry `n` waits up to `baseDelayMs * factor ** (n - 1)`.
	@default 300
	*/
	readonly baseDelayMs?: number | undefined;
	/**
	How much each backoff delay grows over the one before it. At least 1.
	@default 2
	*/
	readonly factor?: number | undefined;
	/**
	ky's `delay`: the backoff before jitter, in milliseconds, of retry `attemptCount` (1 for the first retry). Replaces `baseDelayMs` and `factor`: giving both is a `TypeError`. It must return a non-negative number; the caps (`backoffLimit`, `maxDelayMs`) still apply.
	@default attemptCount => baseDelayMs * factor ** (attemptCount - 1)
	*/
	readonly delay?: ((attemptCount: number) => number) | undefined;
	/**
	ky's `backoffLimit`: the longest backoff delay, in milliseconds. It caps computed delays only, never the server's wait. `maxDelayMs` caps backoff too: the lower of the two wins.
	@default Infinity
	*/
	readonly backoffLimit?: number | undefined;
	/**
	The longest wait between two attempts, in milliseconds: no wait is ever longer. Backoff delays are capped at it. When the server asks for a longer wait (after `maxRetryAfter`), the call does not sleep: it fails at once with an error whose `retryAt` says when to try again. When not given, it is `maxRetryAfter` if that is given, finite and larger than the default.
	@default 30000
	*/
	readonly maxDelayMs?: number | undefined;
	/**
	ky's `maxRetryAfter`: the server's wait is clamped to it, and the clamped wait is slept (where a wait above `maxDelayMs` fails at once). Given alone, it raises `maxDelayMs` to itself when larger, as a ky user expects (`{maxRetryAfter: 60000}` sleeps a `Retry-After: 60`). A finite value above a `maxDelayMs` given with it is a `TypeError`: the clamped wait would still fail at once.
	@default Infinity
	*/
	readonly maxRetryAfter?: number | undefined;
	/**
	Jitter on backoff delays (never on the server's wait). `true`: full jitter, each delay drawn uniformly from 0 to its capped value, so that clients that failed together do not retry together. `false`: the exact delay. A function, as in ky: `delay => newDelay`, handed the delay before the caps; a result that is not a finite non-negative number falls back to the delay; the caps apply after it.
	@default true
	*/
	readonly jitter?: boolean | ((delay: number) => number) | undefined;
	/**
	Whether an attempt that ran past `timeout` is retried (for retried methods). A call past `totalTimeout` is never retried.
	@default true
	*/
	readonly retryOnTimeout?: boolean | undefined;
	/**
	ky's `shouldRetry`, asked once the limit, the method rule and the deadline allow a retry: `true` retries (even a status or timeout the policy would not) after the backoff, ignoring the server's wait, as ky does; `false` stops (`stopReason: 'declined'`); `undefined` leaves it to the policy. It decides synchronously: an `async` function is a `TypeError` at creation, a returned Promise one at run time. It never overrides the limit, the `Idempotency-Key` rule, the deadline, the retry budget, the breaker or pacing. An exception it throws ends the call with that exception.
	@default undefined
	*/
	readonly shouldRetry?: ((state: ShouldRetryState) => boolean | undefined) | undefined;
}

/** What `onRetry` is told before each retry. */
export interface RetryEvent<E extends Error = SteadfetchError> {
	/** The error of the attempt that just failed: enriched for client and fetch; whatever the job threw for a job. */
	readonly error: E;
	/** The number of the attempt about to be made (2 for the first retry). */
	readonly attempt: number;
	/** The most attempts that can be made: `limit + 1`. */
	readonly maxAttempts: number;
	/** How long the wait before that attempt is, in milliseconds. */
	readonly delayMs: number;
}

/** The options that `createClient`, `createFetch` and `retryJob` share: the retry policy and how to observe it. */
export interface SharedOptions {
	/**
	The retry policy, or a number as shorthand for `{limit}`. See `RetryOptions`.
	@default {limit: 2, baseDelayMs: 300, factor: 2, maxDelayMs: 30000, jitter: true}
	*/
	readonly retry?: RetryOptions | number | undefined;
	/**
	Called before each retry, after the decision and before the wait. Nothing is logged by default. An exception it throws ends the call with that exception.
	@default undefined
	*/
	readonly onRetry?: ((event: RetryEvent) => void) | undefined;
	/**
	Called once when a call fails for good (after its last attempt, or at once for a failure that is not retried), with the enriched error. Nothing is logged by default.
	@default undefined
	*/
	readonly onGiveUp?: ((error: SteadfetchError) => void) | undefined;
}

/** Options of `createClient` and `createFetch` that build requests and errors. */
export interface RequestPolicyOptions extends SharedOptions {
	/**
	Advice that extends or overrides the API's documented advice, per status (`'404'`), status class (`'4xx'`) or failure kind (`'network'`, `'timeout'`). `parseCatalog` turns an error page into one.
	@default the advice of docs/error-codes.md, then docs/general-advice.md
	*/
	readonly catalog?: Catalog | undefined;
	/**
	Give each POST and PATCH call an `Idempotency-Key` header (one key per call, the same on every attempt), which makes it safe to retry. `true` uses `crypto.randomUUID()`; a function makes the key. A key the caller set is kept.
	@default false
	*/
	readonly idempotencyKey?: boolean | (() => string) | undefined;
	/**
	The retry budgets: one per endpoint, spent by retries after its statuses and timeouts, and one per origin, spent by retries after failures of the connection. Successes earn tokens, retries spend them, so that retries add at most a fraction of the traffic when a service fails broadly; a broken endpoint never spends the retries a healthy one needs. `false` turns it off.
	@default {ratio: 1, capacity: 20}
	*/
	readonly budget?: BudgetOptions | false | undefined;
	/**
	The circuit breakers: one per origin, which hears failures of the connection (refused, reset, DNS, TLS), and one per endpoint, which hears its statuses and timeouts. After `failureThreshold` transient failures in a row spanning `failureWindowMs`, calls that would meet it fail at once with a `CircuitOpenError`, but for one probe every `openMs`; the first probe that succeeds closes it. A broken endpoint never opens the circuit for healthy ones. `false` turns it off.
	@default {failureThreshold: 10, failureWindowMs: 1000, openMs: 100}
	*/
	readonly breaker?: BreakerOptions | false | undefined;
	/**
	Pacing ahead of the 429: once a response says no request remains in one of the API's rate-limit windows (GitHub's `x-ratelimit-remaining`, the IETF `RateLimit` field, OpenAI's and Anthropic's headers: see docs/retries.md), later calls that would spend that window wait for its reset instead of spending a request on a 429. A window is the tenant's (the credential the request carries, and the domain `rateLimit.key` names) and the bucket's the response names (`x-ratelimit-resource`, an IETF policy); else the endpoint's that answered: calls to other buckets, tenants and endpoints never wait for it. A reset further away than `retry.maxDelayMs` fails the call at once, without a request, with a 429 error whose `stopReason` is `'rate-limited'` and whose `retryAt` is the reset. `false` turns it off.
	@default true
	*/
	readonly rateLimit?: boolean | RateLimitOptions | undefined;
}

/**
Options of `createClient`: every option of ky 2 (`baseUrl`, `headers`, `hooks`, `timeout`, `totalTimeout`, `json`, ...) plus steadfetch's own. Validated once, when the client is created.
*/
export interface ClientOptions extends Omit<KyOptions, 'retry'>, RequestPolicyOptions {
	/**
	An API key sent with every request, as `<apiKeyScheme> <apiKey>` in the `apiKeyHeader` header. It never appears in an error.
	@default undefined
	*/
	readonly apiKey?: string | undefined;
	/**
	The header that carries `apiKey`.
	@default 'Authorization'
	*/
	readonly apiKeyHeader?: string | undefined;
	/**
	The scheme put before `apiKey`; `null` sends the key alone.
	@default 'Bearer' when `apiKeyHeader` is Authorization, else `null`
	*/
	readonly apiKeyScheme?: string | null | undefined;
}

/** Options of `createFetch`. */
export interface FetchOptions extends RequestPolicyOptions {
	/**
	Throw the enriched errors (as the client does) for failing statuses, instead of resolving with the response as `fetch` does; a function of the status, as ky takes, decides per status.
	@default false
	*/
	readonly throwHttpErrors?: boolean | ((status: number) => boolean) | undefined;
	/**
	The fetch to wrap. Read on every call when not given, so test tools that patch `globalThis.fetch` keep working.
	@default globalThis.fetch
	*/
	readonly fetch?: typeof globalThis.fetch | undefined;
}

/** The retry policy after validation: frozen, read by the request path. */
export interface Policy {
	readonly limit: number;
	readonly methods: ReadonlySet<string>;
	readonly statusCodes: ReadonlySet<number>;
	/** Undefined: the server's wait is read on every status in `statusCodes`. */
	readonly afterStatusCodes: ReadonlySet<number> | undefined;
	readonly baseDelayMs: number;
	readonly factor: number;
	readonly delay: ((attemptCount: number) => number) | undefined;
	readonly backoffLimit: number;
	readonly maxDelayMs: number;
	readonly maxRetryAfter: number;
	readonly jitter: boolean | ((delay: number) => number);
	readonly retryOnTimeout: boolean;
	readonly shouldRetry: ((state: ShouldRetryState) => boolean | undefined) | undefined;
	readonly idempotencyKey: (() => string) | undefined;
	readonly onRetry: ((event: RetryEvent) => void) | undefined;
	readonly onGiveUp: ((error: SteadfetchError) => void) | undefined;
}
