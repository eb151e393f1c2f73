import isNetworkError from 'is-network-error';
import ky, {
	type BeforeRequestHook,
	HTTPError,
	isNetworkError as isKyNetworkError,
	type KyInstance,
	NetworkError as KyNetworkError,
	type Options as KyOptions,
	TimeoutError as KyTimeoutError,
	type NormalizedOptions,
	type ResponsePromise,
} from 'ky';
import { type Call, Engine, newIdempotencyKey } from './attempt.ts';
import { bindable } from './binding.ts';
import { maxDataReadMs, readData } from './body.ts';
import { type Clock, systemClock } from './clock.ts';
import { ownOptionNames } from './defaults.ts';
import { errorKind } from './errors/base.ts';
import { HttpStatusError } from './errors/http.ts';
import { NetworkError } from './errors/network.ts';
import { TimeoutError } from './errors/timeout.ts';
import { type AttemptTimer, runAttempts } from './loop.ts';
import { type ClientConfig, normalizeCallPolicy, normalizeClientOptions } from './normalize.ts';
import type { ClientOptions, Policy, RetryOptions } from './options.ts';
import { readOptions } from './read-options.ts';
import { sanitizeRuntimeError } from './redact.ts';
import { canFollowByHand, sendKeepingKey } from './redirects.ts';
import {
	hasRetryHooks,
	isReplaced,
	loopHooks,
	noRetryHooks,
	type RetryHooks,
	RetryStopped,
	splitHooks,
	withOptionsTaken,
} from './retry-hooks.ts';
import { assertHeaderValues, checkCallback, checkThrowHttpErrors, checkTimeouts, checkUrlOptions, isRecord } from './rules.ts';
import type { JobBinding } from './types.ts';

/*
The client is ky's API over the engine's loop. ky builds each call's Request (input, `baseUrl`, `searchParams`, `json`,
headers, its hooks) and hands it to its `fetch` option, which is the loop (loop.ts): it runs every attempt, waits and
decision, and ends the call with the enriched error. ky is told to make one request with no timer of its own and to hand
every response back; the options it would have used for that (`retry`, `timeout`, `totalTimeout`, `throwHttpErrors`,
`fetch`) are kept here, merged per `extend()` and per call, and carried out by the loop. Only what ky's readme documents
is used: `create`, `extend`, the `fetch` option, and the promise a call returns.
*/

type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** What the loop carries out for a client's calls, in ky's words: kept from ky, merged here per `extend()` and per call. */
interface Own {
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
const kyTimeoutMs = 10_000;
const engineOptionNames = ['retry', 'timeout', 'totalTimeout', 'throwHttpErrors', 'fetch'] as const;
// What ky is given in their place: one request per call, no timer of its own, every response handed back to the caller.
const kyMakesOneRequest = { retry: 0, timeout: false, throwHttpErrors: false } as const satisfies KyOptions;
const requestMethods = ['get', 'post', 'put', 'patch', 'head', 'delete', 'query'] as const;
const bodyMethods = ['json', 'text', 'arrayBuffer', 'blob', 'formData', 'bytes'] as const;

/**
Check options given per call, to `extend()` or to `create()`, with the rules and messages of `createClient`, and split
them: what the loop carries out, merged over `inherited` as ky merges it, and what ky takes.
*/
const split = (given: Readonly<Record<string, unknown>>, inherited: Own): readonly [Own, KyOptions] => {
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
const asKyOptions = (own: Own, parent: KyOptions): KyOptions => ({
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
const jsonError = (error: unknown, options: Readonly<Record<string, unknown>>): TypeError | undefined => {
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
const checkJson = (options: Readonly<Record<string, unknown>>): void => {
	const error = jsonError(undefined, options);
	if (error) {
		throw error;
	}
};

/**
Make steadfetch's error classes subclasses of ky's, once, when the first client is made. The classes are plain errors
until then, so that a bundle of the drop-in fetch alone carries no ky; every error a client raises is `instanceof`
ky's `HTTPError`, `NetworkError` or `TimeoutError`, and code written for ky keeps working.
*/
function linkErrorsToKy(): void {
	for (const [ours, kys] of [
		[HttpStatusError, HTTPError],
		[NetworkError, KyNetworkError],
		[TimeoutError, KyTimeoutError],
	] as const) {
		if (!(ours.prototype instanceof kys)) {
			Object.setPrototypeOf(ours.prototype, kys.prototype);
		}
	}
}

// What a retry-time hook is handed as ky's options when the call dropped the beforeRequest hook that takes them.
const fallbackOptions = (opened: Opened, own: Own): Readonly<NormalizedOptions> =>
	Object.freeze({
		method: opened.request?.method ?? 'GET',
		headers: opened.request?.headers ?? new Headers(),
		context: {},
		retry: { limit: own.policy.limit },
	}) as unknown as Readonly<NormalizedOptions>;

// Read on every call, so that tools which patch `globalThis.fetch` later still work.
const globalFetch: Fetch = (input, init) => globalThis.fetch(input, init);
const always = (): boolean => true;
const never = (): boolean => false;

// ky's rule: a response that is not ok fails (a 3xx the caller asked to see included), but for an opaque one, whose
// status a browser hides.
const fails = (response: Response): boolean => !response.ok && response.type !== 'opaque';

/** One call as the loop runs it: the engine's call, and the request ky handed the loop last. */
interface Opened {
	readonly call: Call;
	readonly fetch: Fetch;
	request: Request | undefined;
	/** The timer of the attempt that succeeded: it bounds the read of the body, as ky bounds its shortcuts' reads. */
	timer: AttemptTimer | undefined;
	/** Whether a body shortcut (`.json()`...) was called: its read is timed from the response on. */
	reading: boolean;
	/** Ends the shortcut's read when the timer does, whether or not the body listens to the abort. */
	end: ((reason: unknown) => void) | undefined;
	/** Whether the call goes through a caller's own fetch (the `fetch` option, or a job's wrapper): its reads race the timer. */
	readonly customFetch: boolean;
	/** Start that timer for the read of the body: the call's `timeout`, within its deadline. */
	arm(): void;
}

/** The client over a validated config and a clock: `createClient` with the system's clock, specs with their own. */
export function clientWith(config: ClientConfig, clock: Clock = systemClock, engine: Engine = new Engine(config, clock, 'ky')): KyInstance {
	linkErrorsToKy();
	const { policy, secrets } = config;
	// An API key in a header fetch keeps across origins (any but Authorization): redirects are followed by hand.
	const keyHeader = canFollowByHand ? config.secretHeaders.find((name) => name.toLowerCase() !== 'authorization') : undefined;
	const keyHeaders = Object.fromEntries(
		Object.entries(config.kyOptions.headers as Record<string, string>).filter(([name]) =>
			config.secretHeaders.some((secret) => secret.toLowerCase() === name),
		),
	);
	const root: Own = {
		retry: config.retry,
		policy,
		timeout: kyTimeoutMs,
		totalTimeout: false,
		throwHttpErrors: true,
		fetch: undefined,
		hooks: noRetryHooks,
		parseJson: undefined,
	};

	// The call's loop: ky hands it the Request it built, after its beforeRequest hooks.
	const open = (own: Own, job: JobBinding | undefined, options: (() => Readonly<NormalizedOptions>) | undefined): Opened => {
		const byOwn = typeof own.totalTimeout === 'number' ? clock.monotonic() + own.totalTimeout : undefined;
		// The call's own totalTimeout (or its instance's) and its job's maxRetryTime: the nearer holds, and a stop names it.
		const byJob = job?.deadline !== undefined && (byOwn === undefined || job.deadline < byOwn);
		const call = engine.call({
			policy: own.policy,
			allowance: job?.allowance,
			deadline: byJob ? job?.deadline : byOwn,
			deadlineOption: byJob ? 'maxRetryTime' : 'totalTimeout',
			unref: job?.unref,
		});
		const base: Fetch = own.fetch ?? globalFetch;
		const kept: Fetch = keyHeader ? (input, init) => sendKeepingKey(base, input as Request, init, keyHeader) : base;
		const send = job?.send ? job.send(kept) : kept;
		const { throwHttpErrors, parseJson } = own;
		const throws = typeof throwHttpErrors === 'function' ? throwHttpErrors : throwHttpErrors ? always : never;
		const opened: Opened = {
			call,
			request: undefined,
			timer: undefined,
			reading: false,
			end: undefined,
			customFetch: own.fetch !== undefined || job?.send !== undefined,
			arm() {
				const remaining = call.remainingMs();
				const ms = Math.min(own.timeout === false ? Number.POSITIVE_INFINITY : own.timeout, remaining ?? Number.POSITIVE_INFINITY);
				if (Number.isFinite(ms)) {
					opened.timer?.arm(Math.max(1, ms));
				} else {
					opened.timer?.clear();
				}
			},
			fetch: (input, init) => {
				const request = input as Request;
				opened.request = request;
				const { method } = request;
				// Only a method outside retry.methods needs a key to be retried: a GET reads no header for it.
				let hasIdempotencyKey = false;
				if (!call.policy.methods.has(method) || job?.idempotencyKey) {
					hasIdempotencyKey = request.headers.has('idempotency-key');
					const key = newIdempotencyKey(call.policy, method, hasIdempotencyKey, job);
					if (key !== undefined) {
						// Set once, before the first attempt: every attempt carries the same key.
						request.headers.set('Idempotency-Key', key);
						hasIdempotencyKey = true;
					}
				}
				const parse = parseJson && ((text: string, response: Response) => parseJson(text, { request, response }));
				return runAttempts({
					call,
					send,
					input: request,
					init,
					request,
					method,
					url: request.url,
					hasIdempotencyKey,
					replayable: true,
					describe: () => request,
					// ky makes the request's signal for this call alone; a job's is shared, and joined into one of the call's own.
					signal: job?.signal ? AbortSignal.any([request.signal, job.signal]) : request.signal,
					ownSignal: true,
					customFetch: opened.customFetch,
					succeeded: (timer) => {
						opened.timer = timer;
						if (opened.customFetch) {
							timer?.whenEnded((reason) => opened.end?.(reason));
						}
						if (opened.reading) {
							opened.arm();
						}
					},
					timeoutMs: own.timeout,
					fails,
					throws,
					dataReadMs: maxDataReadMs,
					dataFirst: true,
					secrets,
					headers: request.headers,
					hooks:
						options &&
						loopHooks(own.hooks, {
							call,
							options,
							fails,
							throws,
							read: (response) => readData(response, own.timeout === false ? maxDataReadMs : own.timeout, parse),
						}),
					parseJson: parse,
				});
			},
		};
		return opened;
	};

	// What ky rejects with before or after the loop: a runtime's error on a URL or a header (ky 2.2 rejects where 2.1
	// threw) without the secret it quotes, a `json` that cannot be stringified named, a success's body cut off while read
	// enriched like every other failure of the call. Errors of the engine, of hooks and of the caller pass as they are.
	const failure = (error: unknown, options: Readonly<Record<string, unknown>>, opened: Opened | undefined): unknown => {
		if (errorKind(error)) {
			return error;
		}
		const json = jsonError(error, options);
		if (json) {
			return json;
		}
		// The read of a success's body ran past its time, or failed: the runtime's TypeError ("terminated"), or ky's
		// NetworkError around it (ky 2.2 wraps a shortcut's failed read).
		const request = opened?.request;
		const expired = opened?.timer?.expired();
		if (opened && request && (expired || isNetworkError(error) || isKyNetworkError(error))) {
			const cause = isKyNetworkError(error) ? error.cause : error;
			const outcome = expired ? 'timeout' : 'body';
			return opened.call.giveUp({ outcome, method: request.method, hasIdempotencyKey: false, request: () => request, cause }, undefined);
		}
		return sanitizeRuntimeError(error, secrets, options.headers);
	};

	// ky's promise, with its rejections passed through `failure`: the promise itself and each body shortcut.
	const guard = (promise: ResponsePromise, options: Readonly<Record<string, unknown>>, opened: Opened): ResponsePromise => {
		const rethrow = (error: unknown): never => {
			throw failure(error, options, opened);
		};
		// ky.stop from a beforeRetry hook: the call resolves with no response, as in ky (its shortcuts have nothing to read).
		const guarded = promise.then(undefined, (error: unknown) =>
			error instanceof RetryStopped ? (undefined as unknown as Response) : rethrow(error),
		) as ResponsePromise;
		// A caller who reads through a shortcut awaits ky's promise, not this one: it must not be reported as unhandled.
		guarded.catch(() => undefined);
		const shortcuts = promise as unknown as Record<string, ((...parameters: unknown[]) => Promise<unknown>) | undefined>;
		const bodyFailure = (error: unknown): never => {
			throw error instanceof RetryStopped
				? new TypeError('The call was stopped by ky.stop in a beforeRetry hook: there is no response, so no body to read.')
				: failure(error, options, opened);
		};
		const disarm = () => opened.timer?.clear();
		for (const method of bodyMethods) {
			const read = shortcuts[method];
			if (read) {
				// Called at once: ky sets the request's Accept header for it before the request is sent.
				// The body's time starts with the response: now, if it is here, else when the loop hands it over.
				// A body that may not listen to the abort (a custom fetch's own) is not waited for: its read races the timer.
				(guarded as unknown as Record<string, unknown>)[method] = (...parameters: unknown[]) => {
					const reading = read(...parameters);
					opened.reading = true;
					opened.arm();
					let raced = reading;
					if (opened.customFetch) {
						reading.catch(() => undefined);
						raced = Promise.race([
							reading,
							new Promise<never>((_resolve, reject) => {
								opened.end = reject;
							}),
						]);
					}
					return raced.then(
						(body) => {
							disarm();
							return body;
						},
						(error: unknown) => {
							disarm();
							return bodyFailure(error);
						},
					);
				};
			}
		}
		return guarded;
	};

	const wrap = (instance: KyInstance, own: Own, job: JobBinding | undefined): KyInstance => {
		const method =
			(methodOf: (target: KyInstance) => (input: never, options?: never) => ResponsePromise) =>
			(input: unknown, options?: unknown): ResponsePromise => {
				const send = methodOf(instance) as unknown as (input: unknown, options?: unknown) => ResponsePromise;
				// Anything but an object, or a context that is none, is ky's to reject, with its own message.
				if (options !== undefined && (!isRecord(options) || (options.context != null && !isRecord(options.context)))) {
					return send(input, options);
				}
				const given = options === undefined ? {} : readOptions(options);
				try {
					const [callOwn, kyOptions] = options === undefined ? [own, {}] : split(given, own);
					if (!hasRetryHooks(callOwn.hooks)) {
						const opened = open(callOwn, job, undefined);
						return guard(send(input, { ...kyOptions, fetch: opened.fetch }), given, opened);
					}
					// ky's options of the call, for the retry-time hooks: a beforeRequest hook of the call's own, the last, takes them.
					let taken: Readonly<NormalizedOptions> | undefined;
					const take: BeforeRequestHook = ({ options: normalized }) => {
						taken = normalized;
					};
					const opened = open(callOwn, job, () => taken ?? fallbackOptions(opened, callOwn));
					const hooksPart = withOptionsTaken('hooks' in kyOptions ? { hooks: kyOptions.hooks } : {}, take);
					return guard(send(input, { ...kyOptions, ...hooksPart, fetch: opened.fetch }), given, opened);
				} catch (error) {
					throw failure(error, given, undefined);
				}
			};
		const extend = (given: unknown): KyInstance => {
			let next = own;
			let options = isRecord(given) ? readOptions(given) : given;
			try {
				if (typeof options === 'function') {
					// A function runs on the instance's defaults, the loop's options among them in ky's words.
					const make = options as (parent: KyOptions) => unknown;
					const extended = instance.extend((parent) => {
						const returned = make({ ...parent, ...asKyOptions(own, parent) });
						if (!isRecord(returned)) {
							return returned as KyOptions;
						}
						const read = readOptions(returned);
						checkJson(read);
						const [made, kyOptions] = split(read, own);
						next = made;
						return kyOptions;
					});
					return wrap(extended, next, job);
				}
				let kyOptions = options as KyOptions | undefined;
				if (isRecord(options)) {
					checkJson(options);
					[next, kyOptions] = split(options, own);
				}
				return wrap(instance.extend(kyOptions as KyOptions), next, job);
			} catch (error) {
				options = isRecord(options) ? options : {};
				throw sanitizeRuntimeError(error, secrets, (options as Record<string, unknown>).headers);
			}
		};
		// ky's create() starts from nothing inherited: here too, but for what createClient set (the API key, the policy).
		const create = (given?: unknown): KyInstance => {
			const options = isRecord(given) ? readOptions(given) : {};
			checkJson(options);
			const [made, kyOptions] = split(options, root);
			const headers = new Headers(keyHeaders);
			for (const [name, value] of new Headers(kyOptions.headers as HeadersInit | undefined)) {
				if (!headers.has(name)) {
					headers.set(name, value);
				}
			}
			return wrap(ky.create({ ...kyOptions, headers: Object.fromEntries(headers), ...kyMakesOneRequest }), made, job);
		};
		const client = Object.assign(
			method((target) => target as never),
			instance,
			{
				...Object.fromEntries(requestMethods.map((name) => [name, method((target) => target[name] as never)])),
				extend: extend as KyInstance['extend'],
				create: create as KyInstance['create'],
			},
		);
		// A job binds the same instance to itself: its calls spend the job's allowance and end by its deadline and signal.
		return bindable(client, (binding) => wrap(instance, own, binding));
	};

	checkJson(config.kyOptions as Record<string, unknown>);
	const [own, kyOptions] = split(Object.fromEntries(Object.entries(config.kyOptions).filter(([name]) => name !== 'headers')), root);
	const { headers } = config.kyOptions;
	const instance = ky.create({
		...kyOptions,
		// None rather than an empty object: ky merges an instance's headers into every request's.
		...(headers && Object.keys(headers).length > 0 ? { headers } : {}),
		...kyMakesOneRequest,
	});
	return wrap(instance, own, undefined);
}

/**
Create a ky instance that retries transient failures with exponential backoff and full jitter, honours `Retry-After`, fails fast on every other status, and throws errors that carry the API's troubleshooting advice.

Every option of ky passes through, with ky's meaning, at creation, to `extend()` and per call; steadfetch runs the retries, timeouts and waits itself, inside ky's `fetch` option (docs/retries.md lists where it differs from ky, and why). Options are validated where they are given: a bad one throws a `TypeError` naming it.

@example
```ts
import { createClient } from 'steadfetch';

const api = createClient({ baseUrl: 'https://api.example.com/v1/', apiKey: process.env.API_KEY });
const user = await api.get('users/42').json();
```
*/
export function createClient(options: ClientOptions = {}): KyInstance {
	return clientWith(normalizeClientOptions(options));
}

/** A client with the default policy and no base URL, for absolute URLs. */
export const steadfetch: KyInstance = /* @__PURE__ */ createClient();
