import type { Options as KyOptions } from 'ky';
import type { BreakerOptions, BreakerSettings } from './breaker.ts';
import type { BudgetOptions } from './budget.ts';
import { apiCatalog, generalCatalog } from './catalog.data.ts';
import { type Catalog, type CatalogEntry, isCatalogKey, mergeCatalogs } from './catalog.ts';
import type { SteadfetchError } from './errors/base.ts';

/**
How failed requests are retried. Shared by `createClient` (and later `createFetch` and `retryJob`).

The number of requests for one call is at most `limit + 1`.
*/
export interface RetryOptions {
	/**
	How many times a failed request is retried: a call makes at most `limit + 1` requests. A non-negative integer.
	@default 2
	*/
	readonly limit?: number;
	/**
	Methods that are retried. POST and PATCH are not idempotent: they are retried only when the request carries an `Idempotency-Key` header (see `idempotencyKey`).
	@default ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']
	*/
	readonly methods?: readonly string[];
	/**
	Response statuses that are retried. Every other status fails at once, after one request.
	@default [408, 429, 500, 502, 503, 504]
	*/
	readonly statusCodes?: readonly number[];
	/**
	The first backoff delay in milliseconds, before jitter: retry `n` waits up to `baseDelayMs * factor ** (n - 1)`.
	@default 300
	*/
	readonly baseDelayMs?: number;
	/**
	How much each backoff delay grows over the one before it. At least 1.
	@default 2
	*/
	readonly factor?: number;
	/**
	The longest wait between two attempts, in milliseconds. Backoff delays are capped at it. When the server's `Retry-After` asks for a longer wait, the call does not sleep: it fails at once with an error whose `retryAt` says when to try again.
	@default 30000
	*/
	readonly maxDelayMs?: number;
	/**
	Full jitter: each backoff delay is drawn uniformly from 0 to its computed value, so that clients that failed together do not retry together. A `Retry-After` from the server is never jittered.
	@default true
	*/
	readonly jitter?: boolean;
	/**
	Whether an attempt that ran past `timeout` is retried (for retried methods). A call past `totalTimeout` is never retried.
	@default true
	*/
	readonly retryOnTimeout?: boolean;
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
	readonly retry?: RetryOptions | number;
	/**
	Called before each retry, after the decision and before the wait. Nothing is logged by default. An exception it throws ends the call with that exception.
	@default undefined
	*/
	readonly onRetry?: (event: RetryEvent) => void;
	/**
	Called once when a call fails for good (after its last attempt, or at once for a failure that is not retried), with the enriched error. Nothing is logged by default.
	@default undefined
	*/
	readonly onGiveUp?: (error: SteadfetchError) => void;
}

/** Options of `createClient` and `createFetch` that build requests and errors. */
export interface RequestPolicyOptions extends SharedOptions {
	/**
	Advice that extends or overrides the API's documented advice, per status (`'404'`), status class (`'4xx'`) or failure kind (`'network'`, `'timeout'`). `parseCatalog` turns an error page into one.
	@default the advice of docs/error-codes.md, then docs/general-advice.md
	*/
	readonly catalog?: Catalog;
	/**
	Give each POST and PATCH call an `Idempotency-Key` header (one key per call, the same on every attempt), which makes it safe to retry. `true` uses `crypto.randomUUID()`; a function makes the key. A key the caller set is kept.
	@default false
	*/
	readonly idempotencyKey?: boolean | (() => string);
	/**
	The retry budget per origin: successes earn tokens, retries spend them, so that retries add at most a fraction of the traffic when a service fails broadly. `false` turns it off.
	@default {ratio: 0.6, capacity: 20}
	*/
	readonly budget?: BudgetOptions | false;
	/**
	The circuit breaker per origin: after `failureThreshold` transient failures in a row, calls fail at once with a `CircuitOpenError` for `openMs`, then one probe decides. `false` turns it off.
	@default {failureThreshold: 10, openMs: 10000}
	*/
	readonly breaker?: BreakerOptions | false;
}

/**
Options of `createClient`: every option of ky 2 (`baseUrl`, `headers`, `hooks`, `timeout`, `totalTimeout`, `json`, ...) plus steadfetch's own. Validated once, when the client is created.
*/
export interface ClientOptions extends Omit<KyOptions, 'retry' | 'throwHttpErrors'>, RequestPolicyOptions {
	/**
	An API key sent with every request, as `<apiKeyScheme> <apiKey>` in the `apiKeyHeader` header. It never appears in an error.
	@default undefined
	*/
	readonly apiKey?: string;
	/**
	The header that carries `apiKey`.
	@default 'Authorization'
	*/
	readonly apiKeyHeader?: string;
	/**
	The scheme put before `apiKey`; `null` sends the key alone.
	@default 'Bearer' when `apiKeyHeader` is Authorization, else `null`
	*/
	readonly apiKeyScheme?: string | null;
}

/** Options of `createFetch`. */
export interface FetchOptions extends RequestPolicyOptions {
	/**
	Throw the enriched errors (as the client does) for failing statuses, instead of resolving with the response as `fetch` does.
	@default false
	*/
	readonly throwHttpErrors?: boolean;
	/**
	The fetch to wrap. Read on every call when not given, so test tools that patch `globalThis.fetch` keep working.
	@default globalThis.fetch
	*/
	readonly fetch?: typeof globalThis.fetch;
}

/** The retry policy after validation: frozen, read by the request path. */
export interface Policy {
	readonly limit: number;
	readonly methods: ReadonlySet<string>;
	readonly statusCodes: ReadonlySet<number>;
	readonly baseDelayMs: number;
	readonly factor: number;
	readonly maxDelayMs: number;
	readonly jitter: boolean;
	readonly retryOnTimeout: boolean;
	readonly idempotencyKey: (() => string) | undefined;
	readonly onRetry: ((event: RetryEvent) => void) | undefined;
	readonly onGiveUp: ((error: SteadfetchError) => void) | undefined;
}

/** What client and fetch need to decide and to explain, validated. */
export interface RequestConfig {
	readonly policy: Policy;
	readonly catalog: Readonly<Record<string, CatalogEntry>>;
	/** Literal secret values to mask wherever they appear (the API key). */
	readonly secrets: readonly string[];
	/** Header names whose values are masked beyond the usual credential headers. */
	readonly secretHeaders: readonly string[];
	/** The per-origin retry budget, or undefined when off. */
	readonly budget: Required<BudgetOptions> | undefined;
	/** The per-origin circuit breaker, or undefined when off. */
	readonly breaker: BreakerSettings | undefined;
}

/** Everything `createClient` needs, validated. */
export interface ClientConfig extends RequestConfig {
	/** The options handed to ky, steadfetch's own removed. */
	readonly kyOptions: KyOptions;
}

/** Everything `createFetch` needs, validated. */
export interface FetchConfig extends RequestConfig {
	readonly throwHttpErrors: boolean;
	readonly fetch: typeof globalThis.fetch | undefined;
}

/** steadfetch's own option names: set once by `createClient`, never per request. */
export const ownOptionNames: readonly string[] = [
	'apiKey',
	'apiKeyHeader',
	'apiKeyScheme',
	'catalog',
	'idempotencyKey',
	'onRetry',
	'onGiveUp',
];

const defaultMethods = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'];
const defaultStatusCodes = [408, 429, 500, 502, 503, 504];
const maxTimer = 2_147_483_647;
// ky's names for what steadfetch calls otherwise: a renamed option names its successor.
const kyRetryNames: Readonly<Record<string, string>> = {
	backoffLimit: 'use `retry.maxDelayMs`',
	maxRetryAfter: 'use `retry.maxDelayMs`',
	delay: 'use `retry.baseDelayMs` and `retry.factor`',
	afterStatusCodes: 'Retry-After is honoured for every status in `retry.statusCodes`',
	shouldRetry: 'set `retry.statusCodes` and `retry.methods`',
};
const token = /^[!#$%&'*+.^`|~\w-]+$/;
// A key with CR or LF would be a header injection; undici's own error would quote it.
const hasControlCharacter = (value: string): boolean =>
	[...value].some((character) => character.charCodeAt(0) < 0x20 || character.charCodeAt(0) === 0x7f);

const show = (value: unknown): string => {
	if (typeof value === 'string') {
		return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
	}
	if (typeof value === 'number' || typeof value === 'boolean' || value == null) {
		return String(value);
	}
	return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
};
function reject(path: string, expected: string, value: unknown): never {
	throw new TypeError(`Expected \`${path}\` to be ${expected}, got ${show(value)}.`);
}
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const number = (path: string, value: unknown, fallback: number, min: number, max = maxTimer): number => {
	if (value === undefined) {
		return fallback;
	}
	if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
		reject(path, `a number from ${min} to ${max}`, value);
	}
	return value as number;
};
const flag = (path: string, value: unknown, fallback: boolean): boolean => {
	if (value === undefined) {
		return fallback;
	}
	return typeof value === 'boolean' ? value : reject(path, 'a boolean', value);
};

/** Validate the retry limit alone (also used for per-request overrides). */
export function normalizeLimit(value: unknown, path = 'retry.limit'): number {
	if (value === undefined) {
		return 2;
	}
	if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
		reject(path, 'a non-negative integer', value);
	}
	return value as number;
}

/** Validate retry options and fill in the defaults. */
export function normalizeRetryOptions(retry: RetryOptions | number | undefined): Omit<Policy, 'idempotencyKey' | 'onRetry' | 'onGiveUp'> {
	if (typeof retry === 'number' || retry === undefined) {
		return normalizeRetryOptions({ limit: normalizeLimit(retry, 'retry') });
	}
	if (!isRecord(retry)) {
		reject('retry', 'a number or an object', retry);
	}
	for (const key of Object.keys(retry)) {
		const hint = kyRetryNames[key];
		if (hint) {
			throw new TypeError(`\`retry.${key}\` is not a steadfetch option: ${hint}.`);
		}
	}
	known('retry', retry, ['limit', 'methods', 'statusCodes', 'baseDelayMs', 'factor', 'maxDelayMs', 'jitter', 'retryOnTimeout']);
	const { methods = defaultMethods, statusCodes = defaultStatusCodes } = retry;
	if (!Array.isArray(methods) || !methods.every((method) => typeof method === 'string' && token.test(method))) {
		reject('retry.methods', 'an array of HTTP method names', methods);
	}
	if (!Array.isArray(statusCodes) || !statusCodes.every((code) => Number.isInteger(code) && code >= 100 && code <= 599)) {
		const bad = Array.isArray(statusCodes)
			? statusCodes.find((code) => !(Number.isInteger(code) && code >= 100 && code <= 599))
			: statusCodes;
		reject('retry.statusCodes', 'an array of status codes from 100 to 599', bad);
	}
	return Object.freeze({
		limit: normalizeLimit(retry.limit),
		methods: new Set(methods.map((method) => method.toUpperCase())),
		statusCodes: new Set(statusCodes),
		baseDelayMs: number('retry.baseDelayMs', retry.baseDelayMs, 300, 0),
		factor: number('retry.factor', retry.factor, 2, 1, 1000),
		maxDelayMs: number('retry.maxDelayMs', retry.maxDelayMs, 30_000, 0),
		jitter: flag('retry.jitter', retry.jitter, true),
		retryOnTimeout: flag('retry.retryOnTimeout', retry.retryOnTimeout, true),
	});
}

const normalizeCatalog = (catalog: unknown): Catalog => {
	if (!isRecord(catalog)) {
		return reject('catalog', 'an object keyed by status', catalog);
	}
	for (const [key, entry] of Object.entries(catalog)) {
		if (!isCatalogKey(key)) {
			reject('catalog', "keys that are status codes (100-599), '4xx', '5xx', 'network', 'timeout', 'budget', 'circuit' or 'body'", key);
		}
		if (!isRecord(entry)) {
			reject(`catalog.${key}`, 'an object with title, description, cause and solution', entry);
		}
		for (const [field, text] of Object.entries(entry as object)) {
			if (!['title', 'description', 'cause', 'solution'].includes(field)) {
				throw new TypeError(`Unknown option \`catalog.${key}.${field}\`: an entry has title, description, cause and solution.`);
			}
			if (typeof text !== 'string') {
				reject(`catalog.${key}.${field}`, 'a string', text);
			}
		}
	}
	return catalog as Catalog;
};

const validateHooks = (hooks: unknown): void => {
	if (hooks === undefined) {
		return;
	}
	if (!isRecord(hooks)) {
		reject('hooks', 'an object of hook arrays', hooks);
	}
	for (const [name, list] of Object.entries(hooks)) {
		if (!['init', 'beforeRequest', 'beforeRetry', 'beforeError', 'afterResponse'].includes(name)) {
			throw new TypeError(`Unknown option \`hooks.${name}\`.`);
		}
		if (!Array.isArray(list)) {
			reject(`hooks.${name}`, 'an array of functions', list);
		}
		for (const [index, hook] of (list as unknown[]).entries()) {
			if (typeof hook !== 'function') {
				reject(`hooks.${name}[${index}]`, 'a function', hook);
			}
		}
	}
};

// undici's own message for a bad header value quotes the value, which may be a secret: check first, name only the header.
const lineBreak = /[\0\r\n]/;

/**
The per-request check, on every request: only values that would break the header block, and only in a plain object
(a Headers object cannot hold them; ky merges into a plain object). The full check of names and types is at creation.
*/
export const assertHeaderValues = (headers: unknown): void => {
	if (!isRecord(headers) || headers instanceof Headers) {
		return;
	}
	for (const name in headers) {
		const value = headers[name];
		if (typeof value === 'string' && lineBreak.test(value)) {
			throw new TypeError(`Expected \`headers.${name}\` to be a string without CR, LF or NUL characters.`);
		}
	}
};

const validateHeaders = (headers: unknown): void => {
	if (headers === undefined) {
		return;
	}
	const entries =
		headers instanceof Headers ? [...headers] : Array.isArray(headers) ? headers : isRecord(headers) ? Object.entries(headers) : undefined;
	if (!entries) {
		reject('headers', 'a Headers object, an array of pairs or a plain object', headers);
	}
	for (const pair of entries as unknown[]) {
		const [name, value] = Array.isArray(pair) ? pair : [];
		if (typeof name !== 'string' || !token.test(name)) {
			reject('headers', 'valid header names', name);
		}
		if (value !== undefined && (typeof value !== 'string' || lineBreak.test(value))) {
			throw new TypeError(`Expected \`headers.${name}\` to be a string without CR, LF or NUL characters.`);
		}
	}
};

/** Throw a TypeError naming the option unless `value` is a function or undefined. */
export const callback = (name: string, value: unknown): void => {
	if (value !== undefined && typeof value !== 'function') {
		reject(name, 'a function', value);
	}
};

/** Validate the retry policy and its callbacks (shared by client, fetch and jobs). */
export function normalizePolicy(options: RequestPolicyOptions): Policy {
	const { retry, idempotencyKey, onRetry, onGiveUp } = options;
	callback('onRetry', onRetry);
	callback('onGiveUp', onGiveUp);
	if (idempotencyKey !== undefined && typeof idempotencyKey !== 'boolean' && typeof idempotencyKey !== 'function') {
		reject('idempotencyKey', 'a boolean or a function that returns a key', idempotencyKey);
	}
	const generate = idempotencyKey === true ? () => globalThis.crypto.randomUUID() : idempotencyKey || undefined;
	return Object.freeze({ ...normalizeRetryOptions(retry), idempotencyKey: generate, onRetry, onGiveUp });
}

const known = (path: string, value: Record<string, unknown>, names: readonly string[]): void => {
	for (const key of Object.keys(value)) {
		if (!names.includes(key)) {
			throw new TypeError(`Unknown option \`${path}.${key}\`.`);
		}
	}
};

// A feature that is on by default: `false` turns it off, an object of the names given tunes it.
const feature = (path: string, value: unknown, names: readonly string[]): Record<string, unknown> | undefined => {
	if (value === false) {
		return undefined;
	}
	const options = value ?? {};
	if (!isRecord(options)) {
		reject(path, 'an object or false', value);
	}
	known(path, options, names);
	return options;
};

const normalizeBudget = (budget: unknown): RequestConfig['budget'] => {
	const options = feature('budget', budget, ['ratio', 'capacity']);
	return (
		options &&
		Object.freeze({
			ratio: number('budget.ratio', options.ratio, 0.6, 0, 100),
			capacity: number('budget.capacity', options.capacity, 20, 1, 1_000_000),
		})
	);
};

const normalizeBreaker = (breaker: unknown): RequestConfig['breaker'] => {
	const options = feature('breaker', breaker, ['failureThreshold', 'openMs', 'onStateChange']);
	if (!options) {
		return undefined;
	}
	const failureThreshold = options.failureThreshold ?? 10;
	if (typeof failureThreshold !== 'number' || !Number.isInteger(failureThreshold) || failureThreshold < 1) {
		reject('breaker.failureThreshold', 'a positive integer', failureThreshold);
	}
	callback('breaker.onStateChange', options.onStateChange);
	return Object.freeze({
		failureThreshold,
		openMs: number('breaker.openMs', options.openMs, 10_000, 1),
		onStateChange: options.onStateChange as BreakerOptions['onStateChange'],
	});
};

const requestConfig = (options: RequestPolicyOptions, secrets: readonly string[], secretHeaders: readonly string[]): RequestConfig => ({
	policy: normalizePolicy(options),
	budget: normalizeBudget(options.budget),
	breaker: normalizeBreaker(options.breaker),
	catalog: mergeCatalogs(options.catalog === undefined ? {} : normalizeCatalog(options.catalog), apiCatalog, generalCatalog),
	secrets: Object.freeze(secrets),
	secretHeaders: Object.freeze(secretHeaders),
});

const object = (options: unknown): void => {
	if (!isRecord(options)) {
		reject('options', 'an object', options);
	}
};

/**
Validate every option of `createFetch` once, fill in the defaults, and freeze the result.
*/
export function normalizeFetchOptions(options: FetchOptions = {}): FetchConfig {
	object(options);
	callback('fetch', options.fetch);
	return Object.freeze({
		...requestConfig(options, [], []),
		throwHttpErrors: flag('throwHttpErrors', options.throwHttpErrors, false),
		fetch: options.fetch,
	});
}

/**
Validate every option of `createClient` once, fill in the defaults, and freeze the result.
Throws a `TypeError` naming the option and what it accepts.
*/
export function normalizeClientOptions(options: ClientOptions = {}): ClientConfig {
	object(options);
	const { apiKey, apiKeyHeader = 'Authorization', apiKeyScheme } = options;
	// ky gets its own options only; steadfetch's would reach fetch() as unknown RequestInit fields.
	const kyOptions: KyOptions = Object.fromEntries(
		Object.entries(options).filter(([key]) => key !== 'retry' && !ownOptionNames.includes(key)),
	);
	const loose = options as Record<string, unknown>;
	if ('throwHttpErrors' in loose && loose.throwHttpErrors !== true) {
		throw new TypeError(
			'`throwHttpErrors` cannot be turned off in createClient: ky then skips every status retry. Catch the error, or read `error.response` and `error.data`.',
		);
	}
	for (const name of ['timeout', 'totalTimeout'] as const) {
		const value = options[name];
		if (value !== undefined && value !== false && (typeof value !== 'number' || !(value > 0) || value > maxTimer)) {
			reject(name, `a number of milliseconds from 1 to ${maxTimer}, or false`, value);
		}
	}
	for (const name of ['baseUrl', 'prefix'] as const) {
		const value = options[name];
		if (value !== undefined && typeof value !== 'string' && !(value instanceof URL)) {
			reject(name, 'a string or a URL', value);
		}
	}
	if (options.baseUrl !== undefined && !URL.canParse(String(options.baseUrl))) {
		throw new TypeError('Expected `baseUrl` to be an absolute URL.');
	}
	callback('fetch', options.fetch);
	validateHooks(options.hooks);
	validateHeaders(options.headers);

	const headers = new Headers(options.headers as HeadersInit | undefined);
	const secrets: string[] = [];
	if (apiKey !== undefined) {
		// Never show the key itself, not even a piece of it.
		if (typeof apiKey !== 'string' || apiKey.trim() === '' || hasControlCharacter(apiKey)) {
			throw new TypeError('Expected `apiKey` to be a non-empty string without control characters (the value is not shown).');
		}
		if (typeof apiKeyHeader !== 'string' || !token.test(apiKeyHeader)) {
			reject('apiKeyHeader', 'a header name', apiKeyHeader);
		}
		const scheme = apiKeyScheme === undefined ? (apiKeyHeader.toLowerCase() === 'authorization' ? 'Bearer' : null) : apiKeyScheme;
		if (scheme !== null && (typeof scheme !== 'string' || !token.test(scheme))) {
			reject('apiKeyScheme', 'an authentication scheme such as "Bearer", or null', scheme);
		}
		headers.set(apiKeyHeader, scheme ? `${scheme} ${apiKey}` : apiKey);
		secrets.push(apiKey);
	}

	return Object.freeze({
		...requestConfig(options, secrets, apiKey === undefined ? [] : [apiKeyHeader]),
		kyOptions: { ...kyOptions, headers: Object.fromEntries(headers) },
	});
}
