import {
	type Attributes,
	type Context,
	context,
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
	type AttemptPlace,
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
import { readOptions } from '../../options/read.ts';
import { checkOptionsObject } from '../../options/request-rules.ts';
import { checkCount, checkFlag, checkOptionNames, rejectOption } from '../../options/rules.ts';
import { conventionalUrl, methodAttributes, methodOf, Servers, spanNameOf } from './conventions.ts';
import { reportOnce } from './failures.ts';
import { breakerStates, createInstruments } from './metrics.ts';
import { type AttemptContext, attemptKey } from './request-attributes.ts';

/*
The `steadfetch/otel` subpath: OpenTelemetry spans and metrics built from steadfetch's diagnostics channels, as the
HTTP semantic conventions describe a client (conventions.ts). A span per logical call (INTERNAL), a CLIENT span per
request sent under it, run as the active context while the request is sent, so that the undici instrumentation's spans
nest in it. Only the channels' messages are read: URLs come redacted with every credential the call sent, and no header
is ever looked at. The main entry never imports this file: @opentelemetry/api stays an optional peer.
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
	A CLIENT span per request sent, under the call's span. Turn it off when the undici instrumentation already makes a
	CLIENT span per request: its spans then nest directly in the call's span.
	@default true
	*/
	readonly attemptSpans?: boolean | undefined;
	/**
	How many servers metrics name in `server.address` (with `server.port`): the first this many origins the process
	calls keep their names until `disable()`, and every later one is `_OTHER`. Each name is a series of every metric,
	times methods, statuses and error types: a crawler's or a webhook sender's endless hosts would grow the SDK's memory
	and the backend's bill without bound. Spans always name their server. `0` names none.
	@default 64
	*/
	readonly maxServerAddresses?: number | undefined;
}

/** What `instrument` returns: a way to stop. */
export interface Instrumentation {
	/** Stop: no span, event or metric more. Spans of calls still in flight are not ended, so not exported. */
	disable(): void;
}

const optionNames: readonly string[] = ['tracerProvider', 'meterProvider', 'attemptSpans', 'maxServerAddresses'];
const defaultMaxServerAddresses = 64;

/** What a call's spans and metrics say of its method and server, worked out once per method and origin. */
interface Target {
	/** `http.request.method` (and `_original`), `server.address`, `server.port`: every span of the call. */
	readonly span: Attributes;
	/** `http.request.method` and the bounded `server.address` and `server.port`: every metric point of the call. */
	readonly metric: Attributes;
	readonly spanName: string;
}

interface CallState extends AttemptContext {
	readonly span: Span;
	/**
	The context the call was made in, with the call's span and this state (for requestAttributes): its attempts' parent,
	and their requests' context without attempt spans.
	*/
	parent: Context;
	readonly target: Target;
	readonly start: number;
	/** Requests sent so far: the attempts that started, less those the fetch refused before sending. */
	sent: number;
	/** Attempts the fetch refused before sending (`sent: false`): no request, so no count and no span. */
	unsent: number;
	attempt: Span | undefined;
	/** The resends before the request being sent (requestAttributes). */
	resends: number;
	place: AttemptPlace | undefined;
}

// `GET /v1/items/*` as `http.request.method` and `http.route`; none for the breaker of an origin's connection.
const routeOf = (endpoint: string | undefined): Attributes => {
	if (endpoint === undefined) {
		return {};
	}
	const space = endpoint.indexOf(' ');
	return { 'http.request.method': methodOf(endpoint.slice(0, space)), 'http.route': endpoint.slice(space + 1) };
};

// The error type of an attempt from a copy of steadfetch that publishes none (one process may hold two copies).
const attemptErrorType = (end: AttemptEndMessage): string | undefined =>
	end.errorType ??
	(end.status !== undefined ? (end.status >= 400 ? String(end.status) : undefined) : end.failure === undefined ? 'aborted' : end.failure);

// The options, checked as createClient checks its own: a TypeError naming the option and the value received.
interface Checked {
	readonly tracerProvider: TracerProvider | undefined;
	readonly meterProvider: MeterProvider | undefined;
	readonly attemptSpans: boolean;
	readonly maxServerAddresses: number;
}
const checkOptions = (given: InstrumentOptions): Checked => {
	checkOptionsObject(given);
	// Read once: a getter that throws is named like any bad option, and the value checked is the value used.
	const input = readOptions(given);
	checkOptionNames('instrument', input as Record<string, unknown>, optionNames);
	const { tracerProvider, meterProvider } = input as Record<string, unknown>;
	if (tracerProvider !== undefined && typeof (tracerProvider as { getTracer?: unknown } | null)?.getTracer !== 'function') {
		rejectOption('tracerProvider', 'a TracerProvider (an object with getTracer())', tracerProvider);
	}
	if (meterProvider !== undefined && typeof (meterProvider as { getMeter?: unknown } | null)?.getMeter !== 'function') {
		rejectOption('meterProvider', 'a MeterProvider (an object with getMeter())', meterProvider);
	}
	return {
		tracerProvider: tracerProvider as TracerProvider | undefined,
		meterProvider: meterProvider as MeterProvider | undefined,
		attemptSpans: checkFlag('attemptSpans', input.attemptSpans, true),
		maxServerAddresses: checkCount('maxServerAddresses', input.maxServerAddresses, defaultMaxServerAddresses, 0),
	};
};

/**
Turn steadfetch's diagnostics channels into OpenTelemetry spans and metrics, for every client, drop-in fetch and job in
the process, until `disable()`. Needs `@opentelemetry/api` (an optional peer) and an SDK; for spans nested across
`await`, a context manager (`@opentelemetry/context-async-hooks`, which the Node SDK registers).

Spans, as the HTTP semantic conventions describe a client: one INTERNAL span per call, named `steadfetch {method}`;
under it one CLIENT span per request sent, named `{method}` (`HTTP` for a method the conventions do not know, with
`http.request.method` `_OTHER`), with `http.request.resend_count` on resends. `error.type` comes from a closed set: the
status, or `timeout`, `network`, `circuit-open`, `rate-limited`, `aborted`, `_OTHER`. Metrics: `steadfetch.attempts`,
`steadfetch.retries`, `steadfetch.withheld_retries`, `steadfetch.call.duration` (s), `steadfetch.pacing.waits`,
`steadfetch.breaker.status`, `steadfetch.breaker.transitions`, with few values per attribute (no URL, a bounded
`server.address`). docs/observing.md lists their attributes. No attribute holds a secret: URLs are redacted as the
call's error redacts them, and no header is read. Telemetry never breaks a call: a tracer, meter or exporter that
throws is reported once through OpenTelemetry's `diag` logger. One instrumentation at a time: a second `instrument()`
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
	const { tracerProvider, meterProvider, attemptSpans, maxServerAddresses } = checkOptions(options);
	const builtin = diagnosticsChannel;
	if (!builtin) {
		throw new Error('steadfetch/otel needs node:diagnostics_channel (Node, Deno or Bun).');
	}
	if (tracing.around) {
		throw new Error('steadfetch/otel is on already: disable() the first instrument() before another.');
	}
	const tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer('steadfetch');
	const meter = (meterProvider ?? metrics.getMeterProvider()).getMeter('steadfetch');
	const { attempts, retries, withheld, duration, pacing, transitions, breakerGauge } = createInstruments(meter);
	const failed = reportOnce('a span or metric of steadfetch/otel');

	// Keyed by the call's own object and deleted at its end: a call that never tells its end is forgotten with it.
	const calls = new WeakMap<CallRef, CallState>();
	// As many breakers as a client keeps for origins: a crawler's endless origins must not grow the gauge without bound.
	const breakers = new Lru<string, { readonly origin: string; readonly route: Attributes; state: string }>(maxOrigins);
	const servers = new Servers(maxServerAddresses, maxOrigins);
	// Every call's method and origin, as attributes, for the last ones: built once, not per call.
	const targets = new Lru<string, Target>(maxOrigins);
	const targetOf = (method: string, origin: string): Target => {
		const key = `${method} ${origin}`;
		let target = targets.get(key);
		if (!target) {
			target = {
				span: Object.freeze({ ...methodAttributes(method), ...servers.of(origin) }),
				metric: Object.freeze({ 'http.request.method': methodOf(method), ...servers.metric(origin) }),
				spanName: spanNameOf(method),
			};
			targets.set(key, target);
		}
		return target;
	};

	const open = (message: CallMessage): CallState => {
		const target = targetOf(message.method, message.origin);
		const active = context.active();
		const span = tracer.startSpan(
			`steadfetch ${target.spanName}`,
			{ kind: SpanKind.INTERNAL, attributes: { ...target.span, 'url.full': conventionalUrl(message.url) } },
			active,
		);
		const state: CallState = {
			span,
			parent: active,
			target,
			start: performance.now(),
			sent: 0,
			unsent: 0,
			attempt: undefined,
			resends: 0,
			place: undefined,
		};
		// One context per call, which its requests run in: the call's state rides in it for requestAttributes (a WeakMap
		// beside the spans, never deleted from, costs more: every entry waits for a GC to sweep it).
		state.parent = trace.setSpan(active, span).setValue(attemptKey, state);
		calls.set(message.call, state);
		return state;
	};

	const listeners: Record<keyof typeof channelNames, (message: unknown) => void> = {
		callStart: (message) => {
			open(message as CallMessage);
		},
		attemptStart: (message) => {
			const start = message as CallMessage;
			// A subscriber that came mid-call hears of the call first here: the call opens then.
			const state = calls.get(start.call) ?? open(start);
			const resends = state.sent++;
			if (attemptSpans) {
				const { target } = state;
				// The conventions set the resend count on resends only: a first request has none.
				const attributes: Attributes = { ...target.span, 'url.full': conventionalUrl(start.url) };
				if (resends > 0) {
					attributes['http.request.resend_count'] = resends;
				}
				state.attempt = tracer.startSpan(target.spanName, { kind: SpanKind.CLIENT, attributes }, state.parent);
			}
		},
		attemptEnd: (message) => {
			const end = message as AttemptEndMessage;
			const state = calls.get(end.call);
			if (!state) {
				return;
			}
			const span = state.attempt;
			state.attempt = undefined;
			if (end.sent === false) {
				// The fetch refused the request before sending it (a URL with credentials, a bad header): no request went
				// out, so none is counted and no CLIENT span is due. Its span is left unended, which no SDK exports.
				state.sent--;
				state.unsent++;
				return;
			}
			const errorType = attemptErrorType(end);
			const outcome: Attributes = { ...state.target.metric };
			if (end.status !== undefined) {
				outcome['http.response.status_code'] = end.status;
			}
			if (errorType !== undefined) {
				outcome['error.type'] = errorType;
			}
			attempts.add(1, outcome);
			if (span) {
				if (end.status !== undefined) {
					span.setAttribute('http.response.status_code', end.status);
				}
				if (errorType !== undefined) {
					span.setAttribute('error.type', errorType);
					span.setStatus({ code: SpanStatusCode.ERROR });
				}
				span.end();
			}
		},
		// A subscriber that came mid-call hears of the call first here, or at its next attempt: the call opens then.
		retry: (message) => {
			const retry = message as RetryMessage;
			const state = calls.get(retry.call) ?? open(retry);
			const after = String(retry.after);
			retries.add(1, { ...state.target.metric, 'error.type': after });
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
			withheld.add(1, { ...state.target.metric, ...reason });
			state.span.addEvent('steadfetch.retry.withheld', reason);
		},
		pacing: (message) => {
			const wait = message as PacingMessage;
			const state = calls.get(wait.call) ?? open(wait);
			pacing.add(1, { ...state.target.metric, 'steadfetch.pacing.refused': wait.refused });
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
			const errorType = end.ok ? undefined : (end.errorType ?? (end.status === undefined ? '_OTHER' : String(end.status)));
			// What the end adds, set on the span alone (the method and server are on it since its start), then on the metric.
			const added: Attributes = {};
			if (end.status !== undefined) {
				added['http.response.status_code'] = end.status;
			}
			if (errorType !== undefined) {
				added['error.type'] = errorType;
			}
			if (end.stopReason !== undefined) {
				added['steadfetch.stop_reason'] = end.stopReason;
			}
			// The engine's count less the requests the fetch refused: the requests this call sent.
			span.setAttributes({ ...added, 'steadfetch.call.attempt_count': Math.max(0, end.attempts - state.unsent) });
			if (errorType !== undefined) {
				// The class of a steadfetch error as the message; never the name of something else that was thrown.
				const named = errorType !== '_OTHER' && errorType !== 'aborted' && end.error !== undefined;
				span.setStatus({ code: SpanStatusCode.ERROR, ...(named ? { message: end.error } : {}) });
			}
			span.end();
			duration.record((performance.now() - state.start) / 1000, { ...state.target.metric, ...added });
		},
		breaker: (message) => {
			const { origin, endpoint, to } = message as BreakerMessage;
			// An endpoint's breaker (its statuses) is told apart from the origin's (its connection) by `http.route`: the
			// path as a template, a segment that names one thing as `*`, so the values stay few.
			const route = routeOf(endpoint);
			breakers.set(`${origin} ${endpoint ?? ''}`, { origin, route, state: to });
			transitions.add(1, { ...servers.metric(origin), ...route, 'steadfetch.breaker.state': to });
		},
	};
	const observeBreakers = (result: ObservableResult): void => {
		try {
			for (const [, { origin, route, state: current }] of breakers) {
				const server = servers.metric(origin);
				for (const state of breakerStates) {
					result.observe(state === current ? 1 : 0, { ...server, ...route, 'steadfetch.breaker.state': state });
				}
			}
		} catch (error) {
			failed(error);
		}
	};

	// Each listener catches its own failures: a subscriber's exception would otherwise reach the engine's publish.
	const subscribed = Object.entries(listeners).map(([key, listener]) => {
		const guarded = (message: unknown): void => {
			try {
				listener(message);
			} catch (error) {
				failed(error);
			}
		};
		return [channelNames[key as keyof typeof channelNames], guarded] as const;
	});
	for (const [name, listener] of subscribed) {
		builtin.subscribe(name, listener);
	}
	breakerGauge.addCallback(observeBreakers);
	// The attempt's request runs with the attempt's span active (or the call's, without attempt spans), its resend count
	// and its call's secrets at hand for the spans the request starts (requestAttributes).
	const around = <T>(call: CallRef, send: () => T, place?: AttemptPlace): T => {
		const state = calls.get(call);
		if (!state) {
			return send();
		}
		let active: Context;
		try {
			state.resends = Math.max(0, state.sent - 1);
			state.place = place;
			active = state.attempt ? trace.setSpan(state.parent, state.attempt) : state.parent;
		} catch (error) {
			failed(error);
			return send();
		}
		// A context manager that throws before it runs `send` must not stop the request; one thrown by `send` is the call's.
		let sending = false;
		try {
			return context.with(active, () => {
				sending = true;
				return send();
			});
		} catch (error) {
			if (sending) {
				throw error;
			}
			failed(error);
			return send();
		}
	};
	tracing.around = around;

	return {
		disable: () => {
			for (const [name, listener] of subscribed) {
				builtin.unsubscribe(name, listener);
			}
			breakerGauge.removeCallback(observeBreakers);
			if (tracing.around === around) {
				tracing.around = undefined;
			}
		},
	};
}
