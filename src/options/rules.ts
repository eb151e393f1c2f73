/*
The rules an option must meet, checked once at creation, as p-retry does: a TypeError that names the
option path and the value received. The checks fill in nothing of their own: a fallback is handed in from `defaults`.
*/
import { type Catalog, isCatalogKey } from '../catalog/parse.ts';

/** The longest delay a timer holds (2^31 - 1 ms); a longer one fires at once. */
export const maxTimer = 2_147_483_647;
/** An HTTP token (RFC 9110, section 5.6.2): what a method, a header name or an auth scheme may be. */
export const token: RegExp = /^[!#$%&'*+.^`|~\w-]+$/;
export const show = (value: unknown): string => {
	if (typeof value === 'string') {
		return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
	}
	if (typeof value === 'number' || typeof value === 'boolean' || value == null) {
		return String(value);
	}
	return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
};

/** Throw the TypeError of a wrong option: ``Expected `path` to be expected, got value.`` */
export function rejectOption(path: string, expected: string, value: unknown): never {
	throw new TypeError(`Expected \`${path}\` to be ${expected}, got ${show(value)}.`);
}

/** Whether `value` is a plain object of options (not null, not an array). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
	typeof value === 'object' && value !== null && !Array.isArray(value);

/** A number from `min` to `max`, or `fallback` when not given. */
export const checkNumber = (path: string, value: unknown, fallback: number, min: number, max: number = maxTimer): number => {
	if (value === undefined) {
		return fallback;
	}
	if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
		rejectOption(path, `a number from ${min} to ${max}`, value);
	}
	return value as number;
};

/** An integer of at least `min` (0 or 1), or `fallback` when not given. */
export const checkCount = (path: string, value: unknown, fallback: number, min: 0 | 1): number => {
	if (value === undefined) {
		return fallback;
	}
	if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
		rejectOption(path, min === 0 ? 'a non-negative integer' : 'a positive integer', value);
	}
	return value as number;
};

/** A boolean, or `fallback` when not given. */
export const checkFlag = (path: string, value: unknown, fallback: boolean): boolean => {
	if (value === undefined) {
		return fallback;
	}
	return typeof value === 'boolean' ? value : rejectOption(path, 'a boolean', value);
};

/** Throw a TypeError naming the option unless `value` is a function or undefined. */
export const checkCallback = (name: string, value: unknown): void => {
	if (value !== undefined && typeof value !== 'function') {
		rejectOption(name, 'a function', value);
	}
};

/** Throw on a key of `value` that is not in `names`. */
export const checkKnownNames = (path: string, value: Record<string, unknown>, names: readonly string[]): void => {
	for (const key of Object.keys(value)) {
		if (!names.includes(key)) {
			throw new TypeError(`Unknown option \`${path}.${key}\`.`);
		}
	}
};

/**
Refuse an option a surface does not have, naming it: accepted and ignored, it would mislead (a `timeout` given to the
drop-in fetch would leave it with no timeout at all). `hints` name what to use instead.
*/
export const checkOptionNames = (
	surface: string,
	options: Record<string, unknown>,
	names: readonly string[],
	hints: Readonly<Record<string, string>> = {},
): void => {
	for (const key of Object.keys(options)) {
		if (!names.includes(key)) {
			const hint = hints[key] ?? `it takes ${names.map((name) => `\`${name}\``).join(', ')}`;
			throw new TypeError(`Unknown option \`${key}\` for ${surface}: ${hint}.`);
		}
	}
};

/** A feature that is on by default: `false` turns it off (undefined), an object of the names given tunes it. */
export const checkFeature = (path: string, value: unknown, names: readonly string[]): Record<string, unknown> | undefined => {
	if (value === false) {
		return undefined;
	}
	const options = value ?? {};
	if (!isRecord(options)) {
		rejectOption(path, 'an object or false', value);
	}
	checkKnownNames(path, options, names);
	return options;
};

/**
The retry options that only make sense together: ky's `delay` replaces `baseDelayMs` and `factor` (which of them would
win is a guess), and a finite `maxRetryAfter` above a `maxDelayMs` given with it clamps the server's wait to a wait
that still fails at once (it would look like ky's "sleep at most this long" and never sleep). `maxDelayMs` is handed in
as normalized: when it is not given, it follows `maxRetryAfter` up, so that only both given can disagree.
*/
export const checkRetryCombination = (retry: Record<string, unknown>, maxDelayMs: number): void => {
	for (const name of ['baseDelayMs', 'factor']) {
		if (retry.delay !== undefined && retry[name] !== undefined) {
			throw new TypeError(`\`retry.delay\` replaces \`retry.${name}\`: give one or the other, not both.`);
		}
	}
	const { maxRetryAfter } = retry;
	if (typeof maxRetryAfter === 'number' && Number.isFinite(maxRetryAfter) && maxRetryAfter > maxDelayMs) {
		throw new TypeError(
			`Expected \`retry.maxRetryAfter\` to be at most \`retry.maxDelayMs\` (${maxDelayMs}), got ${maxRetryAfter}: a server's wait clamped to it would still be over \`retry.maxDelayMs\`, which fails at once. ${maxRetryAfter > maxTimer ? `No timer holds more than ${maxTimer} ms.` : `Raise \`retry.maxDelayMs\` to ${maxRetryAfter} too, or leave it out.`}`,
		);
	}
};

/** `retry.jitter`: a boolean, or ky's function of the delay. */
export const checkJitter = (value: unknown, fallback: boolean): boolean | ((delay: number) => number) =>
	value === undefined
		? fallback
		: typeof value === 'boolean' || typeof value === 'function'
			? (value as boolean | ((delay: number) => number))
			: rejectOption('retry.jitter', 'a boolean or a function of the delay', value);

/**
`retry.shouldRetry`: a function that answers at once. The engine decides a retry synchronously, in the same step for
client, fetch and job; ky awaits its `shouldRetry`, steadfetch cannot, so an `async` function is refused here, at
creation, rather than at the first failure (a Promise from a plain function can only be refused when it is returned).
*/
export const checkShouldRetry = (value: unknown): void => {
	checkCallback('retry.shouldRetry', value);
	if (typeof value === 'function' && Object.prototype.toString.call(value) === '[object AsyncFunction]') {
		throw new TypeError(
			'Expected `retry.shouldRetry` to return true, false or undefined, got an async function: steadfetch decides retries synchronously. Decide without awaiting.',
		);
	}
};

/** An array of HTTP method names. */
export const checkMethods = (methods: unknown): readonly string[] => {
	if (!Array.isArray(methods) || !methods.every((method) => typeof method === 'string' && token.test(method))) {
		rejectOption('retry.methods', 'an array of HTTP method names', methods);
	}
	return methods as readonly string[];
};

/** An array of status codes; the message shows the first bad one. */
export const checkStatusCodes = (statusCodes: unknown, path = 'retry.statusCodes'): readonly number[] => {
	const isStatus = (code: unknown): boolean => Number.isInteger(code) && (code as number) >= 100 && (code as number) <= 599;
	if (!Array.isArray(statusCodes) || !statusCodes.every(isStatus)) {
		const bad = Array.isArray(statusCodes) ? statusCodes.find((code) => !isStatus(code)) : statusCodes;
		rejectOption(path, 'an array of status codes from 100 to 599', bad);
	}
	return statusCodes as readonly number[];
};

/** `idempotencyKey`: a boolean or a function that makes a key. */
export const checkIdempotencyKey = (value: unknown): boolean | (() => string) =>
	typeof value === 'boolean' || typeof value === 'function'
		? (value as boolean | (() => string))
		: rejectOption('idempotencyKey', 'a boolean or a function that returns a key', value);

const catalogKeys = "keys that are status codes (100-599), '4xx', '5xx', 'network', 'timeout', 'budget', 'circuit' or 'body'";

/** A catalog given by the caller: known keys, entries of four strings at most. */
export const checkCatalog = (catalog: unknown): Catalog => {
	if (!isRecord(catalog)) {
		return rejectOption('catalog', 'an object keyed by status', catalog);
	}
	for (const [key, entry] of Object.entries(catalog)) {
		if (!isCatalogKey(key)) {
			rejectOption('catalog', catalogKeys, key);
		}
		if (!isRecord(entry)) {
			rejectOption(`catalog.${key}`, 'an object with title, description, cause and solution', entry);
		}
		for (const [field, text] of Object.entries(entry as object)) {
			if (!['title', 'description', 'cause', 'solution'].includes(field)) {
				throw new TypeError(`Unknown option \`catalog.${key}.${field}\`: an entry has title, description, cause and solution.`);
			}
			if (typeof text !== 'string') {
				rejectOption(`catalog.${key}.${field}`, 'a string', text);
			}
		}
	}
	return catalog as Catalog;
};
