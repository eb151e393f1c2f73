/*
The rules for what ky takes per request and per instance (the options object, hooks, headers, URLs, timeouts,
throwHttpErrors), with the messages of rules.ts: checked where they are given, before ky builds anything that would quote them.
*/
import { headerValueError } from '../secrets/header-values.ts';
import { checkCallback, isRecord, maxTimer, rejectOption, show, token } from './rules.ts';

/** The options argument itself: an object. */
export const checkOptionsObject = (options: unknown): void => {
	if (!isRecord(options)) {
		rejectOption('options', 'an object', options);
	}
};

/** ky's hook kinds: the ones `hooks` may name, and the ones the client merges as ky does. */
export const hookKinds = ['init', 'beforeRequest', 'beforeRetry', 'beforeError', 'afterResponse'] as const;

/** `hooks`: an object of ky's hook kinds, each an array of functions (or `undefined`, which drops the inherited ones). */
export const checkHooks = (hooks: unknown): void => {
	if (hooks === undefined) {
		return;
	}
	if (!isRecord(hooks)) {
		rejectOption('hooks', 'an object of hook arrays', hooks);
	}
	for (const [name, list] of Object.entries(hooks)) {
		if (!(hookKinds as readonly string[]).includes(name)) {
			throw new TypeError(`Unknown option \`hooks.${name}\`.`);
		}
		// ky drops the inherited hooks of a kind given as `undefined` (its readme, `extend()`).
		if (list === undefined) {
			continue;
		}
		if (!Array.isArray(list)) {
			rejectOption(`hooks.${name}`, 'an array of functions', list);
		}
		for (const [index, hook] of (list as unknown[]).entries()) {
			if (typeof hook !== 'function') {
				rejectOption(`hooks.${name}[${index}]`, 'a function', hook);
			}
		}
	}
};

// undici's own message for a bad header value quotes the value, which may be a secret: check first, name only the header.
const checkHeaders = (headers: unknown): void => {
	if (headers === undefined) {
		return;
	}
	// A Map or any iterable of pairs is a HeadersInit too.
	const entries =
		typeof headers === 'object' && headers !== null && Symbol.iterator in headers
			? [...(headers as Iterable<unknown>)]
			: isRecord(headers)
				? Object.entries(headers)
				: undefined;
	if (!entries) {
		rejectOption('headers', 'a Headers object, an array of pairs or a plain object', headers);
	}
	for (const pair of entries as unknown[]) {
		const [name, value] = Array.isArray(pair) ? pair : [];
		if (typeof name !== 'string' || !token.test(name)) {
			rejectOption('headers', 'valid header names', name);
		}
		if (value !== undefined && typeof value !== 'string') {
			throw new TypeError(`Expected \`headers.${name}\` to be a string without CR, LF or NUL characters.`);
		}
	}
	assertHeaderValues(entries);
};

/**
The per-request check, on every request: only values that would break the header block, and that a runtime's own error
would quote (a Headers object cannot hold them). The full check of names and types is at creation.
*/
export const assertHeaderValues = (headers: unknown): void => {
	const error = headerValueError(headers);
	if (error) {
		throw error;
	}
};

/*
Only http and https reach an API. Node's fetch refuses `ftp:`, `file:` and `javascript:`, but late (on the first
request: "fetch failed", caused by "unknown scheme" or "not implemented... yet..."), naming no option; and it answers a
`data:` URL itself (browsers a `blob:` one too), so a base from configuration could script the responses without any
server. Either is a mistake, or an attack, best stopped at creation. Only the scheme is shown: the rest may hold a secret. A `prefix` may
be a path ('/api', 'v1/'): without a scheme it is left to ky, which joins it with the input and resolves it against
`baseUrl`. A path whose first segment holds a colon ('api:v1/') reads as a scheme to every URL parser, ky's included.
*/
const webSchemes: ReadonlySet<string> = new Set(['http:', 'https:']);
const schemeOf = (url: string): string | undefined => (URL.canParse(url) ? new URL(url).protocol : undefined);

// A URL's user-info is sent as credentials, and fetch refuses it; a prefix may also be relative.
const hasUserInfo = (url: string): boolean =>
	URL.canParse(url) ? new URL(url).username !== '' || new URL(url).password !== '' : /^\s*[a-z][\w+.-]*:[/\\]{2}[^/\\?#]*@/i.test(url);

/**
`baseUrl` and `prefix`: a string or a URL; `baseUrl` absolute, both http or https when they name a scheme, neither with
user-info. Exported for the checks of options given per request or to extend().
*/
export const checkUrlOptions = (options: Record<string, unknown>): void => {
	for (const name of ['baseUrl', 'prefix']) {
		const value = options[name];
		if (value === undefined) {
			continue;
		}
		if (typeof value !== 'string' && !(value instanceof URL)) {
			rejectOption(name, 'a string or a URL', value);
		}
		const url = String(value);
		if (name === 'baseUrl' && !URL.canParse(url)) {
			throw new TypeError('Expected `baseUrl` to be an absolute URL.');
		}
		const scheme = schemeOf(url);
		if (scheme !== undefined && !webSchemes.has(scheme)) {
			const expected = name === 'prefix' ? 'a path or an http or https URL' : 'an http or https URL';
			throw new TypeError(`Expected \`${name}\` to be ${expected}, got a URL with the scheme ${show(scheme)}.`);
		}
		if (hasUserInfo(url)) {
			throw new TypeError(
				`Expected \`${name}\` to be a URL without user-info (the value is not shown): fetch refuses credentials in a URL. Send them in a header, with \`apiKey\` or \`headers\`.`,
			);
		}
	}
};

/** `timeout` and `totalTimeout`, at creation, per request and in extend(): ky would take -1 as "at once" (Node warns). */
export const checkTimeouts = (options: Record<string, unknown>): void => {
	for (const name of ['timeout', 'totalTimeout']) {
		const value = options[name];
		if (value !== undefined && value !== false && (typeof value !== 'number' || !(value > 0) || value > maxTimer)) {
			rejectOption(name, `a number of milliseconds from 1 to ${maxTimer}, or false`, value);
		}
	}
};

/** `throwHttpErrors`: ky's boolean, or its function of the status; `fallback` when not given. */
export const checkThrowHttpErrors = <T>(value: unknown, fallback?: T): boolean | ((status: number) => boolean) | T => {
	if (value === undefined) {
		return fallback as T;
	}
	if (typeof value !== 'boolean' && typeof value !== 'function') {
		rejectOption('throwHttpErrors', 'a boolean or a function of the status', value);
	}
	return value as boolean | ((status: number) => boolean);
};

/** The ky options that steadfetch checks at creation, so that a mistake shows there and not on the first request. */
export const checkKyOptions = (options: Record<string, unknown>): void => {
	checkThrowHttpErrors(options.throwHttpErrors);
	checkTimeouts(options);
	checkUrlOptions(options);
	checkCallback('fetch', options.fetch);
	checkHooks(options.hooks);
	checkHeaders(options.headers);
};
