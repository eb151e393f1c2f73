/*
Every retry visible in production, for free when nobody looks: steadfetch publishes its attempts and decisions on
Node's `diagnostics_channel`, as undici publishes its requests (`undici:request:create`...). The module is fetched
through `process.getBuiltinModule` (Node 22, Deno, Bun), never imported, so a browser bundle loads nothing Node-only;
where it is missing, every channel is undefined and publishing costs one property read.
*/

/** The part of a diagnostics channel steadfetch uses. */
interface Channel {
	readonly hasSubscribers: boolean;
	publish(message: unknown): void;
}

const builtin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(
	'node:diagnostics_channel',
) as { channel(name: string): Channel } | undefined;

/** The channel names, documented in docs/observing.md. */
export const channelNames = {
	/** An attempt is about to be sent. */
	attemptStart: 'steadfetch:attempt:start',
	/** An attempt ended: its status, or `network` / `timeout`, or none (aborted). */
	attemptEnd: 'steadfetch:attempt:end',
	/** A retry is scheduled: the wait and what failed. */
	retry: 'steadfetch:retry',
	/** A retry the policy allowed was withheld: `budget`, `circuit-open`, `allowance`. */
	retryWithheld: 'steadfetch:retry:withheld',
	/** A call waits for its origin's rate-limit reset, or is refused because the reset is too far. */
	pacing: 'steadfetch:pacing',
	/** A call ended: in success, or with the error it throws (name, status, stop reason). */
	callEnd: 'steadfetch:call:end',
	/** A circuit breaker changed state. */
	breaker: 'steadfetch:breaker',
} as const;

/**
The channel of each name; undefined where the runtime has no diagnostics_channel. Publishers test `hasSubscribers`
before building a message, so that nobody listening costs a property read.
*/
export const channels: { readonly [K in keyof typeof channelNames]: Channel | undefined } = {
	attemptStart: builtin?.channel(channelNames.attemptStart),
	attemptEnd: builtin?.channel(channelNames.attemptEnd),
	retry: builtin?.channel(channelNames.retry),
	retryWithheld: builtin?.channel(channelNames.retryWithheld),
	pacing: builtin?.channel(channelNames.pacing),
	callEnd: builtin?.channel(channelNames.callEnd),
	breaker: builtin?.channel(channelNames.breaker),
};
