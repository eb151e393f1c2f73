/**
The main entry: the client, the drop-in fetch, jobs, the errors and their guards.
@module steadfetch
*/

export type { Catalog, CatalogEntry } from './catalog/parse.ts';
export { parseCatalog } from './catalog/parse.ts';
export type { Admission } from './engine/guards/breaker.ts';
export { backoffDelay, parseRetryAfter } from './engine/policy.ts';
export { isRefusal } from './engine/refusal.ts';
export { CircuitOpenError } from './errors/circuit.ts';
export { isCircuitOpenError, isHttpStatusError, isNetworkError, isSteadfetchError, isTimeoutError } from './errors/guards.ts';
export {
	BadRequestError,
	ClientError,
	HttpStatusError,
	InternalServerError,
	NotFoundError,
	ServerError,
	UnauthenticatedError,
} from './errors/http.ts';
export { FetchNetworkError, NetworkError } from './errors/network.ts';
export { TimeoutError } from './errors/timeout.ts';
export type { BreakerEvent, BreakerOptions, BreakerState, BudgetOptions, RateLimitOptions, RateLimitRequest } from './options/guards.ts';
export type {
	ClientOptions,
	FetchOptions,
	Policy,
	RequestPolicyOptions,
	RetryEvent,
	RetryOptions,
	SharedOptions,
	ShouldRetryState,
} from './options/options.ts';
export { redactUrl } from './secrets/urls.ts';
export { createClient, steadfetch, steadfetch as default } from './surfaces/client.ts';
export { createFetch } from './surfaces/fetch.ts';
export type { JobContext, JobOptions, QueueDecision } from './surfaces/job.ts';
export { queueDecision, retryJob } from './surfaces/job.ts';
export type {
	Advice,
	AttemptRecord,
	ErrorKind,
	Outcome,
	ProblemDetails,
	SteadfetchError,
	SteadfetchErrorJson,
	SteadfetchFields,
	StopReason,
} from './types.ts';
