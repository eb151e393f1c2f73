/*
Options in, validated and frozen config out, once per client, fetch or job: the request path reads only the result
(ky's `normalizeRetryOptions` does the same). Fallbacks come from `defaults`, the checks from the rules.
*/
import type { Options as KyOptions } from 'ky';
import { apiCatalog, generalCatalog } from '../catalog/data.ts';
import { type CatalogEntry, mergeCatalogs } from '../catalog/parse.ts';
import { defaults, ownOptionNames } from './defaults.ts';
import type { BreakerOptions, BreakerSettings, BudgetSettings, RateLimitSettings } from './guards.ts';
import type { ClientOptions, FetchOptions, Policy, RequestPolicyOptions, RetryOptions } from './options.ts';
import { readOptions } from './read.ts';
import { checkKyOptions, checkOptionsObject, checkThrowHttpErrors } from './request-rules.ts';
import {
	checkCallback,
	checkCatalog,
	checkCount,
	checkFeature,
	checkFlag,
	checkIdempotencyKey,
	checkJitter,
	checkKnownNames,
	checkMethods,
	checkNumber,
	checkOptionNames,
	checkRetryCombination,
	checkShouldRetry,
	checkStatusCodes,
	isRecord,
	maxTimer,
	rejectOption,
	token,
} from './rules.ts';

/** What client and fetch need to decide and to explain, validated. */
export interface RequestConfig {
	readonly policy: Policy;
	readonly catalog: Readonly<Record<string, CatalogEntry>>;
	/** Literal secret values to mask wherever they appear (the API key). */
	readonly secrets: readonly string[];
	/** Header names whose values are masked beyond the usual credential headers. */
	readonly secretHeaders: readonly string[];
	/** The retry budgets (per endpoint, and per origin for connection failures), or undefined when off. */
	readonly budget: BudgetSettings | undefined;
	/** The circuit breakers (per endpoint, and per origin for connection failures), or undefined when off. */
	readonly breaker: BreakerSettings | undefined;
	/** Pacing by the API's rate-limit windows, or false when off. */
	readonly rateLimit: RateLimitSettings | false;
}

/** Everything `createClient` needs, validated. */
export interface ClientConfig extends RequestConfig {
	/** ky's own options, as given: the client hands ky those that build requests, and carries out the rest itself. */
	readonly kyOptions: KyOptions;
	/** `retry` as given (read once): options given per call or to `extend()` merge over it, as ky merges them. */
	readonly retry: RetryOptions | number | undefined;
}

/** Everything `createFetch` needs, validated. */
export interface FetchConfig extends RequestConfig {
	readonly throwHttpErrors: boolean | ((status: number) => boolean);
	readonly fetch: typeof globalThis.fetch | undefined;
}

// `=== undefined`, not `??`: a null is a value given, and is rejected with the rest.
const given = <T>(value: T | undefined, fallback: T): T => (value === undefined ? fallback : value);

/** Validate the retry limit alone (also used for per-request overrides). */
export function normalizeLimit(value: unknown, path = 'retry.limit'): number {
	return checkCount(path, value, defaults.retry.limit, 0);
}

/** Validate retry options and fill in the defaults. */
export function normalizeRetryOptions(retry: RetryOptions | number | undefined): Omit<Policy, 'idempotencyKey' | 'onRetry' | 'onGiveUp'> {
	if (typeof retry === 'number' || retry === undefined) {
		return normalizeRetryOptions({ limit: normalizeLimit(retry, 'retry') });
	}
	if (!isRecord(retry)) {
		rejectOption('retry', 'a number or an object', retry);
	}
	const fallback = defaults.retry;
	// ky's own names (backoffLimit, delay, shouldRetry...) are among these: they keep ky's meaning (docs/retries.md).
	checkKnownNames('retry', retry as Record<string, unknown>, Object.keys(fallback));
	const methods = checkMethods(given(retry.methods, fallback.methods));
	const statusCodes = checkStatusCodes(given(retry.statusCodes, fallback.statusCodes));
	const afterStatusCodes =
		retry.afterStatusCodes === undefined ? undefined : checkStatusCodes(retry.afterStatusCodes, 'retry.afterStatusCodes');
	const maxRetryAfter = checkNumber('retry.maxRetryAfter', retry.maxRetryAfter, fallback.maxRetryAfter, 0, Number.POSITIVE_INFINITY);
	// A ky user raises maxRetryAfter alone to sleep longer waits: the cap follows it up unless given too.
	const maxDelayMs = checkNumber(
		'retry.maxDelayMs',
		retry.maxDelayMs,
		Number.isFinite(maxRetryAfter) ? Math.min(Math.max(fallback.maxDelayMs, maxRetryAfter), maxTimer) : fallback.maxDelayMs,
		0,
	);
	checkCallback('retry.delay', retry.delay);
	checkShouldRetry(retry.shouldRetry);
	checkRetryCombination(retry as Record<string, unknown>, maxDelayMs);
	return Object.freeze({
		limit: normalizeLimit(retry.limit),
		methods: new Set(methods.map((method) => method.toUpperCase())),
		statusCodes: new Set(statusCodes),
		afterStatusCodes: afterStatusCodes && new Set(afterStatusCodes),
		baseDelayMs: checkNumber('retry.baseDelayMs', retry.baseDelayMs, fallback.baseDelayMs, 0),
		factor: checkNumber('retry.factor', retry.factor, fallback.factor, 1, 1000),
		delay: given(retry.delay as RetryOptions['delay'], fallback.delay),
		// ky's caps default to Infinity, which means "no cap of its own" here as in ky: `maxDelayMs` still bounds every wait.
		backoffLimit: checkNumber('retry.backoffLimit', retry.backoffLimit, fallback.backoffLimit, 0, Number.POSITIVE_INFINITY),
		maxDelayMs,
		maxRetryAfter,
		jitter: checkJitter(retry.jitter, fallback.jitter),
		retryOnTimeout: checkFlag('retry.retryOnTimeout', retry.retryOnTimeout, fallback.retryOnTimeout),
		shouldRetry: given(retry.shouldRetry as RetryOptions['shouldRetry'], fallback.shouldRetry),
	});
}

/**
The policy of a call whose `retry` was given per call or to `extend()`: the same checks and messages as at creation,
the callbacks and key generation of the client's own.
*/
export function normalizeCallPolicy(policy: Policy, retry: RetryOptions | number | undefined): Policy {
	return Object.freeze({
		...normalizeRetryOptions(retry),
		idempotencyKey: policy.idempotencyKey,
		onRetry: policy.onRetry,
		onGiveUp: policy.onGiveUp,
	});
}

/** Validate the retry policy and its callbacks (shared by client, fetch and jobs). */
export function normalizePolicy(options: RequestPolicyOptions): Policy {
	const { retry, onRetry = defaults.client.onRetry, onGiveUp = defaults.client.onGiveUp } = options;
	checkCallback('onRetry', onRetry);
	checkCallback('onGiveUp', onGiveUp);
	const idempotencyKey = checkIdempotencyKey(given(options.idempotencyKey, defaults.client.idempotencyKey));
	const generate = idempotencyKey === true ? () => globalThis.crypto.randomUUID() : idempotencyKey || undefined;
	return Object.freeze({ ...normalizeRetryOptions(retry), idempotencyKey: generate, onRetry, onGiveUp });
}

const normalizeBudget = (budget: unknown): RequestConfig['budget'] => {
	const fallback = defaults.client.budget;
	const options = checkFeature('budget', budget, Object.keys(fallback));
	return (
		options &&
		Object.freeze({
			ratio: checkNumber('budget.ratio', options.ratio, fallback.ratio, 0, 100),
			capacity: checkNumber('budget.capacity', options.capacity, fallback.capacity, 1, 1_000_000),
		})
	);
};

const pacing: RateLimitSettings = Object.freeze({ key: undefined });

const normalizeRateLimit = (rateLimit: unknown): RequestConfig['rateLimit'] => {
	if (rateLimit === true) {
		return pacing;
	}
	if (rateLimit === false) {
		return false;
	}
	if (!isRecord(rateLimit)) {
		rejectOption('rateLimit', 'true, false or an object', rateLimit);
	}
	checkKnownNames('rateLimit', rateLimit, ['key']);
	checkCallback('rateLimit.key', rateLimit.key);
	return rateLimit.key === undefined ? pacing : Object.freeze({ key: rateLimit.key as RateLimitSettings['key'] });
};

const normalizeBreaker = (breaker: unknown): RequestConfig['breaker'] => {
	const fallback = defaults.client.breaker;
	const options = checkFeature('breaker', breaker, Object.keys(fallback));
	if (!options) {
		return undefined;
	}
	// A null threshold has always meant the default, unlike a null `openMs`.
	const failureThreshold = checkCount('breaker.failureThreshold', options.failureThreshold ?? undefined, fallback.failureThreshold, 1);
	checkCallback('breaker.onStateChange', options.onStateChange);
	return Object.freeze({
		failureThreshold,
		failureWindowMs: checkNumber('breaker.failureWindowMs', options.failureWindowMs, fallback.failureWindowMs, 0),
		openMs: checkNumber('breaker.openMs', options.openMs, fallback.openMs, 1),
		onStateChange: given(options.onStateChange, fallback.onStateChange) as BreakerOptions['onStateChange'],
	});
};

const requestConfig = (options: RequestPolicyOptions, secrets: readonly string[], secretHeaders: readonly string[]): RequestConfig => ({
	policy: normalizePolicy(options),
	budget: normalizeBudget(options.budget),
	breaker: normalizeBreaker(options.breaker),
	rateLimit: normalizeRateLimit(given(options.rateLimit, defaults.client.rateLimit)),
	// The documented advice is always there, under whatever catalog the caller gives.
	catalog: mergeCatalogs(checkCatalog(options.catalog === undefined ? {} : options.catalog), apiCatalog, generalCatalog),
	secrets: Object.freeze(secrets),
	secretHeaders: Object.freeze(secretHeaders),
});

// What createFetch takes: the policy's options (the client's own, less the API key) and its own.
const fetchOptionNames: readonly string[] = [
	'retry',
	...ownOptionNames.filter((name) => !name.startsWith('apiKey')),
	...Object.keys(defaults.fetch),
];

/**
Validate every option of `createFetch` once, fill in the defaults, and freeze the result.
*/
export function normalizeFetchOptions(input: FetchOptions = {}): FetchConfig {
	checkOptionsObject(input);
	const options = readOptions(input);
	checkOptionNames('createFetch', options as Record<string, unknown>, fetchOptionNames, {
		timeout: 'the drop-in fetch has no timeout of its own; pass a `signal` per call, such as `AbortSignal.timeout(ms)`',
	});
	checkCallback('fetch', options.fetch);
	return Object.freeze({
		...requestConfig(options, [], []),
		throwHttpErrors: checkThrowHttpErrors(options.throwHttpErrors, defaults.fetch.throwHttpErrors),
		fetch: given(options.fetch, defaults.fetch.fetch),
	});
}

// A key with CR or LF would be a header injection; undici's own error would quote it.
const hasControlCharacter = (value: string): boolean =>
	[...value].some((character) => character.charCodeAt(0) < 0x20 || character.charCodeAt(0) === 0x7f);

/** The API-key header, with the key as the one secret to mask; nothing when no key is given. */
function apiKeyHeaders(options: ClientOptions): { header: string; value: string; secret: string } | undefined {
	const { apiKey } = options;
	if (apiKey === undefined) {
		return undefined;
	}
	// Never show the key itself, not even a piece of it.
	if (typeof apiKey !== 'string' || apiKey.trim() === '' || hasControlCharacter(apiKey)) {
		throw new TypeError('Expected `apiKey` to be a non-empty string without control characters (the value is not shown).');
	}
	// The runtime's own error would tell a character of it and where it stands.
	if (/[^\0-\xff]/.test(apiKey)) {
		throw new TypeError('Expected `apiKey` to be a string of Latin-1 characters, as header values are (the value is not shown).');
	}
	const header = given(options.apiKeyHeader, defaults.client.apiKeyHeader);
	if (typeof header !== 'string' || !token.test(header)) {
		rejectOption('apiKeyHeader', 'a header name', header);
	}
	const scheme = given(options.apiKeyScheme, defaults.client.apiKeyScheme(header));
	if (scheme !== null && (typeof scheme !== 'string' || !token.test(scheme))) {
		rejectOption('apiKeyScheme', 'an authentication scheme such as "Bearer", or null', scheme);
	}
	return { header, value: scheme ? `${scheme} ${apiKey}` : apiKey, secret: apiKey };
}

/**
Validate every option of `createClient` once, fill in the defaults, and freeze the result.
Throws a `TypeError` naming the option and what it accepts.
*/
export function normalizeClientOptions(input: ClientOptions = {}): ClientConfig {
	checkOptionsObject(input);
	const options = readOptions(input);
	// ky gets its own options only; steadfetch's would reach fetch() as unknown RequestInit fields.
	const kyOptions: KyOptions = Object.fromEntries(
		Object.entries(options).filter(([key]) => key !== 'retry' && !ownOptionNames.includes(key)),
	);
	checkKyOptions(options as Record<string, unknown>);
	const headers = new Headers(options.headers as HeadersInit | undefined);
	const apiKey = apiKeyHeaders(options);
	if (apiKey) {
		headers.set(apiKey.header, apiKey.value);
	}
	return Object.freeze({
		...requestConfig(options, apiKey ? [apiKey.secret] : [], apiKey ? [apiKey.header] : []),
		kyOptions: { ...kyOptions, headers: Object.fromEntries(headers) },
		retry: options.retry,
	});
}
