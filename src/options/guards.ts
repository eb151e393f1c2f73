// The options of the guards each client keeps per origin, endpoint and rate-limit window, as given and after validation.

/** The states of a circuit breaker: `closed` lets calls through, `open` fails them at once, `half-open` lets one probe through. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** What `onStateChange` is told. */
export interface BreakerEvent {
	/** The origin the breaker guards, e.g. `https://api.example.com`. */
	readonly origin: string;
	/**
	The endpoint whose statuses the breaker hears, e.g. `GET /v1/items/*` (the path with each segment that names one
	thing as `*`); absent for the origin's own breaker, which hears failures of the connection.
	*/
	readonly endpoint?: string;
	readonly from: BreakerState;
	readonly to: BreakerState;
	/** When an open breaker lets a probe through. */
	readonly retryAt?: Date;
}

/**
Options of the circuit breakers, owned by a client (or a drop-in fetch): one per origin, which hears failures of its connection, and one per endpoint, which hears its statuses and timeouts. Each opens on an outage, not on bad luck: after at least `failureThreshold` transient failures in a row that span at least `failureWindowMs`. While open, calls that would meet it fail at once with a `CircuitOpenError` (the drop-in fetch resolves with a local 503 instead), except one probe every `openMs`: the first probe that succeeds closes the circuit, so calls succeed again within about `openMs` of the API's recovery.
*/
export interface BreakerOptions {
	/**
	Transient failures in a row (5xx in `retry.statusCodes`, 408, 429, network errors, timeouts) that may open the circuit. Any other outcome resets the count. Ten in a row almost never happens by chance to a healthy but flaky service (at 30% failures, 0.3^10: once in 170,000 attempts).
	@default 10
	*/
	readonly failureThreshold?: number | undefined;
	/**
	How long, in milliseconds, the failures in a row must last before the circuit opens. A shorter streak is a blip that retries and the retry budget absorb; at high call rates ten failures in a row also happen by chance to a service that fails half the time, a whole second of them does not.
	@default 1000
	*/
	readonly failureWindowMs?: number | undefined;
	/**
	How long the circuit stays open before it lets the next probe through, in milliseconds, counted from when the failed request was sent: the most time between the API's recovery and the first call that sees it. A probe that fails reopens the circuit for as long; one that never reports (aborted, hanging) stops blocking the next after as long. A failure reported more than `openMs` after its request went out (a timeout) opens the circuit with the next call as its probe.
	@default 100
	*/
	readonly openMs?: number | undefined;
	/**
	Called on every change of state. Nothing is logged by default.
	@default undefined
	*/
	readonly onStateChange?: ((event: BreakerEvent) => void) | undefined;
}

/** Breaker options after validation. */
export interface BreakerSettings {
	readonly failureThreshold: number;
	readonly failureWindowMs: number;
	readonly openMs: number;
	readonly onStateChange: ((event: BreakerEvent) => void) | undefined;
}

/**
Options of the retry budgets: a token bucket per endpoint, which retries after its statuses and timeouts spend, and one per origin, which retries after failures of its connection spend, shared by every call of a client (or of a drop-in fetch). Successes earn tokens, retries spend them, so retries can only add a fraction of the traffic that succeeds: when a service fails broadly, retries stop multiplying its load.
*/
export interface BudgetOptions {
	/**
	Tokens earned by each attempt that does not fail transiently (a 2xx, a 404...). One retry costs one token, so this is the most retries per success in the long run. With 2 retries, a failure rate p needs p + p² retries per call and gives 1 − p³ successes: 1 keeps every call retried up to about 55% failures (0.6 ran dry at 50% and lost 12 points of success to plain retries in the benchmark, docs/resilience.md), while a service that fails entirely earns nothing and gets its own traffic plus the `capacity` burst.
	@default 1
	*/
	readonly ratio?: number | undefined;
	/**
	Tokens the bucket holds at most, and starts with: the burst of retries allowed before any success, and the slack that absorbs a streak of failures.
	@default 20
	*/
	readonly capacity?: number | undefined;
}

/** Budget options after validation. */
export interface BudgetSettings {
	readonly ratio: number;
	readonly capacity: number;
}

/** What `rateLimit.key` is handed: the call's request, as the caller gave it. */
export interface RateLimitRequest {
	readonly url: string;
	readonly method: string;
	readonly headers: Headers;
	/** The body as given: the client's `json` value (or its `body`), the drop-in fetch's `init.body`; undefined for none. */
	readonly body: unknown;
}

/** Options of pacing by the API's rate-limit windows (`rateLimit`). */
export interface RateLimitOptions {
	/**
	Names the domain of a call's rate-limit windows where the headers cannot. Without it, the domain is the `model` of a JSON body (the client's `json` value's, or a string body's top-level `"model"`): OpenAI and the APIs compatible with it limit requests per model behind one endpoint, and the model travels in the body. Calls with different domains never wait for each other's windows. The credential a request carries (its `Authorization`, API key header or credential query parameter) and the bucket a response names (`x-ratelimit-resource`, an IETF policy) keep windows apart besides. Return undefined for no domain. Runs once per call, when the API has reported a window; an exception ends the call.
	@default undefined
	*/
	readonly key?: ((request: RateLimitRequest) => string | undefined) | undefined;
}

/** Pacing options after validation. */
export interface RateLimitSettings {
	readonly key: ((request: RateLimitRequest) => string | undefined) | undefined;
}
