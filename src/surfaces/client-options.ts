import type { Options as KyOptions } from 'ky';
import { errorKind } from '../errors/base.ts';
import { ownOptionNames } from '../options/defaults.ts';
import { normalizeCallPolicy } from '../options/normalize.ts';
import type { Policy, RetryOptions } from '../options/options.ts';
import { assertHeaderValues, checkThrowHttpErrors, checkTimeouts, checkUrlOptions } from '../options/request-rules.ts';
import { checkCallback, isRecord } from '../options/rules.ts';
import { isReplaced, type RetryHooks, splitHooks } from './ky-hooks.ts';

/*
The client's options: what ky takes, and what the loop carries out in ky's words (`retry`, `timeout`, `totalTimeout`,
`throwHttpErrors`, `fetch`, the retry-time hooks), checked and merged where they are given, as ky's readme says ky merges them.
*/

export type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** What the loop carries out for a client's calls, in ky's words: kept from ky, merged here per `extend()` and per call. */
export interface Own {
	/** `retry` as merged so far, and the policy it makes. */
	readonly retry: RetryOptions | number | undefined;
	readonly policy: Policy;
	/** Each attempt's time limit, ky's `timeout`. */
	readonly timeout: number | false;
	/** The call's, ky's `totalTimeout`. */
	readonly totalTimeout: number | false;
	readonly throwHttpErrors: boolean | ((status: number) => boolean);
	readonly fetch: Fetch | undefined;
	/** ky's `afterResponse` and `beforeRetry` hooks: the loop runs them, around each response and each retry. */
	readonly hooks: RetryHooks;
	/** ky's `parseJson`, which ky keeps too (for a success's body): the loop parses a failing JSON body with it. */
	readonly parseJson: ((text: string, context: { request: Request; response: Response }) => unknown) | undefined;
}

// ky's defaults for the options the loop carries out.
export const kyTimeoutMs = 10_000;
const engineOptionNames = ['retry', 'timeout', 'totalTimeout', 'throwHttpErrors', 'fetch'] as const;
// What ky is given in their place: one request per call, no timer of its own, every response handed back to the caller.
export const kyMakesOneRequest: { readonly retry: 0; readonly timeout: false; readonly throwHttpErrors: false } = {
	retry: 0,
	timeout: false,
	throwHttpErrors: false,
};
export const requestMethods = ['get', 'post', 'put', 'patch', 'head', 'delete', 'query'] as const;
export const bodyMethods = ['json', 'text', 'arrayBuffer', 'blob', 'formData', 'bytes'] as const;

/**
Check options given per call, to `extend()` or to `create()`, with the rules and messages of `createClient`, and split
them: what the loop carries out, merged over `inherited` as ky merges it, and what ky takes.
*/
export const split = (given: Readonly<Record<string, unknown>>, inherited: Own): readonly [Own, KyOptions] => {
	for (const name of ownOptionNames) {
		if (name in given) {
			throw new TypeError(`\`${name}\` is set by createClient, not per request or by extend.`);
		}
	}
	// Checked before ky builds its Headers, whose error would quote the value (a secret, maybe).
	assertHeaderValues(given.headers);
	checkUrlOptions(given as Record<string, unknown>);
	const [hooks, kyHooks] = splitHooks(given, inherited.hooks);
	const kyOptions: Record<string, unknown> = { ...kyHooks };
	const own: Record<string, unknown> = {};
	for (const [name, value] of Object.entries(given)) {
		if ((engineOptionNames as readonly string[]).includes(name)) {
			// The options the loop carries out are merged here: a replaceOption() value stands for itself.
			own[name] = isReplaced(value) ? value.value : value;
		} else if (name !== 'hooks') {
			kyOptions[name] = value;
		}
	}
	checkCallback('parseJson', given.parseJson);
	checkTimeouts(own);
	checkThrowHttpErrors(own.throwHttpErrors);
	checkCallback('fetch', own.fetch);
	let { retry, policy } = inherited;
	if ('retry' in own) {
		const value = own.retry as RetryOptions | number | undefined;
		retry = isRecord(value) && !isReplaced(given.retry) ? mergeRetry(retry, value) : value;
		policy = normalizeCallPolicy(policy, retry);
	}
	const pick = <K extends keyof Own>(name: K, fallback: Own[K]): Own[K] =>
		name in own ? ((own[name] ?? fallback) as Own[K]) : inherited[name];
	return [
		{
			retry,
			policy,
			timeout: pick('timeout', kyTimeoutMs),
			totalTimeout: pick('totalTimeout', false),
			throwHttpErrors: pick('throwHttpErrors', true),
			fetch: pick('fetch', undefined),
			hooks,
			parseJson: 'parseJson' in given ? (given.parseJson as Own['parseJson']) : inherited.parseJson,
		},
		kyOptions as KyOptions,
	];
};

/**
A `retry` object over the inherited `retry`, as ky deep-merges it (its readme, `extend()`): an inherited number is
`{limit}`, a given field wins, and a list given where one is inherited is appended to it. A number given, or a value
given through replaceOption(), stands alone (the caller checks).
*/
const mergeRetry = (inherited: RetryOptions | number | undefined, given: RetryOptions): RetryOptions => {
	const base: Record<string, unknown> = typeof inherited === 'number' ? { limit: inherited } : { ...inherited };
	for (const [name, value] of Object.entries(given)) {
		const before = base[name];
		base[name] = Array.isArray(value) && Array.isArray(before) ? [...before, ...value] : value;
	}
	return base as RetryOptions;
};

// The options as a function given to extend() expects its parent's: ky's, with the loop's in ky's words.
export const asKyOptions = (own: Own, parent: KyOptions): KyOptions => ({
	hooks: { ...parent.hooks, afterResponse: [...own.hooks.afterResponse], beforeRetry: [...own.hooks.beforeRetry] },
	retry: (own.retry ?? own.policy.limit) as NonNullable<KyOptions['retry']>,
	timeout: own.timeout,
	totalTimeout: own.totalTimeout,
	throwHttpErrors: own.throwHttpErrors,
	...(own.fetch ? { fetch: own.fetch as NonNullable<KyOptions['fetch']> } : {}),
});

/**
The error for a `json` body that cannot be stringified ("Do not know how to serialize a BigInt", a circular structure),
naming the option; undefined when the body stringifies. Only on the failure path: a success stringifies once, in ky.
*/
export const jsonError = (error: unknown, options: Readonly<Record<string, unknown>>): TypeError | undefined => {
	const stringify = (options.stringifyJson ?? JSON.stringify) as (data: unknown) => string;
	if (options.json === undefined || errorKind(error)) {
		return undefined;
	}
	try {
		stringify(options.json);
		return undefined;
	} catch (cause) {
		return new TypeError('Expected `json` to be a value that can be stringified: stringifying it threw (that error is the cause).', {
			cause,
		});
	}
};

// A `json` given to extend() or create() is stringified by every call: a value that cannot be is refused where it is given.
export const checkJson = (options: Readonly<Record<string, unknown>>): void => {
	const error = jsonError(undefined, options);
	if (error) {
		throw error;
	}
};
