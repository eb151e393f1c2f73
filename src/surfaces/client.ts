import ky, {
	type BeforeRequestHook,
	HTTPError,
	type KyInstance,
	NetworkError as KyNetworkError,
	type Options as KyOptions,
	TimeoutError as KyTimeoutError,
	type NormalizedOptions,
	type ResponsePromise,
} from 'ky';
import { bindable } from '../engine/binding.ts';
import { Engine } from '../engine/call.ts';
import { type Clock, systemClock } from '../engine/clock.ts';
import { HttpStatusError } from '../errors/http.ts';
import { NetworkError } from '../errors/network.ts';
import { TimeoutError } from '../errors/timeout.ts';
import { type ClientConfig, normalizeClientOptions } from '../options/normalize.ts';
import type { ClientOptions } from '../options/options.ts';
import { readOptions } from '../options/read.ts';
import { isRecord } from '../options/rules.ts';
import { sanitizeRuntimeError } from '../secrets/runtime-errors.ts';
import type { JobBinding } from '../types.ts';
import { type ClientContext, callFailure, guardCall, type Opened, openCall } from './client-call.ts';
import { asKyOptions, checkJson, kyMakesOneRequest, kyTimeoutMs, type Own, requestMethods, split } from './client-options.ts';
import { hasRetryHooks, noRetryHooks, withOptionsTaken } from './ky-hooks.ts';
import { canFollowByHand } from './redirects.ts';

/*
The client is ky's API over the engine's loop. ky builds each call's Request (input, `baseUrl`, `searchParams`, `json`,
headers, its hooks) and hands it to its `fetch` option, which is the loop (loop.ts): it runs every attempt, waits and
decision, and ends the call with the enriched error. ky is told to make one request with no timer of its own and to hand
every response back; the options it would have used for that (`retry`, `timeout`, `totalTimeout`, `throwHttpErrors`,
`fetch`) are kept here, merged per `extend()` and per call, and carried out by the loop. Only what ky's readme documents
is used: `create`, `extend`, the `fetch` option, and the promise a call returns.
*/

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
	const context: ClientContext = { engine, clock, secrets, keyHeader };
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
						const opened = openCall(context, callOwn, job, undefined, given.json ?? given.body);
						return guardCall(context, send(input, { ...kyOptions, fetch: opened.fetch }), given, opened);
					}
					// ky's options of the call, for the retry-time hooks: a beforeRequest hook of the call's own, the last, takes them.
					let taken: Readonly<NormalizedOptions> | undefined;
					const take: BeforeRequestHook = ({ options: normalized }) => {
						taken = normalized;
					};
					const opened = openCall(context, callOwn, job, () => taken ?? fallbackOptions(opened, callOwn), given.json ?? given.body);
					const hooksPart = withOptionsTaken('hooks' in kyOptions ? { hooks: kyOptions.hooks } : {}, take);
					return guardCall(context, send(input, { ...kyOptions, ...hooksPart, fetch: opened.fetch }), given, opened);
				} catch (error) {
					throw callFailure(context, error, given, undefined);
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
			if (given !== undefined && !isRecord(given)) {
				// Anything but an object is ky's to reject, with its own message (as a call's options are); it throws.
				ky.create(given as KyOptions);
			}
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
