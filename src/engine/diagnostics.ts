/*
Every retry visible in production, for free when nobody looks: steadfetch publishes its attempts and decisions on
Node's `diagnostics_channel`, as undici publishes its requests (`undici:request:create`...). The module is fetched
through `process.getBuiltinModule` (Node 22, Deno, Bun), never imported, so a browser bundle loads nothing Node-only;
where it is missing, every channel is undefined and publishing costs one property read.
*/

/** A channel as the runtime makes it: `_subscribers` is Node's own list (Node 15 to 24, Deno and Bun alike), not an API. */
interface RuntimeChannel {
	readonly hasSubscribers: boolean;
	readonly _subscribers?: unknown;
	publish(message: unknown): void;
}

/** The part of Node's `diagnostics_channel` steadfetch uses: undefined where the runtime has none (a browser). */
export interface DiagnosticsChannel {
	channel(name: string): RuntimeChannel;
	subscribe(name: string, listener: (message: unknown, name: string) => void): void;
	unsubscribe(name: string, listener: (message: unknown, name: string) => void): boolean;
}

/** Node's `diagnostics_channel`, looked up once, here, for the engine that publishes and for `steadfetch/otel` that listens. */
export const diagnosticsChannel: DiagnosticsChannel | undefined = (
	globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:diagnostics_channel') as DiagnosticsChannel | undefined;
const builtin = diagnosticsChannel;

// Subscribers whose exception was reported: once each, so that a logger that throws on every message does not flood.
const reported = new WeakSet<object>();

const reportSubscriber = (name: string, subscriber: unknown, error: unknown): void => {
	if ((typeof subscriber !== 'function' && typeof subscriber !== 'object') || subscriber === null || reported.has(subscriber)) {
		return;
	}
	reported.add(subscriber);
	(globalThis as { process?: { emitWarning?: (warning: string, options: object) => void } }).process?.emitWarning?.(
		`A subscriber of ${name} threw (${error instanceof Error ? `${error.name}: ${error.message}` : typeof error}), caught so that the call goes on; its next exceptions are not reported.`,
		{ type: 'SteadfetchWarning', code: 'STEADFETCH_SUBSCRIBER_THREW' },
	);
};

/**
A channel the engine publishes on. Node's own `publish` catches a subscriber's exception and throws it again on the next
tick as an uncaught exception (its docs: "Any errors thrown in the message handler will trigger an 'uncaughtException'"):
a logger's bug would take down a process whose call went fine, through us. So the engine hands each message to the
subscribers itself, as Node's `publish` does (in order, synchronously, the same arguments), each in a `try` of its own,
and reports a subscriber's exception once as a process warning (`STEADFETCH_SUBSCRIBER_THREW`). The list read is Node's
internal `_subscribers`; a runtime without it gets its own `publish`, and its rule.
*/
export class Publisher {
	readonly name: string;
	readonly #channel: RuntimeChannel;

	constructor(channel: RuntimeChannel, name: string) {
		this.#channel = channel;
		this.name = name;
	}

	get hasSubscribers(): boolean {
		return this.#channel.hasSubscribers;
	}

	publish(message: unknown): void {
		const subscribers = this.#channel._subscribers;
		if (!Array.isArray(subscribers)) {
			this.#channel.publish(message);
			return;
		}
		// By index, as Node's loop: a subscriber added while a message is delivered hears it too.
		for (let index = 0; index < subscribers.length; index++) {
			const subscriber: unknown = subscribers[index];
			try {
				(subscriber as (message: unknown, name: string) => void)(message, this.name);
			} catch (error) {
				reportSubscriber(this.name, subscriber, error);
			}
		}
	}
}

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
const publisherOf = (name: string): Publisher | undefined => (builtin ? new Publisher(builtin.channel(name), name) : undefined);
export const channels: { readonly [K in keyof typeof channelNames]: Publisher | undefined } = {
	callStart: publisherOf(channelNames.callStart),
	attemptStart: publisherOf(channelNames.attemptStart),
	attemptEnd: publisherOf(channelNames.attemptEnd),
	retry: publisherOf(channelNames.retry),
	retryWithheld: publisherOf(channelNames.retryWithheld),
	pacing: publisherOf(channelNames.pacing),
	callEnd: publisherOf(channelNames.callEnd),
	breaker: publisherOf(channelNames.breaker),
};

/**
What every message of one call carries as `call`: the same frozen object from the call's start to its end, to key a
map (a `WeakMap` forgets a call nobody ended); `id` is for logs.
*/
export interface CallRef {
	readonly id: number;
}

/** What `steadfetch/otel` may ask of the call an attempt belongs to, beside its messages. */
export interface AttemptPlace {
	/** A URL with the call's secrets masked, as the messages' `url` is: for the spans the request starts (undici's). */
	redactUrl(url: string): string;
}

/**
Runs an attempt's request (`send`) inside whatever a tracer wants around it; must return what `send` returns. `place`
is absent when an older copy of steadfetch sends.
*/
export type AroundAttempt = <T>(call: CallRef, send: () => T, place?: AttemptPlace) => T;

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

/**
What failed, from a closed set, as the semantic conventions' `error.type` wants it: the status as a string (`'503'`), or
the class of failure: `timeout`, `network` (a body cut off while read included), `circuit-open` or `rate-limited` (a
guard refused: nothing was sent), `aborted` (the caller's signal), `_OTHER` (an exception of a hook, a callback or the
fetch itself, such as a URL fetch refuses). Never the name of what was thrown. docs/observing.md lists them.
*/
export type ErrorType = `${number}` | 'timeout' | 'network' | 'circuit-open' | 'rate-limited' | 'aborted' | '_OTHER';

// The messages as the engine publishes them (docs/observing.md): what a subscriber (steadfetch/otel) may read.
export interface CallMessage {
	readonly call: CallRef;
	readonly method: string;
	readonly url: string;
	readonly origin: string;
}
export interface AttemptEndMessage extends CallMessage {
	readonly attempt: number;
	readonly status?: number;
	readonly failure?: string;
	/** What failed; absent on a status below 400. */
	readonly errorType?: ErrorType;
	/** `false` when the fetch threw before sending (a URL or a header it refuses): no request went out. */
	readonly sent?: false;
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
	/** The last response's status: on success, on an HTTP error, and on a success whose body failed while read. */
	readonly status?: number;
	/** What failed, on failure. */
	readonly errorType?: ErrorType;
	/** On failure: the steadfetch error's class name, or the name of what ended the call (secrets masked). */
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
