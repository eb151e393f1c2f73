/**
The main entry: the client, the drop-in fetch, jobs, the errors and their guards.
@module steadfetch
*/
export type { Admission, BreakerEvent, BreakerOptions, BreakerState } from './breaker.ts';
export type { BudgetOptions } from './budget.ts';
export type { Catalog, CatalogEntry } from './catalog.ts';
export { parseCatalog } from './catalog.ts';
export { createClient, steadfetch, steadfetch as default } from './client.ts';
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
export { createFetch } from './fetch.ts';
export type { JobContext, JobOptions, QueueDecision } from './job.ts';
export { queueDecision, retryJob } from './job.ts';
export type {
	ClientOptions,
	FetchOptions,
	Policy,
	RequestPolicyOptions,
	RetryEvent,
	RetryOptions,
	SharedOptions,
	ShouldRetryState,
} from './options.ts';
export { backoffDelay, parseRetryAfter } from './policy.ts';
export { redactUrl } from './redact.ts';
export type {
	Advice,
	AttemptRecord,
	ErrorKind,
	Outcome,
	SteadfetchError,
	SteadfetchErrorJson,
	SteadfetchFields,
	StopReason,
} from './types.ts';
