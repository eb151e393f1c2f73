import ky, {
	type AfterResponseHook,
	type BeforeRequestHook,
	type BeforeRetryHook,
	ForceRetryError,
	type Hooks,
	type NormalizedOptions,
	replaceOption,
} from 'ky';
import type { Call } from '../engine/call.ts';
import { Forced, type LoopHooks } from '../engine/loop.ts';
import { checkHooks } from '../options/request-rules.ts';
import { isRecord } from '../options/rules.ts';

/*
ky's hooks that belong to retries, `afterResponse` (each response) and `beforeRetry` (before each retry), run by the
loop, since the loop makes the retries: ky, which makes one request per call, would run them once or never. They are
kept from ky and merged here by the rules ky's readme gives for `extend()` (appended; a kind given as `undefined` drops
the inherited ones; `replaceOption` replaces them all). Their `options` are ky's normalized options of the call, handed
to a `beforeRequest` hook of the call's own, the last one; a call that drops the inherited `beforeRequest` hooks gets
what the loop knows instead (method, headers, context, retry).
*/

/** The retry-time hooks of an instance or a call. */
export interface RetryHooks {
	readonly afterResponse: readonly AfterResponseHook[];
	readonly beforeRetry: readonly BeforeRetryHook[];
}

export const noRetryHooks: RetryHooks = Object.freeze({ afterResponse: [], beforeRetry: [] });

const kinds = ['afterResponse', 'beforeRetry'] as const;

// What ky.retry() returns, and replaceOption()'s wrapper, are identified by what ky makes of them: the readme documents
// both values, not their shape. A spec pins each (spec/ky-hooks.spec.ts).
const RetryMarker = ky.retry().constructor;
const replaceMarker = Object.getOwnPropertySymbols(replaceOption({}))[0] as symbol;

/** Whether `value` is a value given through ky's `replaceOption()`. */
export const isReplaced = (value: unknown): value is { readonly value: unknown } =>
	isRecord(value) && (value as Record<symbol, unknown>)[replaceMarker] === true;

/**
Split the `hooks` given at creation, to `extend()` or per call: the retry-time hooks, merged over `inherited`, and the
rest for ky (`undefined` when nothing is left to give it). `hooks` given as `undefined` drops every inherited hook, as in ky.
*/
export function splitHooks(
	given: Readonly<Record<string, unknown>>,
	inherited: RetryHooks,
): readonly [RetryHooks, { readonly hooks?: unknown }] {
	if (!('hooks' in given)) {
		return [inherited, {}];
	}
	const replaced = isReplaced(given.hooks);
	const value = replaced ? (given.hooks as { value: unknown }).value : given.hooks;
	if (value === undefined) {
		return [noRetryHooks, { hooks: undefined }];
	}
	checkHooks(value);
	const hooks = value as Record<string, unknown>;
	const merged = Object.fromEntries(
		kinds.map((kind) => {
			const base = replaced || (Object.hasOwn(hooks, kind) && hooks[kind] === undefined) ? [] : inherited[kind];
			return [kind, [...base, ...((hooks[kind] as unknown[] | undefined) ?? [])]];
		}),
	) as unknown as RetryHooks;
	const rest = Object.fromEntries(Object.entries(hooks).filter(([kind]) => !(kinds as readonly string[]).includes(kind)));
	return [merged, { hooks: replaced ? replaceOption(rest) : rest }];
}

/** Whether the loop has any of these hooks to run. */
export const hasRetryHooks = (hooks: RetryHooks): boolean => hooks.afterResponse.length > 0 || hooks.beforeRetry.length > 0;

/**
The `hooks` a call with retry-time hooks hands ky, from what `splitHooks` left for ky: `take`, last of the
`beforeRequest` hooks, is handed ky's normalized options of the call. A call that drops the inherited `beforeRequest`
hooks is left as it is: a hook added there would keep them.
*/
export function withOptionsTaken(part: { readonly hooks?: unknown }, take: BeforeRequestHook): { readonly hooks?: unknown } {
	if (!('hooks' in part)) {
		return { hooks: { beforeRequest: [take] } };
	}
	if (part.hooks === undefined) {
		// Every inherited hook dropped: a replacement that holds only ours does the same.
		return { hooks: replaceOption({ beforeRequest: [take] }) };
	}
	const replaced = isReplaced(part.hooks);
	const hooks = (replaced ? (part.hooks as { value: unknown }).value : part.hooks) as Hooks;
	if (Object.hasOwn(hooks, 'beforeRequest') && hooks.beforeRequest === undefined) {
		return part;
	}
	const taken = { ...hooks, beforeRequest: [...(hooks.beforeRequest ?? []), take] };
	return { hooks: replaced ? replaceOption(taken) : taken };
}

/** A call a `beforeRetry` hook stopped (ky.stop): the client resolves it with no response, as ky does. */
export class RetryStopped extends Error {
	override name = 'RetryStopped';
}

/** What the loop's view of the hooks needs of its call. */
export interface HookedCall {
	readonly call: Call;
	/** ky's normalized options of the call. */
	readonly options: () => Readonly<NormalizedOptions>;
	readonly fails: (response: Response) => boolean;
	readonly throws: (status: number) => boolean;
	/** How a failing body is read for its error. */
	readonly read: (response: Response) => Promise<unknown>;
}

// ky takes a Request or Response of another realm or a polyfill by its tag, as here.
const tag = Object.prototype.toString;
const isResponse = (value: unknown): value is Response => value instanceof Response || tag.call(value) === '[object Response]';
const isRequest = (value: unknown): value is Request => value instanceof Request || tag.call(value) === '[object Request]';

// A response a hook left unread must not hold its connection.
const cancel = (response: Response): void => void response.body?.cancel().catch(() => undefined);

/** The loop's view of a call's retry-time hooks, as ky runs them. */
export function loopHooks(hooks: RetryHooks, { call, options, fails, throws, read }: HookedCall): LoopHooks {
	return {
		async afterResponse(response, request, retryCount) {
			let current = response;
			for (const hook of hooks.afterResponse) {
				const copy = current.clone();
				let result: unknown;
				try {
					result = await hook({ request, options: options(), response: copy, retryCount });
				} catch (error) {
					// The hook's exception ends the call: neither body will be read, and neither may hold its connection.
					cancel(copy);
					cancel(current);
					throw error;
				}
				if (result instanceof RetryMarker) {
					cancel(copy);
					cancel(current);
					const forced = (result as { options?: ConstructorParameters<typeof ForceRetryError>[0] }).options;
					return new Forced(new ForceRetryError(forced), forced?.delay, forced?.request);
				}
				if (isResponse(result)) {
					if (copy.body !== result.body) {
						cancel(copy);
					}
					if (current.body !== result.body) {
						cancel(current);
					}
					current = result;
				} else {
					cancel(copy);
				}
			}
			return current;
		},
		// A Request replaces the request; a Response ends the call with it (a failing one rejects when the call throws on
		// it, as in ky); ky.stop ends it with none; what a hook throws ends it as it is.
		async beforeRetry(request, error, failure) {
			let next: unknown;
			try {
				for (const hook of hooks.beforeRetry) {
					next = await hook({ request, options: options(), error, retryCount: call.attempts });
					if (next === ky.stop || isRequest(next) || isResponse(next)) {
						break;
					}
				}
			} catch (thrown) {
				call.end(thrown);
				throw thrown;
			}
			if (next === ky.stop) {
				const stopped = new RetryStopped('A beforeRetry hook returned ky.stop.');
				call.end(stopped);
				throw stopped;
			}
			if (isResponse(next) && fails(next) && throws(next.status)) {
				throw call.giveUp({ ...failure, outcome: next.status, response: next, data: await read(next) }, undefined);
			}
			return isResponse(next) ? { end: next } : { send: isRequest(next) ? next : request };
		},
	};
}
