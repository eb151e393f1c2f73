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

/** The part of Node's `diagnostics_channel` steadfetch uses: undefined where the runtime has none (a browser). */
export interface DiagnosticsChannel {
	channel(name: string): Channel;
	subscribe(name: string, listener: (message: unknown) => void): void;
	unsubscribe(name: string, listener: (message: unknown) => void): boolean;
}

/** Node's `diagnostics_channel`, looked up once, here, for the engine that publishes and for `steadfetch/otel` that listens. */
export const diagnosticsChannel: DiagnosticsChannel | undefined = (
	globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:diagnostics_channel') as DiagnosticsChannel | undefined;
const builtin = diagnosticsChannel;

/** The channel names, documented in docs/observing.md. */
export const channelNames = {
	/** A call starts: before its first attempt, or before the rate-limit wait that comes first. */
	callStart: 'steadfetch:call:start',
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
	/** A call ended: in success, or with the error it throws (name, status, stop reason), or an abort. */
	callEnd: 'steadfetch:call:end',
	/** A circuit breaker changed state. */
	breaker: 'steadfetch:breaker',
} as const;

/**
The channel of each name; undefined where the runtime has no diagnostics_channel. Publishers test `hasSubscribers`
before building a message, so that nobody listening costs a property read.
*/
export const channels: { readonly [K in keyof typeof channelNames]: Channel | undefined } = {
	callStart: builtin?.channel(channelNames.callStart),
	attemptStart: builtin?.channel(channelNames.attemptStart),
	attemptEnd: builtin?.channel(channelNames.attemptEnd),
	retry: builtin?.channel(channelNames.retry),
	retryWithheld: builtin?.channel(channelNames.retryWithheld),
	pacing: builtin?.channel(channelNames.pacing),
	callEnd: builtin?.channel(channelNames.callEnd),
	breaker: builtin?.channel(channelNames.breaker),
};

/**
What every message of one call carries as `call`: the same frozen object from the call's start to its end, to key a
map (a `WeakMap` forgets a call nobody ended); `id` is for logs.
*/
export interface CallRef {
	readonly id: number;
}

/** Runs an attempt's request (`send`) inside whatever a tracer wants around it; must return what `send` returns. */
export type AroundAttempt = <T>(call: CallRef, send: () => T) => T;

type Tracing = { around: AroundAttempt | undefined };
const shared = globalThis as { [key: symbol]: Tracing | undefined };
const tracingKey = Symbol.for('steadfetch.tracing');

/**
What runs around each attempt's request: `steadfetch/otel` sets `around` to run it in the context of the attempt's
span, so that spans started by the request (the undici instrumentation's) become its children; undefined while nobody
traces, and the request is sent as is. One object per process, shared by every copy of steadfetch loaded in it, as the
channels are.
*/
export const tracing: Tracing = shared[tracingKey] ?? { around: undefined };
shared[tracingKey] = tracing;

// The messages as the engine publishes them (docs/observing.md): what a subscriber (steadfetch/otel) may read.
export interface CallMessage {
	readonly call: CallRef;
	readonly method: string;
	readonly url: string;
	readonly origin: string;
}
export interface AttemptEndMessage extends CallMessage {
	readonly status?: number;
	readonly failure?: string;
}
export interface RetryMessage extends CallMessage {
	readonly attempt: number;
	readonly delayMs: number;
	readonly after: number | string;
}
export interface WithheldMessage extends CallMessage {
	readonly reason: string;
}
export interface PacingMessage extends CallMessage {
	readonly waitMs: number;
	readonly refused: boolean;
}
export interface CallEndMessage extends CallMessage {
	readonly ok: boolean;
	readonly status?: number;
	readonly error?: string;
	readonly stopReason?: string;
	readonly attempts: number;
}
export interface BreakerMessage {
	readonly origin: string;
	/** The endpoint whose statuses the breaker hears (`GET /v1/items/*`); absent for the origin's connection. */
	readonly endpoint?: string;
	readonly to: string;
}
