/*
Every default of steadfetch's own options, in one place. The normalizers take their fallbacks from here and nowhere
else; the TSDoc `@default`s say the same, and spec/defaults.spec.ts holds the two to each other. The names of the
client's own options are the keys of `defaults.client`, so an option added there is kept from ky (and from fetch())
without a second list to forget.
*/

/** Every default of steadfetch's own options, one part per options interface. */
export interface Defaults {
	/** `RetryOptions`. */
	readonly retry: {
		readonly limit: number;
		readonly methods: readonly string[];
		readonly statusCodes: readonly number[];
		/** Unset: the server's wait is read on every status in `statusCodes`. */
		readonly afterStatusCodes: undefined;
		readonly baseDelayMs: number;
		readonly factor: number;
		/** Unset: the backoff is `baseDelayMs * factor ** (attemptCount - 1)`. */
		readonly delay: undefined;
		readonly backoffLimit: number;
		readonly maxDelayMs: number;
		readonly maxRetryAfter: number;
		readonly jitter: boolean;
		readonly retryOnTimeout: boolean;
		readonly shouldRetry: undefined;
	};
	/** The options of `createClient` that are steadfetch's and not ky's, `retry` aside (its `limit` may change per request). */
	readonly client: {
		readonly catalog: undefined;
		readonly idempotencyKey: boolean;
		readonly onRetry: undefined;
		readonly onGiveUp: undefined;
		readonly budget: { readonly ratio: number; readonly capacity: number };
		readonly rateLimit: boolean;
		readonly breaker: {
			readonly failureThreshold: number;
			readonly failureWindowMs: number;
			readonly openMs: number;
			readonly onStateChange: undefined;
		};
		readonly apiKey: undefined;
		readonly apiKeyHeader: string;
		/** A function of `apiKeyHeader`: a bare key is what APIs that take it in a header of their own expect. */
		readonly apiKeyScheme: (apiKeyHeader: string) => string | null;
	};
	/** What `FetchOptions` adds. */
	readonly fetch: {
		readonly throwHttpErrors: boolean;
		/** Unset: `globalThis.fetch` is read on every call, so that tools which patch it later still work. */
		readonly fetch: undefined;
	};
	/** `JobOptions`, `retry` aside. */
	readonly job: {
		readonly signal: undefined;
		readonly maxRetryTime: number;
		readonly unref: boolean;
		readonly onRetry: undefined;
		readonly onGiveUp: undefined;
		readonly fetch: undefined;
	};
}

// A caller who mutates a default would change it for every client in the process: freeze every level.
const deepFreeze = <T extends object>(value: T): T => {
	for (const child of Object.values(value)) {
		if ((typeof child === 'object' && child !== null) || typeof child === 'function') {
			deepFreeze(child);
		}
	}
	return Object.freeze(value);
};

/** Every default of steadfetch's own options, deeply frozen. */
export const defaults: Defaults = deepFreeze({
	retry: {
		limit: 2,
		methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
		statusCodes: [408, 429, 500, 502, 503, 504],
		afterStatusCodes: undefined,
		baseDelayMs: 300,
		factor: 2,
		delay: undefined,
		// ky's defaults for its two caps: none of their own, so `maxDelayMs` alone bounds every wait.
		backoffLimit: Number.POSITIVE_INFINITY,
		maxDelayMs: 30_000,
		maxRetryAfter: Number.POSITIVE_INFINITY,
		jitter: true,
		retryOnTimeout: true,
		shouldRetry: undefined,
	},
	client: {
		catalog: undefined,
		idempotencyKey: false,
		onRetry: undefined,
		onGiveUp: undefined,
		budget: { ratio: 1, capacity: 20 },
		rateLimit: true,
		breaker: { failureThreshold: 10, failureWindowMs: 1000, openMs: 100, onStateChange: undefined },
		apiKey: undefined,
		apiKeyHeader: 'Authorization',
		apiKeyScheme: (apiKeyHeader: string): string | null => (apiKeyHeader.toLowerCase() === 'authorization' ? 'Bearer' : null),
	},
	fetch: {
		throwHttpErrors: false,
		fetch: undefined,
	},
	job: {
		signal: undefined,
		maxRetryTime: Number.POSITIVE_INFINITY,
		unref: false,
		onRetry: undefined,
		onGiveUp: undefined,
		fetch: undefined,
	},
});

/** steadfetch's own option names: set once by `createClient`, never per request, never handed to ky. */
export const ownOptionNames: readonly string[] = Object.freeze(Object.keys(defaults.client));
