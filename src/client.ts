import isNetworkError from 'is-network-error';
import ky, {
	type BeforeErrorHook,
	type BeforeRequestHook,
	type Hooks,
	HTTPError,
	isHTTPError as isKyHttpError,
	isNetworkError as isKyNetworkError,
	isTimeoutError as isKyTimeoutError,
	type KyInstance,
	NetworkError as KyNetworkError,
	type Options as KyOptions,
	TimeoutError as KyTimeoutError,
	type NormalizedOptions,
	type ResponsePromise,
	replaceOption,
	type ShouldRetryState,
} from 'ky';
import { type Call, Engine, type Failure, newIdempotencyKey } from './attempt.ts';
import { isJson, maxDataReadMs, readData } from './body.ts';
import { type Clock, systemClock } from './clock.ts';
import { ownOptionNames } from './defaults.ts';
import { errorKind } from './errors/base.ts';
import { HttpStatusError } from './errors/http.ts';
import { NetworkError } from './errors/network.ts';
import { TimeoutError } from './errors/timeout.ts';
import { type ClientConfig, normalizeClientOptions, normalizeLimit } from './normalize.ts';
import type { ClientOptions } from './options.ts';
import { backoffDelay, jobKey } from './policy.ts';
import { readOptions } from './read-options.ts';
import { sanitizeRuntimeError } from './redact.ts';
import { canFollowByHand, sendKeepingKey } from './redirects.ts';
import { assertHeaderValues, checkTimeouts, checkUrlOptions, hookKinds, isRecord } from './rules.ts';
import type { JobBinding, Outcome } from './types.ts';

/*
The client drives the attempt engine through ky's extension points: the instance wrapper opens each call (checks the
call's options, starts the engine's call) and hands ky the call's own `retry` and `fetch`; the `fetch` option admits
and times each attempt; `shouldRetry` asks the engine and carries its decision out (sleeps, or throws the enriched
error); `beforeError` enriches what ky ended on its own (its limit, `totalTimeout`). No init hook: with one, ky copies
every request's options for it. The pacing hook is on a twin instance, used only once an API has described a rate-limit
window: until then it would hold nothing, and every hook ky runs costs every request.
*/

/** What one call keeps between ky's hooks: created by the instance wrapper. */
interface Slot {
	readonly call: Call;
	/** The caller's signal: waits (backoff, pacing) end at once when it aborts. */
	readonly signal: AbortSignal | undefined;
	/** A bounded copy of the last failing JSON response's body, read beside ky's own read. */
	spare?: { readonly response: Response; readonly data: Promise<unknown> };
	/** The request of the last attempt, as sent: a success's body read fails after every hook has run. */
	request?: Request;
}

type Failed = HTTPError | Error;

// The hooks find their call on the call's own `shouldRetry`, which ky keeps in the options it hands every hook: a slot in
// `context` would cost every request one more merge of ky's, and a WeakMap more garbage collection.
const slotKey: unique symbol = Symbol('steadfetch.call') as never;
type Decider = ((state: ShouldRetryState) => Promise<boolean>) & { readonly [slotKey]?: Slot };
const slotOf = (options: Readonly<NormalizedOptions>): Slot | undefined => (options.retry?.shouldRetry as Decider | undefined)?.[slotKey];
// Every method goes through our `shouldRetry`, which applies the policy's own method rule.
const allMethods = ['get', 'post', 'put', 'patch', 'head', 'delete', 'options', 'trace', 'query'];
const requestMethods = ['get', 'post', 'put', 'patch', 'head', 'delete', 'query'] as const;
const bodyMethods = ['json', 'text', 'arrayBuffer', 'blob', 'formData', 'bytes'] as const;

const outcomeOf = (error: unknown): Outcome | undefined =>
	isKyHttpError(error) ? error.response.status : isKyNetworkError(error) ? 'network' : isKyTimeoutError(error) ? 'timeout' : undefined;

// Method and key are read from the request that failed: a user hook may have replaced or changed it.
const failureOf = async (error: Failed, outcome: Outcome, slot: Slot | undefined): Promise<Failure> => {
	const { request } = error as { request: Request };
	const http = isKyHttpError(error) ? error : undefined;
	// ky drops a JSON error body that does not parse (its data is undefined): the copy read for it keeps the text.
	const spare = http && http.data === undefined && slot?.spare?.response === http.response ? await slot.spare.data : undefined;
	return {
		outcome,
		method: request.method,
		hasIdempotencyKey: request.headers.has('idempotency-key'),
		request: () => request,
		response: http?.response,
		data: http?.data ?? spare,
		cause: error.cause,
	};
};

// ky copies the retry options for every request: equal arrays count as unchanged.
const same = (value: unknown, expected: unknown): boolean =>
	value === expected ||
	(Array.isArray(value) &&
		Array.isArray(expected) &&
		value.length === expected.length &&
		value.every((item, index) => item === expected[index]));

const addIdempotencyKey =
	(engine: Engine): BeforeRequestHook =>
	({ request }) => {
		const key = newIdempotencyKey(engine.config.policy, request.method, request.headers.has('idempotency-key'));
		if (key !== undefined) {
			// Set once, before ky clones the request for retries: every attempt carries the same key.
			request.headers.set('Idempotency-Key', key);
		}
	};

// The first attempt waits for its origin's rate-limit reset here, before ky starts the attempt's timeout: a wait for
// the API's window must not count as the API being slow. Retries wait in shouldRetry.
const paceFirstAttempt: BeforeRequestHook = ({ request, options }) => {
	const slot = slotOf(options);
	return slot?.call.pace(request.url, () => request, slot.signal);
};

// ky reads a success's body outside its hooks: a body cut off mid-way rejects with the runtime's bare TypeError
// ("terminated"). Give it the same enrichment as every other failure of the call.
const enrichBodyReads = (promise: ResponsePromise, slot: Slot): void => {
	for (const method of bodyMethods) {
		const read = promise[method] as ((...parameters: unknown[]) => Promise<unknown>) | undefined;
		if (read) {
			(promise as unknown as Record<string, unknown>)[method] = (...parameters: unknown[]) =>
				read(...parameters).catch((error: unknown) => {
					const { call, request } = slot;
					if (!request || !isNetworkError(error)) {
						throw error;
					}
					const failure: Failure = {
						outcome: 'body',
						method: request.method,
						hasIdempotencyKey: false,
						request: () => request,
						cause: error,
					};
					throw call.giveUp(failure, undefined);
				});
		}
	}
};

// ky's replaceOption() marks a value that replaces the instance's instead of merging with it: the client reads the
// value inside, as it would read it in ky's merged options.
const replaceMarker = Object.getOwnPropertySymbols(replaceOption({}))[0] as symbol;
const isReplaced = (value: unknown): value is { readonly value: unknown } =>
	isRecord(value) && (value as Record<symbol, unknown>)[replaceMarker] === true;

/** steadfetch's own hooks, first of their arrays: the key and pacing hooks before any request, the enrichment before any error. */
interface OwnHooks {
	readonly beforeRequest: readonly BeforeRequestHook[];
	readonly beforeError: readonly BeforeErrorHook[];
}

/**
The \`hooks\` given to a call or to extend(), such that steadfetch's own are kept. ky drops an instance's hooks of a kind
given as \`undefined\`, and all of them for \`hooks\` given as \`undefined\` or through replaceOption(): then the merged
hooks are worked out here as ky merges them (utils/merge.js, newHookValue), ours put back in front where they were
dropped, and handed to ky as a replacement. Anything else merges in ky, ours kept; a value ky rejects is left for ky to reject.
*/
const keepOwnHooks = (given: unknown, inherited: Hooks | undefined, own: OwnHooks): unknown => {
	const replaced = isReplaced(given);
	const value = replaced ? given.value : given;
	if (value !== undefined && !isRecord(value)) {
		return given;
	}
	const ownKinds = (Object.keys(own) as (keyof OwnHooks)[]).filter((kind) => own[kind].length > 0);
	if (!replaced && value && !ownKinds.some((kind) => Object.hasOwn(value, kind) && value[kind] === undefined)) {
		return given;
	}
	const base: Record<string, unknown> = replaced || !value ? {} : { ...inherited };
	const incoming: Record<string, unknown> = value ?? {};
	const merged = Object.fromEntries(
		hookKinds.map((kind) => {
			const list: unknown[] =
				Object.hasOwn(incoming, kind) && incoming[kind] === undefined
					? []
					: [...((base[kind] as unknown[] | undefined) ?? []), ...((incoming[kind] as unknown[] | undefined) ?? [])];
			const ours: readonly unknown[] = kind === 'beforeRequest' || kind === 'beforeError' ? own[kind] : [];
			// Where a replacement kept ours (the BullMQ adapter puts the job's key hook before the client's), they stay put.
			return [kind, [...ours.filter((hook) => !list.includes(hook)), ...list]];
		}),
	);
	return replaceOption(merged);
};

/** What the calls of one instance inherit, read once per instance: ky merges the same defaults into every call's options. */
interface Inherited {
	readonly defaults: KyOptions;
	/** The hooks of the paced twin's defaults (the same as \`defaults.hooks\` but for the pacing hook). */
	readonly pacedHooks: Hooks | undefined;
	readonly limit: number;
	/** Why the defaults a function given to extend() returned fail the checks: every call throws it, before anything is sent. */
	readonly refusal: unknown;
}

type Method = (input: unknown, options?: unknown) => ResponsePromise;

/** Per request, or through extend(), only ky's `retry.limit` may change; the rest of the policy is the client's. */
const checkRequestOptions = (request: KyOptions, baseRetry: Readonly<Record<string, unknown>>, inheritedLimit: number): number => {
	for (const name of ownOptionNames) {
		if (name in request) {
			throw new TypeError(`\`${name}\` is set by createClient, not per request or by extend.`);
		}
	}
	// Checked before ky builds its Headers, whose error would quote the value (a secret, maybe).
	assertHeaderValues(request.headers);
	checkUrlOptions(request as Record<string, unknown>);
	checkTimeouts(request as Record<string, unknown>);
	if (request.throwHttpErrors !== undefined && request.throwHttpErrors !== true) {
		throw new TypeError('`throwHttpErrors` cannot be turned off on a steadfetch client: ky then skips every status retry.');
	}
	let limit = inheritedLimit;
	if (typeof request.retry === 'number') {
		limit = normalizeLimit(request.retry, 'retry');
	} else if (request.retry) {
		for (const [key, value] of Object.entries(request.retry)) {
			if (key === 'limit') {
				limit = normalizeLimit(value);
			} else if (!(key in baseRetry) || !same(value, baseRetry[key])) {
				throw new TypeError(`Only \`retry.limit\` can be set per request or by extend(); \`retry.${key}\` is set by createClient.`);
			}
		}
	}
	return limit;
};

/**
The error for a `json` body that cannot be stringified ("Do not know how to serialize a BigInt", a circular structure),
naming the option; undefined when the body stringifies. Only on the failure path: a success stringifies once, in ky.
*/
const jsonError = (error: unknown, options: Readonly<Record<string, unknown>>, defaults: KyOptions): TypeError | undefined => {
	const json = 'json' in options ? options.json : defaults.json;
	const stringify = (options.stringifyJson ?? defaults.stringifyJson ?? JSON.stringify) as (data: unknown) => string;
	if (json === undefined || errorKind(error)) {
		return undefined;
	}
	try {
		stringify(json);
		return undefined;
	} catch (cause) {
		return new TypeError('Expected `json` to be a value that can be stringified: stringifying it threw (that error is the cause).', {
			cause,
		});
	}
};

const globalFetch: NonNullable<KyOptions['fetch']> = (input, init) => globalThis.fetch(input, init);

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

/** The client over a validated config and a clock: `createClient` with the system's clock, specs with their own. */
export function clientWith(config: ClientConfig, clock: Clock = systemClock): KyInstance {
	linkErrorsToKy();
	const { policy } = config;
	const { hooks = {}, headers, ...kyOptions } = config.kyOptions;
	const baseRetry = { limit: policy.limit, methods: allMethods, statusCodes: [] as number[], afterStatusCodes: [] as number[] };
	// Per-origin retry budget and circuit breaker: this client's own, shared by its extend()ed copies and job.client() views.
	const engine = new Engine(config, clock, 'ky');
	// steadfetch's own hooks, one of each per client. The key hook only when keys are generated, and the pacing hook only on
	// the paced twin: every hook ky runs costs every request.
	const keyHooks = policy.idempotencyKey ? [addIdempotencyKey(engine)] : [];
	const enrich: BeforeErrorHook = async ({ error, options }) => {
		const slot = slotOf(options);
		const call = slot?.call;
		const outcome = outcomeOf(error);
		if (call && outcome === undefined && !errorKind(error)) {
			// An abort, a hook's or a callback's exception ends the call as it is: a subscriber hears of the end.
			call.end(error);
		}
		// Ours is decided already; aborts, errors thrown by hooks and schema failures are the caller's own.
		if (errorKind(error) || !call || outcome === undefined) {
			return error;
		}
		const failure = await failureOf(error, outcome, slot);
		return call.giveUp(failure, call.conclude(failure));
	};
	const ownPlain: OwnHooks = { beforeRequest: keyHooks, beforeError: [enrich] };
	const ownPaced: OwnHooks = { beforeRequest: [...keyHooks, paceFirstAttempt], beforeError: [enrich] };
	const withOwnHooks = <T>(options: T, inherited: Hooks | undefined, own: OwnHooks): T => {
		if (!isRecord(options) || !('hooks' in options)) {
			return options;
		}
		const hooks = keepOwnHooks(options.hooks, inherited, own);
		return hooks === options.hooks ? options : ({ ...options, hooks } as T);
	};
	// An API key in a header fetch keeps across origins (any but Authorization): redirects are followed by hand.
	const keyHeader = canFollowByHand ? config.secretHeaders.find((name) => name.toLowerCase() !== 'authorization') : undefined;

	// ky hands an instance's merged defaults only to a function given to extend(): read them once, as the instance is wrapped.
	const defaultsOf = (instance: KyInstance): KyOptions => {
		let defaults: KyOptions = {};
		instance.extend((given) => {
			defaults = given;
			return {};
		});
		return defaults;
	};
	const inherit = (instance: KyInstance, paced: KyInstance): Inherited => {
		const defaults = defaultsOf(instance);
		const pacedHooks = paced === instance ? defaults.hooks : defaultsOf(paced).hooks;
		let limit = policy.limit;
		let refusal: unknown;
		try {
			limit = checkRequestOptions(defaults, baseRetry, policy.limit);
		} catch (error) {
			refusal = error;
		}
		return { defaults, pacedHooks, limit, refusal };
	};

	const open = (
		options: Readonly<Record<string, unknown>> | undefined,
		{ defaults, pacedHooks, limit: inheritedLimit, refusal }: Inherited,
		pacing: boolean,
	): readonly [KyOptions, Slot] => {
		// The call's own values, over the instance's as ky merges them (utils/merge.js): the call's own value wins, an explicit
		// undefined included; `context` merges shallowly; every AbortSignal given ends the call, and an explicit undefined
		// or a replaced signal drops the instance's.
		const view: Readonly<Record<string, unknown>> | undefined =
			options && Object.fromEntries(Object.entries(options).map(([name, value]) => [name, isReplaced(value) ? value.value : value]));
		// A retry given as a number, or replaced, or cleared, leaves none of the instance's limit.
		const ownRetry = options && 'retry' in options && (isReplaced(options.retry) || !isRecord(options.retry));
		const limit = view ? checkRequestOptions(view, baseRetry, ownRetry ? policy.limit : inheritedLimit) : inheritedLimit;
		if (refusal !== undefined) {
			throw refusal;
		}
		let context = defaults.context;
		if (view && 'context' in view) {
			const own = view.context as KyOptions['context'];
			context = isReplaced(options?.context) || !own ? own : { ...context, ...own };
		}
		let signal = defaults.signal ?? undefined;
		if (view && 'signal' in view) {
			const kept = isReplaced(options?.signal) || view.signal === undefined ? undefined : signal;
			signal = view.signal instanceof AbortSignal ? (kept ? AbortSignal.any([kept, view.signal]) : view.signal) : kept;
		}
		const job = context?.[jobKey as never] as JobBinding | undefined;
		const timeout = view && 'totalTimeout' in view ? view.totalTimeout : defaults.totalTimeout;
		const own = typeof timeout === 'number' ? clock.monotonic() + timeout : undefined;
		// The call's own totalTimeout (or its instance's) and its job's maxRetryTime: the nearer holds, and a stop names it.
		const byJob = job?.deadline !== undefined && (own === undefined || job.deadline < own);
		const deadline = byJob ? job?.deadline : own;
		const call = engine.call({
			limit,
			allowance: job?.allowance,
			deadline,
			deadlineOption: byJob ? 'maxRetryTime' : 'totalTimeout',
			unref: job?.unref,
		});
		const slot: Slot = { call, signal };
		const decide = async ({ error }: ShouldRetryState): Promise<boolean> => {
			const outcome = outcomeOf(error);
			if (outcome === undefined) {
				call.abandon();
				return false;
			}
			const failure = await failureOf(error, outcome, slot);
			const decision = call.judge(failure);
			if (!decision.retry) {
				// The enriched error is the decision: beforeError passes it through.
				throw call.giveUp(failure, decision);
			}
			// The wait is the engine's (its clock, the call's signal); ky's own delay() is then 0.
			await clock.sleep(decision.delayMs, signal, call.unref);
			await call.pace(failure.request().url, failure.request, signal);
			return true;
		};
		const shouldRetry: Decider = Object.assign(decide, { [slotKey]: slot });
		// A retry forced by an afterResponse hook (ky.retry()) was not decided here: it gets plain backoff.
		const delay = (retry: number): number => (retry <= call.retries ? 0 : backoffDelay(call.policy, retry, clock.random));
		const fetch = ((view && 'fetch' in view ? view.fetch : defaults.fetch) as KyOptions['fetch']) ?? globalFetch;
		const send: typeof fetch = keyHeader ? (input, init) => sendKeepingKey(fetch, input as Request, init, keyHeader) : fetch;
		const attempt: typeof fetch = (input, init) => {
			const sent = input as Request;
			slot.request = sent;
			try {
				const started = call.begin(sent.url, () => sent);
				// The response is seen here rather than in an afterResponse hook, for which ky would clone (tee) every response.
				return call.send(send, input, init).then((response) => {
					call.settle(started, response.status, response.headers);
					// Only for a failure, so that a success costs nothing: ky's `parseJson` would wrap every success's json().
					if (!response.ok && response.body && isJson(response)) {
						slot.spare = { response, data: readData(response.clone(), maxDataReadMs) };
					}
					return response;
				});
			} catch (refusal) {
				return Promise.reject(refusal);
			}
		};
		// Replaced, not merged: ky would merge the instance's retry arrays into the call's for nothing.
		const retry = replaceOption({ ...baseRetry, limit, shouldRetry, delay });
		// ky ends the attempt in flight at its totalTimeout: the job's, when the job's deadline is the nearer.
		const bounded = byJob && deadline !== undefined ? { totalTimeout: Math.max(1, Math.round(deadline - clock.monotonic())) } : {};
		// Hooks the call clears or replaces keep steadfetch's own in front (read only when the call gives hooks).
		const given = withOwnHooks(options, pacing ? pacedHooks : defaults.hooks, pacing ? ownPaced : ownPlain);
		return [{ ...given, ...bounded, retry, fetch: attempt }, slot];
	};

	// The instance wrapper: every call of the instance, and of the instances extend() makes, is opened here. `paced` is the
	// same instance with the pacing hook, used once a response has described a rate-limit window (`engine.paced`).
	const wrap = (instance: KyInstance, paced: KyInstance): KyInstance => {
		const inherited = inherit(instance, paced);
		const guarded = <F extends (...parameters: never[]) => unknown>(methodOf: (instance: KyInstance) => F): F =>
			((input: unknown, options?: unknown) => {
				try {
					const pacing = engine.paced && paced !== instance;
					const method = methodOf(pacing ? paced : instance) as unknown as Method;
					// Anything but an object, or a context that is none, is ky's to reject, with its own message.
					if (options !== undefined && (!isRecord(options) || (options.context != null && !isRecord(options.context)))) {
						return method(input, options);
					}
					const [own, slot] = open(options, inherited, pacing);
					const promise = method(input, own);
					enrichBodyReads(promise, slot);
					return promise;
				} catch (error) {
					// A getter or Proxy in the call's options that throws is named, as at creation (read again only on this path).
					if (isRecord(options)) {
						readOptions(options);
					}
					throw (
						jsonError(error, isRecord(options) ? options : {}, inherited.defaults) ??
						sanitizeRuntimeError(error, config.secrets, isRecord(options) ? options.headers : undefined)
					);
				}
			}) as unknown as F;
		return Object.assign(
			guarded((target) => target),
			instance,
			{
				...Object.fromEntries(requestMethods.map((method) => [method, guarded((target) => target[method])])),
				// Checked at once: a bad option given to extend() must not wait for the first call to fail. (What a function given
				// to extend() returns is checked with the defaults it makes; a failure there fails every call, as before.)
				extend: ((given) => {
					let options = isRecord(given) ? readOptions(given) : given;
					if (isRecord(options)) {
						checkRequestOptions(options, baseRetry, policy.limit);
					}
					try {
						// A function runs once, on the instance's defaults as ky would hand them: both instances take what it returns.
						if (typeof options === 'function') {
							options = options(inherited.defaults);
						}
						const extended = instance.extend(withOwnHooks(options, inherited.defaults.hooks, ownPlain));
						return wrap(extended, paced === instance ? extended : paced.extend(withOwnHooks(options, inherited.pacedHooks, ownPaced)));
					} catch (error) {
						throw sanitizeRuntimeError(error, config.secrets, isRecord(options) ? options.headers : undefined);
					}
				}) as KyInstance['extend'],
			},
		);
	};

	const create = (pacing: boolean): KyInstance => {
		const own = pacing ? ownPaced : ownPlain;
		return ky.create({
			...kyOptions,
			// None rather than an empty object: ky merges an instance's headers into every request's.
			...(headers && Object.keys(headers).length > 0 ? { headers } : {}),
			retry: baseRetry,
			hooks: {
				...(hooks.init ? { init: hooks.init } : {}),
				beforeRequest: [...own.beforeRequest, ...(hooks.beforeRequest ?? [])],
				afterResponse: hooks.afterResponse ?? [],
				beforeRetry: hooks.beforeRetry ?? [],
				beforeError: [...own.beforeError, ...(hooks.beforeError ?? [])],
			},
		});
	};
	const instance = create(false);
	return wrap(instance, config.rateLimit ? create(true) : instance);
}

/**
Create a ky instance that retries transient failures with exponential backoff and full jitter, honours `Retry-After`, fails fast on every other status, and throws errors that carry the API's troubleshooting advice.

All of ky's options pass through, and hooks given here run after steadfetch's own, which are kept, first, when a call or `extend()` clears or replaces hooks (ky's `undefined` or `replaceOption`). Options are validated now: a bad one throws a `TypeError` naming it.

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
