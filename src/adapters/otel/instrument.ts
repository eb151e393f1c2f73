import {
	type Attributes,
	context,
	createContextKey,
	type MeterProvider,
	metrics,
	type ObservableResult,
	type Span,
	SpanKind,
	SpanStatusCode,
	type TracerProvider,
	trace,
} from '@opentelemetry/api';
import {
	type AttemptEndMessage,
	type BreakerMessage,
	type CallEndMessage,
	type CallMessage,
	type CallRef,
	channelNames,
	diagnosticsChannel,
	type PacingMessage,
	type RetryMessage,
	tracing,
	type WithheldMessage,
} from '../../engine/diagnostics.ts';
import { maxOrigins } from '../../engine/guards/domains.ts';
import { Lru } from '../../engine/lru.ts';
import { breakerStates, createInstruments } from './metrics.ts';

/*
The `steadfetch/otel` subpath: OpenTelemetry spans and metrics built from steadfetch's diagnostics channels. A span per
logical call (INTERNAL), a CLIENT span per attempt under it, run as the active context while the attempt's request is
sent, so that the undici instrumentation's spans nest in it. Only the channels' messages are read: URLs come redacted,
and no header is ever looked at. The main entry never imports this file: @opentelemetry/api stays an optional peer.
*/

/** Options of `instrument`. */
export interface InstrumentOptions {
	/**
	Where the spans go.
	@default the global tracer provider (`trace.getTracerProvider()`)
	*/
	readonly tracerProvider?: TracerProvider | undefined;
	/**
	Where the metrics go.
	@default the global meter provider (`metrics.getMeterProvider()`)
	*/
	readonly meterProvider?: MeterProvider | undefined;
	/**
	A CLIENT span per attempt under the call's span. Turn it off when the undici instrumentation already makes a CLIENT
	span per request: its spans then nest directly in the call's span.
	@default true
	*/
	readonly attemptSpans?: boolean | undefined;
}

/** What `instrument` returns: a way to stop. */
export interface Instrumentation {
	/** Stop: no span, event or metric more. Spans of calls still in flight are not ended, so not exported. */
	disable(): void;
}

interface CallState {
	readonly span: Span;
	/** `http.request.method`, `server.address`, `server.port`: what every metric of the call is tagged with. */
	readonly tags: Attributes;
	readonly start: number;
	attempts: number;
	attempt: Span | undefined;
}

// The resends of the call before the request in this context: what `requestAttributes` reads.
const resendKey = createContextKey('steadfetch http.request.resend_count');

const builtin = diagnosticsChannel;

// `server.address` and `server.port` of an origin (the port as the URL implies it: 443 for https). An origin the URL
// parser cannot read (a relative URL outside a browser) has none.
const parseServer = (origin: string): Attributes => {
	if (!URL.canParse(origin)) {
		return {};
	}
	const { hostname, port, protocol } = new URL(origin);
	return Object.freeze({ 'server.address': hostname, 'server.port': port ? Number(port) : protocol === 'https:' ? 443 : 80 });
};

// `GET /v1/items/*` as `http.request.method` and `http.route`; none for the breaker of an origin's connection.
const routeOf = (endpoint: string | undefined): Attributes => {
	if (endpoint === undefined) {
		return {};
	}
	const space = endpoint.indexOf(' ');
	return { 'http.request.method': endpoint.slice(0, space), 'http.route': endpoint.slice(space + 1) };
};

// The semantic conventions' `error.type`: the status as a string when there is one, else the kind of failure.
const errorTypeOf = (status: number | undefined, failure: string | undefined): string | undefined =>
	status !== undefined && status >= 400 ? String(status) : status === undefined ? (failure ?? 'aborted') : undefined;

/**
Turn steadfetch's diagnostics channels into OpenTelemetry spans and metrics, for every client, drop-in fetch and job in
the process, until `disable()`. Needs `@opentelemetry/api` (an optional peer) and an SDK; for spans nested across
`await`, a context manager (`@opentelemetry/context-async-hooks`, which the Node SDK registers).

Spans: one INTERNAL span per call, named `steadfetch {method}`; under it one CLIENT span per attempt, named `{method}`,
with `http.request.resend_count` on resends. Metrics: `steadfetch.attempts`, `steadfetch.retries`,
`steadfetch.withheld_retries`, `steadfetch.call.duration` (s), `steadfetch.pacing.waits`, `steadfetch.breaker.status`,
`steadfetch.breaker.transitions`. docs/observing.md lists their attributes. No attribute holds a secret: URLs are
redacted before they are published, and no header is read. One instrumentation at a time: a second `instrument()`
before `disable()` throws.

@example
```ts
import { instrument } from 'steadfetch/otel';

const telemetry = instrument();
// ... on shutdown
telemetry.disable();
```
*/
export function instrument(options: InstrumentOptions = {}): Instrumentation {
	if (!builtin) {
		throw new Error('steadfetch/otel needs node:diagnostics_channel (Node, Deno or Bun).');
	}
	if (tracing.around) {
		throw new Error('steadfetch/otel is on already: disable() the first instrument() before another.');
	}
	const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer('steadfetch');
	const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('steadfetch');
	const attemptSpans = options.attemptSpans ?? true;

	const { attempts, retries, withheld, duration, pacing, transitions, breakerGauge } = createInstruments(meter);

	// Keyed by the call's own object: a call that never tells its end (an exception of a callback) is forgotten with it.
	const calls = new WeakMap<CallRef, CallState>();
	// As many breakers as a client keeps for origins: a crawler's endless origins must not grow the gauge without bound.
	const breakers = new Lru<string, { readonly origin: string; readonly route: Attributes; state: string }>(maxOrigins);
	// Every call parses its origin else: the last origins' attributes, as many as a client keeps guards for.
	const servers = new Lru<string, Attributes>(maxOrigins);
	const serverOf = (origin: string): Attributes => {
		let server = servers.get(origin);
		if (!server) {
			server = parseServer(origin);
			servers.set(origin, server);
		}
		return server;
	};

	const open = (message: CallMessage): CallState => {
		const tags: Attributes = { 'http.request.method': message.method, ...serverOf(message.origin) };
		const span = tracer.startSpan(
			`steadfetch ${message.method}`,
			{ kind: SpanKind.INTERNAL, attributes: { ...tags, 'url.full': message.url } },
			context.active(),
		);
		const state: CallState = { span, tags, start: performance.now(), attempts: 0, attempt: undefined };
		calls.set(message.call, state);
		return state;
	};

	const listeners: Record<keyof typeof channelNames, (message: unknown) => void> = {
		callStart: (message) => {
			open(message as CallMessage);
		},
		attemptStart: (message) => {
			const start = message as CallMessage;
			// A subscriber that came mid-call, or a retry ky forced after the call's end (ky.retry()): the call opens here.
			const state = calls.get(start.call) ?? open(start);
			const resends = state.attempts++;
			if (attemptSpans) {
				state.attempt = tracer.startSpan(
					start.method,
					{
						kind: SpanKind.CLIENT,
						// The conventions set the resend count on resends only: a first attempt has none.
						attributes: {
							...state.tags,
							'url.full': start.url,
							...(resends > 0 ? { 'http.request.resend_count': resends } : {}),
						},
					},
					trace.setSpan(context.active(), state.span),
				);
			}
		},
		attemptEnd: (message) => {
			const end = message as AttemptEndMessage;
			const state = calls.get(end.call);
			if (!state) {
				return;
			}
			const errorType = errorTypeOf(end.status, end.failure);
			const outcome: Attributes = {
				...state.tags,
				...(end.status === undefined ? {} : { 'http.response.status_code': end.status }),
				...(errorType === undefined ? {} : { 'error.type': errorType }),
			};
			attempts.add(1, outcome);
			const span = state.attempt;
			if (span) {
				span.setAttributes(outcome);
				if (errorType !== undefined) {
					span.setStatus({ code: SpanStatusCode.ERROR });
				}
				span.end();
				state.attempt = undefined;
			}
		},
		// A subscriber that came mid-call hears of the call first here, or at its next attempt: the call opens then.
		retry: (message) => {
			const retry = message as RetryMessage;
			const state = calls.get(retry.call) ?? open(retry);
			const after = String(retry.after);
			retries.add(1, { ...state.tags, 'error.type': after });
			state.span.addEvent('steadfetch.retry.scheduled', {
				'steadfetch.retry.attempt': retry.attempt,
				'steadfetch.retry.delay_ms': retry.delayMs,
				'error.type': after,
			});
		},
		retryWithheld: (message) => {
			const withheldRetry = message as WithheldMessage;
			const state = calls.get(withheldRetry.call) ?? open(withheldRetry);
			const reason = { 'steadfetch.retry.withheld_reason': withheldRetry.reason };
			withheld.add(1, { ...state.tags, ...reason });
			state.span.addEvent('steadfetch.retry.withheld', reason);
		},
		pacing: (message) => {
			const wait = message as PacingMessage;
			const state = calls.get(wait.call) ?? open(wait);
			pacing.add(1, { ...state.tags, 'steadfetch.pacing.refused': wait.refused });
			state.span.addEvent('steadfetch.pacing.wait', {
				'steadfetch.pacing.wait_ms': wait.waitMs,
				'steadfetch.pacing.refused': wait.refused,
			});
		},
		callEnd: (message) => {
			const end = message as CallEndMessage;
			const state = calls.get(end.call);
			if (!state) {
				return;
			}
			calls.delete(end.call);
			const { span } = state;
			// An attempt that told no end of its own ends with its call.
			state.attempt?.end();
			const errorType = end.ok ? undefined : end.status !== undefined ? String(end.status) : (end.error ?? 'Error');
			const tags: Attributes = {
				...state.tags,
				...(end.status === undefined ? {} : { 'http.response.status_code': end.status }),
				...(errorType === undefined ? {} : { 'error.type': errorType }),
				...(end.stopReason === undefined ? {} : { 'steadfetch.stop_reason': end.stopReason }),
			};
			span.setAttributes({ ...tags, 'steadfetch.call.attempt_count': end.attempts });
			if (errorType !== undefined) {
				span.setStatus({ code: SpanStatusCode.ERROR, ...(end.error === undefined ? {} : { message: end.error }) });
			}
			span.end();
			duration.record((performance.now() - state.start) / 1000, tags);
		},
		breaker: (message) => {
			const { origin, endpoint, to } = message as BreakerMessage;
			// An endpoint's breaker (its statuses) is told apart from the origin's (its connection) by `http.route`: the
			// path as a template, a segment that names one thing as `*`, so the values stay few.
			const route = routeOf(endpoint);
			breakers.set(`${origin} ${endpoint ?? ''}`, { origin, route, state: to });
			transitions.add(1, { ...serverOf(origin), ...route, 'steadfetch.breaker.state': to });
		},
	};
	const observeBreakers = (result: ObservableResult): void => {
		for (const [, { origin, route, state: current }] of breakers) {
			const server = serverOf(origin);
			for (const state of breakerStates) {
				result.observe(state === current ? 1 : 0, { ...server, ...route, 'steadfetch.breaker.state': state });
			}
		}
	};

	for (const [key, listener] of Object.entries(listeners)) {
		builtin.subscribe(channelNames[key as keyof typeof channelNames], listener);
	}
	breakerGauge.addCallback(observeBreakers);
	// The attempt's request runs with the attempt's span active (or the call's, without attempt spans), and its resend
	// count at hand for the spans the request starts (requestAttributes).
	const around = <T>(call: CallRef, send: () => T): T => {
		const state = calls.get(call);
		if (!state) {
			return send();
		}
		const active = trace.setSpan(context.active(), state.attempt ?? state.span).setValue(resendKey, state.attempts - 1);
		return context.with(active, send);
	};
	tracing.around = around;

	return {
		disable: () => {
			for (const [key, listener] of Object.entries(listeners)) {
				builtin.unsubscribe(channelNames[key as keyof typeof channelNames], listener);
			}
			breakerGauge.removeCallback(observeBreakers);
			if (tracing.around === around) {
				tracing.around = undefined;
			}
		},
	};
}

/**
What steadfetch knows of the request sent in the active context: `http.request.resend_count` when it is a resend of
its call (1, 2...; the conventions set none on the first request), else nothing. Made for the `startSpanHook` of
`@opentelemetry/instrumentation-undici`, whose CLIENT spans then carry the count, while `instrument()` is on.

@example
```ts
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { instrument, requestAttributes } from 'steadfetch/otel';
new UndiciInstrumentation({ startSpanHook: requestAttributes });
instrument({ attemptSpans: false });
```
*/
export function requestAttributes(): Attributes {
	const resends = context.active().getValue(resendKey);
	return typeof resends === 'number' && resends > 0 ? { 'http.request.resend_count': resends } : {};
}
