import type { JobBinding } from '../types.ts';

/*
The one way a job binds a surface to itself (retryJob's `job.client()` and `job.fetch`, the BullMQ adapter's): a client
or a fetch made by steadfetch carries, under a symbol of its own, the function that makes its job-bound twin. Nothing
travels through a library's options (ky copies `context` on every merge), and a surface steadfetch did not make is
refused by name instead of running unbound.
*/

const bindToJob: unique symbol = Symbol('steadfetch.bindToJob') as never;

/** A client or fetch made by steadfetch, which a job can bind to itself, keeping its policy and its origins' guards. */
export type Bindable<T> = T & { readonly [bindToJob]: (job: JobBinding) => T };

/** Mark `target` as bindable: `bind` makes its twin bound to a job. */
export function bindable<T extends object>(target: T, bind: (job: JobBinding) => T): Bindable<T> {
	return Object.defineProperty(target, bindToJob, { value: bind }) as Bindable<T>;
}

/** Whether `value` was made by steadfetch and can be bound to a job. */
export const isBindable = (value: unknown): value is Bindable<unknown> =>
	(typeof value === 'function' || (typeof value === 'object' && value !== null)) &&
	typeof (value as Partial<Bindable<unknown>>)[bindToJob] === 'function';

/** `target`'s twin bound to `job`; a TypeError naming what was expected when steadfetch did not make it. */
export function bindTo<T>(target: T, job: JobBinding, expected: string): T {
	if (!isBindable(target)) {
		throw new TypeError(`Expected ${expected}.`);
	}
	return (target as Bindable<T>)[bindToJob](job);
}
