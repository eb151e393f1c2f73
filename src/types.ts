/*
The types that several rooms of the house share: what an attempt ended with, why a call stopped, the records of a call,
and the error interface that option callbacks name. A leaf: it imports nothing, so options, policy, the attempt engine
and the errors can all stand on it without a circle.
*/

/** What an attempt ended with: a response status, or a failure without a response. */
export type Outcome = number | 'network' | 'timeout';

/** Why a failed call was not retried. */
export type StopReason =
	/** The failure is permanent for this request (400, 401, 404, ...): sending it again cannot help. */
	| 'permanent'
	/** Timeouts are not retried (`retry.retryOnTimeout: false`). */
	| 'timeout-not-retried'
	/** The request is not safe to repeat: POST or PATCH without an `Idempotency-Key`, or a method outside `retry.methods`. */
	| 'not-idempotent'
	/** `retry.limit` retries were made already. */
	| 'limit'
	/** The server asked for a wait longer than `retry.maxDelayMs`. */
	| 'wait-over-cap'
	/** The next attempt could not start before `totalTimeout` (or a job's `maxRetryTime`) runs out. */
	| 'deadline'
	/** The job this call ran in has spent its retries. */
	| 'allowance'
	/** The origin's retry budget is spent: the service is failing broadly, and retries were withheld to protect it. */
	| 'budget'
	/** The origin's circuit breaker is open. */
	| 'circuit-open'
	/** `retry.shouldRetry` said no. */
	| 'declined'
	/** The API said its rate limit for this call's window is spent until a reset further away than `retry.maxDelayMs`: no request was sent. */
	| 'rate-limited'
	/** The request body is a stream that was sent once and cannot be sent again. */
	| 'unreplayable-body';

/** The verdict on a failed attempt: retry after `delayMs`, or stop, and why. */
export type Decision =
	| { readonly retry: true; readonly delayMs: number }
	| {
			readonly retry: false;
			readonly reason: StopReason;
			readonly retryAt?: number;
	  };

/** One request of a call. */
export interface AttemptRecord {
	/** 1 for the first request. */
	readonly attempt: number;
	/** The response status, when a response arrived. */
	readonly status?: number;
	/** What went wrong when no response arrived. */
	readonly failure?: 'network' | 'timeout';
	/** From sending the request to the retry decision (the error body read included), in milliseconds. */
	readonly durationMs: number;
	/** The wait before the next attempt, in milliseconds; absent on the last. */
	readonly delayMs?: number;
}

/** The attempts of one call, or of every call in a job: numbered across them all. */
export interface Tally {
	attempts: number;
	/** The first and the last records: a job that made 100,000 requests must not carry 100,000 of them. */
	readonly history: { -readonly [K in keyof AttemptRecord]: AttemptRecord[K] }[];
	/** How many records were left out of `history`, between its first and its last. */
	omitted: number;
}

/**
A job's one allowance of retries: each retry inside the job, by a client through `job.client()` or by the job itself, spends one; when none is left, nobody retries. Its tally numbers every HTTP attempt of the job.
*/
export interface Allowance {
	retriesLeft: number;
	readonly tally: Tally;
}

/** What binds a call to the job it runs in: the allowance its retries spend, the time it must end by, how it waits. */
export interface JobBinding {
	readonly allowance: Allowance;
	/** The monotonic time by which the job must end (its `maxRetryTime`); undefined for none. */
	readonly deadline: number | undefined;
	/** The job's `unref`: the call's waits (backoff, `Retry-After`, pacing) let a Node process exit. */
	readonly unref?: boolean | undefined;
	/** The job's `signal`: it ends the attempt in flight and the waits of the job's fetch, as a signal of the call's own does. */
	readonly signal?: AbortSignal | undefined;
	/** Wraps the fetch each attempt goes through (the BullMQ adapter watches what its runs send and receive). */
	readonly send?: ((send: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>) => typeof globalThis.fetch) | undefined;
	/** The job's own `Idempotency-Key` for a POST or PATCH without one: it wins over the client's or fetch's generator. */
	readonly idempotencyKey?: (() => string) | undefined;
}

/** The kinds of failure a steadfetch error stands for. */
export type ErrorKind = 'http' | 'network' | 'timeout' | 'circuit';

/** The API documentation's troubleshooting advice for a failure. */
export interface Advice {
	/** Why it happens. */
	readonly cause: string;
	/** What to do about it. */
	readonly solution: string;
}

/**
An RFC 9457 problem details body (`application/problem+json`), as the API sent it, secrets masked. Each of the five
members is here only when the body gives it with the type RFC 9457 names (a member of another type is ignored, as its
section 3.1 says); every other member is an extension, kept as sent.
*/
export interface ProblemDetails {
	/** A URI reference naming the problem type (`https://example.com/probs/out-of-credit`); absent means `about:blank`: the status says it all. */
	readonly type?: string;
	/** A short summary of the problem type, the same for every occurrence: `You do not have enough credit.` */
	readonly title?: string;
	/** The HTTP status the server gave the problem. */
	readonly status?: number;
	/** What went wrong this time, for a person: `Your current balance is 30, but that costs 50.` */
	readonly detail?: string;
	/** A URI reference naming this occurrence: `/account/12345/msgs/abc`. */
	readonly instance?: string;
	/** Extension members (`balance`, `accounts`, `errors`...), as sent. */
	readonly [member: string]: unknown;
}

/** What `toJSON()` gives: a log-ready object with no secret in it. */
export interface SteadfetchErrorJson {
	readonly name: string;
	readonly message: string;
	readonly status?: number;
	readonly code?: string;
	readonly title: string;
	readonly description: string;
	readonly advice: Advice;
	readonly request: { readonly method: string; readonly url: string };
	readonly problem?: ProblemDetails;
	readonly data?: unknown;
	readonly attempts: number;
	readonly history: readonly AttemptRecord[];
	readonly historyOmitted?: number;
	readonly retryable: boolean;
	readonly retryAt?: string;
	readonly stopReason?: StopReason;
	readonly cause?: {
		readonly name: string;
		readonly message: string;
		readonly code?: string;
	};
}

/** The fields steadfetch adds to the error classes it inherits from ky. */
export interface SteadfetchFields {
	/** The response status; undefined for network errors and timeouts. */
	readonly status: number | undefined;
	/**
	What the runtime said went wrong when no response arrived (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, undici's
	`UND_ERR_SOCKET`...), read from the runtime's error and its causes; undefined for a response, a timeout, and where the
	runtime gives none (Deno, browsers).
	*/
	readonly code: string | undefined;
	/** The status's name in the API docs, e.g. `Not Found`. */
	readonly title: string;
	/** The API docs' one-line description, e.g. `The requested resource doesn't exist.` */
	readonly description: string;
	/** The API docs' Cause and Solution. */
	readonly advice: Advice;
	/**
	The body as RFC 9457 problem details: for `application/problem+json`, or a JSON object whose `status` is the
	response's and that has a `title` or `detail`; else undefined. Its `detail` (else `title`) is the server's reason in
	`message`.
	*/
	readonly problem: ProblemDetails | undefined;
	/** How many requests the call made. */
	readonly attempts: number;
	/** Every request of the call, in order: the first 10 and the last 40 of a longer one (a job's, say). */
	readonly history: readonly AttemptRecord[];
	/** How many records were left out of `history`, between its first 10 and its last 40; 0 almost always. */
	readonly historyOmitted: number;
	/** Whether the failure is transient: the same request may succeed later (5xx, 408, 429, network, timeout, by `retry.statusCodes`). */
	readonly retryable: boolean;
	/** When a retry makes sense (from `Retry-After`, else the next backoff); undefined when `retryable` is false. */
	readonly retryAt: Date | undefined;
	/** Why the call stopped retrying a transient failure: `limit`, `not-idempotent`, `wait-over-cap`, `deadline`... */
	readonly stopReason: StopReason | undefined;
	/** A log-ready object, free of secrets. */
	toJSON(): SteadfetchErrorJson;
}

/** Any error steadfetch raises: `HttpStatusError` and its subclasses, `NetworkError`, `TimeoutError`, `CircuitOpenError`. */
export interface SteadfetchError extends Error, SteadfetchFields {
	/** A copy of the request that failed: method, URL and headers with secrets replaced by `***`. Never the original. */
	readonly request: Request;
	/** The response body (parsed JSON, or text) when it fits in 8 KiB, else a text excerpt of 8 KiB; undefined without a response. */
	readonly data: unknown;
}
