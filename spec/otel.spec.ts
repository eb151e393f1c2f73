import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
	type Counter,
	context,
	type DiagLogger,
	DiagLogLevel,
	diag,
	type Meter,
	type MeterProvider as MeterProviderApi,
	SpanKind,
	SpanStatusCode,
	type Tracer,
	type TracerProvider as TracerProviderApi,
	trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { type Instrumentation, type InstrumentOptions, instrument, requestAttributes } from '../src/adapters/otel/index.ts';
import { channelNames, tracing } from '../src/engine/diagnostics.ts';
import { createClient, createFetch, isRefusal } from '../src/index.ts';
import { startLoopback, withLoopback } from './support/loopback.ts';
import { assertNoSecret, formsOf } from './support/renderings.ts';
import { origin, serve, times } from './support/server.ts';

// The real SDK, in memory: spans as they end, metrics when the spec asks (cumulative, never on a timer).
interface Telemetry {
	readonly spans: () => ReadableSpan[];
	readonly points: (name: string) => Promise<{ attributes: Record<string, unknown>; value: unknown }[]>;
	/** Every metric recorded so far, with the attribute keys of its points. */
	readonly metrics: () => Promise<{ name: string; attributes: string[] }[]>;
	readonly telemetry: Instrumentation;
	/** The provider the spans go to: an application's own spans, for a parent. */
	readonly tracerProvider: TracerProvider;
	readonly shutdown: () => Promise<void>;
}

function observe(options: InstrumentOptions = {}): Telemetry {
	const exporter = new InMemorySpanExporter();
	const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
	const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
	const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 2 ** 31 - 1 });
	const meterProvider = new MeterProvider({ readers: [reader] });
	const telemetry = instrument({ tracerProvider, meterProvider, ...options });
	return {
		spans: () => exporter.getFinishedSpans(),
		points: async (name) => {
			await reader.forceFlush();
			const metric = metricExporter
				.getMetrics()
				.at(-1)
				?.scopeMetrics.flatMap((scope) => scope.metrics)
				.find((candidate) => candidate.descriptor.name === name);
			return (metric?.dataPoints ?? []).map(({ attributes, value }) => ({ attributes, value }));
		},
		metrics: async () => {
			await reader.forceFlush();
			return (
				metricExporter
					.getMetrics()
					.at(-1)
					?.scopeMetrics.flatMap((scope) => scope.metrics) ?? []
			).map(({ descriptor, dataPoints }) => ({
				name: descriptor.name,
				attributes: dataPoints.flatMap(({ attributes }) => Object.keys(attributes)),
			}));
		},
		telemetry,
		tracerProvider,
		shutdown: async () => {
			telemetry.disable();
			await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
		},
	};
}

const fast = { baseDelayMs: 1, maxDelayMs: 5 };
const callSpans = (spans: ReadableSpan[]) => spans.filter((span) => span.kind === SpanKind.INTERNAL);
const attemptSpans = (spans: ReadableSpan[]) => spans.filter((span) => span.kind === SpanKind.CLIENT);
const resendCount = (span: ReadableSpan) => span.attributes['http.request.resend_count'] ?? 0;

describe('steadfetch/otel: spans and metrics from the diagnostics channels, with the real SDK', () => {
	let current: Telemetry | undefined;
	const manager = new AsyncLocalStorageContextManager();
	before(() => {
		context.setGlobalContextManager(manager.enable());
	});
	after(() => {
		context.disable();
	});
	afterEach(async () => {
		await current?.shutdown();
		current = undefined;
	});
	const start = (options?: InstrumentOptions): Telemetry => {
		current = observe(options);
		return current;
	};

	describe('a span per call, a child span per attempt', () => {
		for (const surface of ['client', 'fetch'] as const) {
			it(`gives a call that recovers from two 500s one parent and three children, resend counts 0, 1, 2 (${surface})`, async () => {
				const { spans } = start();
				const seen = serve('GET', '/v1/items', [{ status: 500 }, { status: 500 }, { status: 200, body: {} }]);
				const url = `${origin}/v1/items`;
				await (surface === 'client' ? createClient({ retry: fast }).get(url).json() : createFetch({ retry: fast })(url));
				const [call, ...rest] = callSpans(spans());
				assert.ok(call);
				assert.equal(rest.length, 0);
				assert.equal(call.name, 'steadfetch GET');
				assert.deepEqual(call.status, { code: SpanStatusCode.UNSET });
				assert.deepEqual(call.attributes, {
					'http.request.method': 'GET',
					'server.address': 'api.example.test',
					'server.port': 443,
					'url.full': url,
					'http.response.status_code': 200,
					'steadfetch.call.attempt_count': 3,
				});
				assert.deepEqual(
					call.events.map(({ name, attributes }) => [name, attributes?.['steadfetch.retry.attempt'], attributes?.['error.type']]),
					[
						['steadfetch.retry.scheduled', 2, '500'],
						['steadfetch.retry.scheduled', 3, '500'],
					],
				);
				const attempts = attemptSpans(spans());
				assert.equal(attempts.length, 3);
				assert.ok(attempts.every((span) => span.parentSpanContext?.spanId === call.spanContext().spanId));
				assert.ok(attempts.every((span) => span.spanContext().traceId === call.spanContext().traceId));
				assert.deepEqual(
					attempts.map((span) => [
						span.name,
						resendCount(span),
						span.attributes['http.response.status_code'],
						span.attributes['error.type'],
						span.status.code,
					]),
					[
						['GET', 0, 500, '500', SpanStatusCode.ERROR],
						['GET', 1, 500, '500', SpanStatusCode.ERROR],
						['GET', 2, 200, undefined, SpanStatusCode.UNSET],
					],
				);
				assert.equal('http.request.resend_count' in (attempts[0]?.attributes ?? {}), false, 'set on resends only');
				assert.equal(seen.count, 3);
			});
		}

		it("runs each attempt's request in its span's context: spans the request starts (undici's) are its children", async () => {
			const { spans } = start();
			const seen = serve('GET', '/x', [{ status: 503 }, { status: 200, body: {} }]);
			const active: (string | undefined)[] = [];
			const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
				active.push(trace.getActiveSpan()?.spanContext().spanId);
				return globalThis.fetch(input, init);
			};
			await createClient({ retry: fast, fetch }).get(`${origin}/x`).json();
			assert.deepEqual(
				active,
				attemptSpans(spans()).map((span) => span.spanContext().spanId),
			);
			assert.equal(seen.count, 2);
		});

		it("nests the call's span in the caller's active span, and the requests in the call's span without attempt spans", async () => {
			const { spans, tracerProvider } = start({ attemptSpans: false });
			const seen = serve('GET', '/x', [{ status: 503 }, { status: 200, body: {} }]);
			const active: (string | undefined)[] = [];
			const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
				active.push(trace.getActiveSpan()?.spanContext().spanId);
				return globalThis.fetch(input, init);
			};
			const outer = tracerProvider.getTracer('app').startSpan('handler');
			await context.with(trace.setSpan(context.active(), outer), () => createFetch({ retry: fast, fetch })(`${origin}/x`));
			outer.end();
			const [call, ...others] = callSpans(spans()).filter((span) => span.name !== 'handler');
			assert.equal(others.length, 0);
			assert.equal(attemptSpans(spans()).length, 0);
			assert.equal(call?.parentSpanContext?.spanId, outer.spanContext().spanId);
			assert.deepEqual(active, [call?.spanContext().spanId, call?.spanContext().spanId]);
			assert.equal(seen.count, 2);
		});
	});

	describe("with the undici instrumentation (Node's fetch, on a real server)", () => {
		const recover = async (tracerProvider: TracerProvider): Promise<number> => {
			// Enabled as it is made, on the global provider until told this one (with `enabled: false` it skips every request).
			const undici = new UndiciInstrumentation({ startSpanHook: requestAttributes });
			undici.setTracerProvider(tracerProvider);
			const server = await startLoopback([{ status: 500 }, { status: 502 }, { status: 200, body: '{}' }]);
			try {
				await createClient({ retry: fast }).get(`${server.url}/x`).json();
				return server.count;
			} finally {
				undici.disable();
				await server.close();
			}
		};
		const undiciSpans = (spans: ReadableSpan[]) => attemptSpans(spans).filter((span) => span.instrumentationScope.name.includes('undici'));

		it("nests each of undici's spans in steadfetch's attempt span", async () => {
			const { spans, tracerProvider } = start();
			assert.equal(await recover(tracerProvider), 3);
			const ours = attemptSpans(spans()).filter((span) => span.instrumentationScope.name === 'steadfetch');
			const theirs = undiciSpans(spans());
			assert.equal(theirs.length, 3);
			assert.deepEqual(
				theirs.map((span) => span.parentSpanContext?.spanId),
				ours.map((span) => span.spanContext().spanId),
			);
		});

		it("makes undici's spans the children of the call's span without attempt spans, with resend counts 0, 1, 2", async () => {
			const { spans, tracerProvider } = start({ attemptSpans: false });
			assert.equal(await recover(tracerProvider), 3);
			const [call] = callSpans(spans());
			const theirs = undiciSpans(spans());
			assert.equal(attemptSpans(spans()).length, 3, "only undici's");
			assert.ok(theirs.every((span) => span.parentSpanContext?.spanId === call?.spanContext().spanId));
			assert.deepEqual(
				theirs.map((span) => [resendCount(span), span.attributes['http.response.status_code']]),
				[
					[0, 500],
					[1, 502],
					[2, 200],
				],
			);
		});

		it('adds no attribute outside a call', () => {
			assert.deepEqual(requestAttributes(), {});
		});
	});

	describe('failures and withheld retries', () => {
		it('shows a retry the budget withheld, its reason, and the stop reason and error.type of the failed call', async () => {
			const { spans, points } = start();
			const seen = serve('GET', '/v1/x', times(3, { status: 500 }));
			const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast, budget: { capacity: 1 }, breaker: false });
			await assert.rejects(api.get('x'));
			await assert.rejects(api.get('x'));
			const calls = callSpans(spans());
			assert.deepEqual(
				calls.map((span) => [
					span.attributes['error.type'],
					span.attributes['steadfetch.stop_reason'],
					span.attributes['steadfetch.call.attempt_count'],
					span.status.code,
					span.events.map(({ name, attributes }) => `${name} ${attributes?.['steadfetch.retry.withheld_reason'] ?? ''}`.trim()),
				]),
				[
					['500', 'budget', 2, SpanStatusCode.ERROR, ['steadfetch.retry.scheduled', 'steadfetch.retry.withheld budget']],
					['500', 'budget', 1, SpanStatusCode.ERROR, ['steadfetch.retry.withheld budget']],
				],
			);
			assert.equal(calls[0]?.status.message, 'InternalServerError');
			assert.deepEqual(await points('steadfetch.withheld_retries'), [
				{
					attributes: {
						'http.request.method': 'GET',
						'server.address': 'api.example.test',
						'server.port': 443,
						'steadfetch.retry.withheld_reason': 'budget',
					},
					value: 2,
				},
			]);
			assert.equal(seen.count, 3);
		});

		it('shows a retry the breaker withheld, the breaker open for its origin, and a call it refused with nothing sent', async () => {
			const { spans, points } = start();
			const seen = serve('GET', '/v1/x', times(2, { status: 502 }));
			const api = createClient({
				baseUrl: `${origin}/v1/`,
				retry: fast,
				budget: false,
				breaker: { failureThreshold: 2, failureWindowMs: 0 },
			});
			await assert.rejects(api.get('x'));
			await assert.rejects(api.get('x'));
			const [first, refused] = callSpans(spans());
			assert.deepEqual(
				first?.events.map(({ attributes }) => attributes?.['steadfetch.retry.withheld_reason']),
				[undefined, 'circuit-open'],
			);
			assert.deepEqual([first?.attributes['error.type'], first?.attributes['steadfetch.stop_reason']], ['502', 'circuit-open']);
			assert.deepEqual(
				[
					refused?.attributes['error.type'],
					refused?.attributes['steadfetch.stop_reason'],
					refused?.attributes['steadfetch.call.attempt_count'],
				],
				['circuit-open', 'circuit-open', 0],
			);
			assert.equal(attemptSpans(spans()).length, 2);
			const state = await points('steadfetch.breaker.status');
			assert.deepEqual(
				state.map(({ attributes, value }) => [attributes['server.address'], attributes['steadfetch.breaker.state'], value]),
				[
					['api.example.test', 'closed', 0],
					['api.example.test', 'open', 1],
					['api.example.test', 'half-open', 0],
				],
			);
			assert.deepEqual(
				(await points('steadfetch.breaker.transitions')).map(({ attributes, value }) => [attributes['steadfetch.breaker.state'], value]),
				[['open', 1]],
			);
			assert.equal(seen.count, 2);
		});

		it('gives a network failure error.type network on the attempt and on the call', async () => {
			const { spans } = start();
			const server = await startLoopback([{ reset: true }]);
			try {
				await assert.rejects(createClient({ retry: 0 }).get(`${server.url}/x`));
				const [attempt] = attemptSpans(spans());
				const [call] = callSpans(spans());
				assert.deepEqual([attempt?.attributes['error.type'], attempt?.status.code], ['network', SpanStatusCode.ERROR]);
				assert.deepEqual(
					[call?.attributes['error.type'], call?.attributes['steadfetch.stop_reason'], call?.attributes['server.address']],
					['network', 'limit', '127.0.0.1'],
				);
				assert.equal(server.count, 1);
			} finally {
				await server.close();
			}
		});

		it('ends the span of a call aborted during its backoff, with error.type aborted', async () => {
			const { spans } = start();
			const seen = serve('GET', '/x', [{ status: 503 }]);
			const controller = new AbortController();
			// Aborted from the first retry event: the call is then about to sleep its backoff.
			const api = createClient({ retry: { ...fast, baseDelayMs: 60_000, maxDelayMs: 60_000 }, onRetry: () => controller.abort() });
			await assert.rejects(api.get(`${origin}/x`, { signal: controller.signal }), { name: 'AbortError' });
			const [call] = callSpans(spans());
			assert.deepEqual([call?.attributes['error.type'], call?.attributes['steadfetch.call.attempt_count']], ['aborted', 1]);
			assert.equal(seen.count, 1);
		});
	});

	describe('rate-limit pacing', () => {
		it("shows a call refused because its origin's rate-limit reset is too far, with nothing sent", async () => {
			const { spans, points } = start();
			const reset = String(Math.ceil(Date.now() / 1000) + 3600);
			const seen = serve('GET', '/x', [{ status: 200, body: {}, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } }]);
			const api = createClient({ retry: fast });
			await api.get(`${origin}/x`).json();
			await assert.rejects(api.get(`${origin}/x`), { status: 429 });
			const [, refused] = callSpans(spans());
			assert.deepEqual(
				refused?.events.map(({ name, attributes }) => [name, attributes?.['steadfetch.pacing.refused']]),
				[['steadfetch.pacing.wait', true]],
			);
			// Nothing was sent: the 429 the error stands for is no server's, so the span says who refused, and has no status.
			assert.deepEqual(
				[
					refused?.attributes['error.type'],
					refused?.attributes['steadfetch.stop_reason'],
					refused?.attributes['steadfetch.call.attempt_count'],
					refused?.attributes['http.response.status_code'],
				],
				['rate-limited', 'rate-limited', 0, undefined],
			);
			assert.deepEqual(
				(await points('steadfetch.pacing.waits')).map(({ attributes, value }) => [attributes['steadfetch.pacing.refused'], value]),
				[[true, 1]],
			);
			assert.equal(seen.count, 1);
		});
	});

	describe('never holds a secret', () => {
		it('keeps an API key in the query and credentials in the URL out of every span, event and metric', async () => {
			const { spans, points } = start();
			const seen = serve('GET', '/v1/x?api_key=SECRET123456', [{ status: 500 }, { status: 200, body: {} }]);
			await createClient({ retry: fast }).get(`${origin}/v1/x?api_key=SECRET123456`).json();
			// fetch refuses a URL with credentials: the call ends before anything is sent, and is traced all the same.
			await assert.rejects(createFetch()('https://user:PA55WORD99@api.example.test/v1/x'));
			const everything = JSON.stringify([
				spans().map(({ name, attributes, events }) => ({ name, attributes, events })),
				await Promise.all(['steadfetch.attempts', 'steadfetch.retries', 'steadfetch.call.duration'].map((name) => points(name))),
			]);
			assert.equal(callSpans(spans()).length, 2);
			assert.match(everything, /api_key=REDACTED/);
			assert.match(everything, /https:\/\/REDACTED:REDACTED@api\.example\.test\/v1\/x/);
			assert.doesNotMatch(everything, /SECRET123456|PA55WORD99/);
			assert.equal(seen.count, 2);
		});
	});

	describe('metrics', () => {
		it('counts attempts by outcome and retries by what failed, and times each call in seconds', async () => {
			const { points } = start();
			const seen = serve('GET', '/v1/items', [{ status: 500 }, { status: 503 }, { status: 200, body: {} }, { status: 404 }]);
			const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast });
			await api.get('items').json();
			await assert.rejects(api.get('items'));
			const server = { 'http.request.method': 'GET', 'server.address': 'api.example.test', 'server.port': 443 };
			assert.deepEqual(await points('steadfetch.attempts'), [
				{ attributes: { ...server, 'http.response.status_code': 500, 'error.type': '500' }, value: 1 },
				{ attributes: { ...server, 'http.response.status_code': 503, 'error.type': '503' }, value: 1 },
				{ attributes: { ...server, 'http.response.status_code': 200 }, value: 1 },
				{ attributes: { ...server, 'http.response.status_code': 404, 'error.type': '404' }, value: 1 },
			]);
			assert.deepEqual(await points('steadfetch.retries'), [
				{ attributes: { ...server, 'error.type': '500' }, value: 1 },
				{ attributes: { ...server, 'error.type': '503' }, value: 1 },
			]);
			const durations = await points('steadfetch.call.duration');
			assert.deepEqual(
				durations.map(({ attributes, value }) => [attributes, (value as { count: number }).count]),
				[
					[{ ...server, 'http.response.status_code': 200 }, 1],
					[{ ...server, 'http.response.status_code': 404, 'error.type': '404' }, 1],
				],
			);
			assert.equal(seen.count, 4);
		});
	});

	describe('names', () => {
		// The semantic conventions' naming rules: metrics, attributes and events share one space of names, and a name is
		// never also a namespace (`steadfetch.retries` a metric beside `steadfetch.retries.withheld`).
		it('gives no metric, attribute and event the same name, and uses no name as the namespace of another', async () => {
			const { spans, metrics } = start();
			const failing = serve('GET', '/v1/x', times(2, { status: 502 }));
			const reset = String(Math.ceil(Date.now() / 1000) + 3600);
			const paced = serve('GET', '/y', [{ status: 200, body: {}, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } }]);
			// A retry, a retry withheld by the breaker as it opens; then a call paced away by a far rate-limit reset.
			const breaking = createClient({ baseUrl: `${origin}/v1/`, retry: fast, breaker: { failureThreshold: 2, failureWindowMs: 0 } });
			await assert.rejects(breaking.get('x'));
			const pacing = createClient({ retry: fast });
			await pacing.get(`${origin}/y`).json();
			await assert.rejects(pacing.get(`${origin}/y`), { status: 429 });

			const recorded = await metrics();
			const kinds = {
				metric: new Set(recorded.map(({ name }) => name)),
				attribute: new Set([
					...recorded.flatMap(({ attributes }) => attributes),
					...spans().flatMap(({ attributes, events }) => [
						...Object.keys(attributes),
						...events.flatMap((event) => Object.keys(event.attributes ?? {})),
					]),
				]),
				event: new Set(spans().flatMap(({ events }) => events.map(({ name }) => name))),
			};
			assert.deepEqual([...kinds.metric].sort(), [
				'steadfetch.attempts',
				'steadfetch.breaker.status',
				'steadfetch.breaker.transitions',
				'steadfetch.call.duration',
				'steadfetch.pacing.waits',
				'steadfetch.retries',
				'steadfetch.withheld_retries',
			]);
			assert.deepEqual([...kinds.event].sort(), ['steadfetch.pacing.wait', 'steadfetch.retry.scheduled', 'steadfetch.retry.withheld']);
			const entries = Object.entries(kinds).flatMap(([kind, names]) => [...names].map((name) => [kind, name] as const));
			const clashes = entries.flatMap(([kind, name]) =>
				entries
					.filter(([other, candidate]) => (candidate === name && other !== kind) || candidate.startsWith(`${name}.`))
					.map(([other, candidate]) => `${kind} ${name} / ${other} ${candidate}`),
			);
			assert.deepEqual(clashes, []);
			assert.deepEqual([failing.count, paced.count], [2, 1]);
		});
	});

	describe('disable()', () => {
		it('stops every span and metric, and takes the hook off the request path', async () => {
			const { spans, points, telemetry } = start();
			const seen = serve('GET', '/x', [{ status: 500 }, { status: 200, body: {} }, { status: 500 }, { status: 200, body: {} }]);
			const api = createClient({ retry: fast });
			await api.get(`${origin}/x`).json();
			const before = { spans: spans().length, attempts: await points('steadfetch.attempts') };
			telemetry.disable();
			assert.equal(tracing.around, undefined);
			await api.get(`${origin}/x`).json();
			assert.equal(spans().length, before.spans);
			assert.deepEqual(await points('steadfetch.attempts'), before.attempts);
			assert.equal(seen.count, 4);
		});

		it('leaves alone a call already under way when instrument() runs: no span half-told', async () => {
			const seen = serve('GET', '/x', [{ status: 200, body: {} }]);
			let telemetry: Telemetry | undefined;
			const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
				telemetry = start();
				return globalThis.fetch(input, init);
			};
			await createFetch({ fetch })(`${origin}/x`);
			assert.deepEqual(telemetry?.spans(), []);
			assert.deepEqual(await telemetry?.points('steadfetch.attempts'), []);
			assert.equal(seen.count, 1);
		});

		it('allows one instrumentation at a time: a second throws until the first is disabled', () => {
			const { telemetry } = start();
			assert.throws(() => instrument(), /on already/);
			telemetry.disable();
			instrument().disable();
		});
	});
	describe('the HTTP semantic conventions', () => {
		it('names a method the conventions do not know _OTHER, its span HTTP, and keeps the original on spans only', async () => {
			const { spans, metrics } = start();
			const seen = serve('PURGE', '/cache', [{ status: 200, body: {} }]);
			await createFetch()(`${origin}/cache`, { method: 'PURGE' });
			const [call] = callSpans(spans());
			const [attempt] = attemptSpans(spans());
			assert.deepEqual(
				[call?.name, call?.attributes['http.request.method'], call?.attributes['http.request.method_original']],
				['steadfetch HTTP', '_OTHER', 'PURGE'],
			);
			assert.deepEqual(
				[attempt?.name, attempt?.attributes['http.request.method'], attempt?.attributes['http.request.method_original']],
				['HTTP', '_OTHER', 'PURGE'],
			);
			const recorded = await metrics();
			assert.ok(recorded.length > 0);
			assert.ok(recorded.every(({ attributes }) => !attributes.includes('http.request.method_original')));
			assert.equal(seen.count, 1);
		});

		it('gives error.type from a closed set, never the name of what was thrown: an abort reason, a hook', async () => {
			const { spans, points } = start();
			const seen = serve('GET', '/x', [{ status: 503 }, { status: 200, body: {} }]);
			// Aborted with a reason of the caller's, named as anything, from the first retry: the call then waits its backoff.
			const controller = new AbortController();
			const cancelled = Object.assign(new Error('cancelled'), { name: 'Cancelled:tenant-4711:tok_abcdef123456' });
			const slow = { ...fast, baseDelayMs: 60_000, maxDelayMs: 60_000 };
			const aborting = createClient({ retry: slow, onRetry: () => controller.abort(cancelled) });
			await assert.rejects(aborting.get(`${origin}/x`, { signal: controller.signal }).json(), cancelled);
			const stop = Object.assign(new Error('stop'), { name: 'Stop http://api.example.test/500?user=42' });
			const hooked = createClient({
				retry: fast,
				hooks: {
					afterResponse: [
						() => {
							throw stop;
						},
					],
				},
			});
			await assert.rejects(hooked.get(`${origin}/x`).json(), stop);
			const calls = callSpans(spans());
			assert.deepEqual(
				calls.map((span) => [span.attributes['error.type'], span.status.code, span.status.message]),
				[
					['aborted', SpanStatusCode.ERROR, undefined],
					['_OTHER', SpanStatusCode.ERROR, undefined],
				],
			);
			const types = (await points('steadfetch.call.duration')).map(({ attributes }) => attributes['error.type']);
			assert.deepEqual(types.sort(), ['_OTHER', 'aborted']);
			assert.equal(seen.count, 2);
		});

		it("gives a caller's AbortSignal.timeout() error.type timeout", async () => {
			const { spans } = start();
			await withLoopback([{ status: 200, body: '{}', delayMs: 2000 }], async (server) => {
				await assert.rejects(createFetch()(`${server.url}/slow`, { signal: AbortSignal.timeout(20) }), { name: 'TimeoutError' });
				assert.deepEqual(
					[...attemptSpans(spans()), ...callSpans(spans())].map((span) => span.attributes['error.type']),
					['timeout', 'timeout'],
				);
				assert.equal(server.count, 1);
			});
		});

		it("gives the drop-in fetch's network failure error.type network, not its TypeError, on every signal", async () => {
			const { spans, points } = start();
			await withLoopback([{ reset: true }], async (server) => {
				await assert.rejects(createFetch({ retry: 0 })(`${server.url}/x`), TypeError);
				assert.deepEqual(
					[...callSpans(spans()), ...attemptSpans(spans())].map((span) => span.attributes['error.type']),
					['network', 'network'],
				);
				const [duration] = await points('steadfetch.call.duration');
				assert.equal(duration?.attributes['error.type'], 'network');
				assert.equal(server.count, 1);
			});
		});

		it('neither counts nor spans a request fetch refused before sending, and calls the call _OTHER (a bug, not an outage)', async () => {
			const { spans, points } = start();
			await assert.rejects(createFetch()('https://user:PA55WORD99@api.example.test/v1/x'), TypeError);
			const [call, ...others] = spans();
			assert.equal(others.length, 0, 'no attempt span');
			assert.deepEqual(
				[call?.name, call?.attributes['error.type'], call?.attributes['steadfetch.call.attempt_count']],
				['steadfetch GET', '_OTHER', 0],
			);
			assert.equal(call?.attributes['url.full'], 'https://REDACTED:REDACTED@api.example.test/v1/x');
			assert.deepEqual(await points('steadfetch.attempts'), []);
		});

		it("ends a success whose body is cut off mid-read as the call's failure, on the span and the duration metric", async () => {
			const { spans, points } = start();
			await withLoopback([{ cut: 200 }], async (server) => {
				await assert.rejects(createClient({ retry: 0 }).get(`${server.url}/x`).json(), { name: 'NetworkError' });
				const [call] = callSpans(spans());
				assert.deepEqual(
					[call?.attributes['error.type'], call?.attributes['http.response.status_code'], call?.status.code, call?.status.message],
					['network', 200, SpanStatusCode.ERROR, 'NetworkError'],
				);
				const durations = await points('steadfetch.call.duration');
				assert.deepEqual(
					durations.map(({ attributes, value }) => [
						attributes['error.type'],
						attributes['http.response.status_code'],
						(value as { count: number }).count,
					]),
					[['network', 200, 1]],
				);
				assert.equal(server.count, 1);
			});
		});

		it('says a refused drop-in fetch call was refused (rate-limited, circuit-open), not a 429 or 503 of the server', async () => {
			const { spans, points } = start();
			const reset = String(Math.ceil(Date.now() / 1000) + 3600);
			const seen = serve('GET', '/r', [{ status: 200, body: {}, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } }]);
			const failing = serve('GET', '/b', times(2, { status: 502 }));
			const paced = createFetch({ retry: fast });
			await paced(`${origin}/r`);
			const refusedByWindow = await paced(`${origin}/r`);
			const breaking = createFetch({ retry: { ...fast, limit: 0 }, breaker: { failureThreshold: 2, failureWindowMs: 0 } });
			await breaking(`${origin}/b`);
			await breaking(`${origin}/b`);
			const refusedByBreaker = await breaking(`${origin}/b`);
			assert.ok(isRefusal(refusedByWindow) && isRefusal(refusedByBreaker));
			const [, refusedCall, , , breakerCall] = callSpans(spans());
			assert.deepEqual(
				[refusedCall, breakerCall].map((span) => [
					span?.attributes['error.type'],
					span?.attributes['http.response.status_code'],
					span?.attributes['steadfetch.call.attempt_count'],
				]),
				[
					['rate-limited', undefined, 0],
					['circuit-open', undefined, 0],
				],
			);
			const types = (await points('steadfetch.call.duration')).map(({ attributes }) => attributes['error.type'] ?? 'ok');
			assert.deepEqual(types.sort(), ['502', 'circuit-open', 'ok', 'rate-limited']);
			assert.equal(attemptSpans(spans()).length, 3);
			assert.deepEqual([seen.count, failing.count], [1, 2]);
		});

		it("gives a call that starts with a rate-limit wait its request's span name and attributes", async () => {
			const { spans, points } = start();
			const seen = serve('GET', '/v1/p', [
				{ status: 200, body: {}, headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '30ms' } },
				{ status: 200, body: {} },
			]);
			const api = createClient({ retry: { ...fast, maxDelayMs: 1000 } });
			await api.get(`${origin}/v1/p`).json();
			await api.get(`${origin}/v1/p`).json();
			const [, paced] = callSpans(spans());
			assert.deepEqual(
				[paced?.name, paced?.attributes['url.full'], paced?.attributes['http.request.method'], paced?.events.map(({ name }) => name)],
				['steadfetch GET', `${origin}/v1/p`, 'GET', ['steadfetch.pacing.wait']],
			);
			const [wait] = await points('steadfetch.pacing.waits');
			assert.deepEqual(wait?.attributes, {
				'http.request.method': 'GET',
				'server.address': 'api.example.test',
				'server.port': 443,
				'steadfetch.pacing.refused': false,
			});
			assert.equal(seen.count, 2);
		});

		it('names the first maxServerAddresses servers on metrics and every later one _OTHER; spans name them all', async () => {
			const { spans, metrics, points } = start({ maxServerAddresses: 2 });
			const servers = await Promise.all([0, 1, 2].map(() => startLoopback([{ status: 200, body: '{}' }])));
			try {
				for (const server of servers) {
					await createFetch()(`${server.url}/x`);
				}
				const ports = servers.map((server) => Number(new URL(server.url).port));
				assert.deepEqual(
					callSpans(spans()).map((span) => span.attributes['server.port']),
					ports,
				);
				assert.deepEqual(
					(await points('steadfetch.attempts')).map(({ attributes }) => [attributes['server.address'], attributes['server.port']]),
					[
						['127.0.0.1', ports[0]],
						['127.0.0.1', ports[1]],
						['_OTHER', undefined],
					],
				);
				// Metrics carry no URL and no original method: attributes with few values only.
				const allowed = new Set([
					'http.request.method',
					'server.address',
					'server.port',
					'http.response.status_code',
					'error.type',
					'steadfetch.stop_reason',
				]);
				assert.deepEqual(
					(await metrics()).flatMap(({ attributes }) => attributes.filter((name) => !allowed.has(name))),
					[],
				);
				assert.deepEqual(
					servers.map((server) => server.count),
					[1, 1, 1],
				);
			} finally {
				await Promise.all(servers.map((server) => server.close()));
			}
		});
	});

	describe('one redaction for every rendering: the error, the channels, our spans, undici spans and metrics', () => {
		// The secret shapes of spec/redact.spec.ts and spec/hostile.spec.ts, sent in headers (per client and per call),
		// as the API key, and in credential parameters; each reappears where no name marks it (a path, `?state=`).
		const bearer = 'tok-Bearer-SECRET-0001';
		const apiKeyHeader = 'key-XApiKey-SECRET-0002';
		const apiKey = 'sk-live-Ech0 K3y/+=';
		const cookie = 'COOKIE-SECRET-0003';
		const password = 'PASSW0RD-SECRET-0004';
		const basic = `Basic ${btoa(`user:${password}`)}`;
		const named = {
			api_key: 'QRY-api_key-0005',
			'X-Amz-Signature': 'QRY-amzsig-0006',
			'X-Amz-Credential': 'QRY-amzcred-0007',
			sig: 'QRY-sig-0008',
			AWSAccessKeyId: 'QRY-awskey-0009',
			Signature: 'QRY-signature-0010',
			'X-Goog-Signature': 'QRY-googsig-0011',
		};
		const matrix = 'MATRIX-SECRET-0012';
		const secrets = [bearer, apiKeyHeader, apiKey, cookie, password, matrix, ...Object.values(named)];
		const query = `${new URLSearchParams(named)}&state=${encodeURIComponent(bearer)}&q=${apiKeyHeader}&c=${cookie}&p=${password}`;
		const path = (base: string) => `${base}/v1/api_keys/${encodeURIComponent(apiKey)}/${bearer};token=${matrix}/x?${query}`;

		for (const withAttempts of [true, false]) {
			it(`masks every secret a call sent wherever it reappears (${withAttempts ? 'attempt spans' : "undici's spans only"})`, async () => {
				const { spans, metrics, tracerProvider } = start({ attemptSpans: withAttempts });
				const undici = new UndiciInstrumentation({ startSpanHook: requestAttributes });
				undici.setTracerProvider(tracerProvider);
				const messages: unknown[] = [];
				const listener = (message: unknown) => messages.push(message);
				for (const name of Object.values(channelNames)) {
					subscribe(name, listener);
				}
				const errors: unknown[] = [];
				try {
					await withLoopback(
						[...times(4, { status: 500, body: 'down' }), { status: 200, body: '{}' }, { status: 200, body: '{}' }, { status: 404 }],
						async (server) => {
							// The API key in a header whose name marks nothing: only the client knows it is a credential.
							const api = createClient({
								apiKey,
								apiKeyHeader: 'X-Tenant',
								headers: { Authorization: `Bearer ${bearer}`, Cookie: `session=${cookie}`, 'Proxy-Authorization': basic },
								retry: { ...fast, limit: 1 },
							});
							errors.push(await api.get(path(server.url), { headers: { 'X-Api-Key': apiKeyHeader } }).catch((error: unknown) => error));
							const fetch = createFetch({ retry: { ...fast, limit: 1 }, throwHttpErrors: true });
							// The drop-in fetch has no API key option: the key travels in a header the caller gives.
							const headers = {
								'X-Auth-Key': apiKey,
								Authorization: `Bearer ${bearer}`,
								'X-Api-Key': apiKeyHeader,
								Cookie: `session=${cookie}`,
								'Proxy-Authorization': basic,
							};
							errors.push(await fetch(path(server.url), { headers }).catch((error: unknown) => error));
							await api.get(path(server.url), { headers: { 'X-Api-Key': apiKeyHeader } }).json();
							await fetch(path(server.url), { headers });
							errors.push(await fetch(path(server.url), { headers }).catch((error: unknown) => error));
							assert.equal(server.count, 7);
							assert.equal(server.headers[0]?.authorization, `Bearer ${bearer}`, 'the secrets were sent');
						},
					);
				} finally {
					undici.disable();
					for (const name of Object.values(channelNames)) {
						unsubscribe(name, listener);
					}
				}
				assert.equal(errors.length, 3);
				for (const error of errors) {
					assertNoSecret(error, secrets);
				}
				const theirs = attemptSpans(spans()).filter((span) => span.instrumentationScope.name.includes('undici'));
				assert.equal(theirs.length, 7);
				for (const span of theirs) {
					assert.match(String(span.attributes['url.full']), /X-Amz-Signature=REDACTED/);
					assert.match(String(span.attributes['url.query']), /^api_key=REDACTED/);
					assert.match(String(span.attributes['url.path']), /\/v1\/api_keys\/REDACTED\/REDACTED;token=REDACTED\/x$/);
				}
				const recorded = {
					messages,
					spans: spans().map(({ name, attributes, events, status }) => ({ name, attributes, events, status })),
					metrics: await metrics(),
				};
				assert.ok(recorded.messages.length > 20 && recorded.spans.length >= 12);
				const text = JSON.stringify(recorded);
				for (const secret of secrets) {
					for (const form of [...formsOf(secret), btoa(`user:${secret}`)]) {
						assert.ok(!text.includes(form), `${secret} shows as ${form}`);
					}
				}
			});
		}

		it('masks the credentials of a request outside any steadfetch call in the undici spans the hook touches', async () => {
			const { spans, tracerProvider } = start();
			const undici = new UndiciInstrumentation({ startSpanHook: requestAttributes });
			undici.setTracerProvider(tracerProvider);
			try {
				await withLoopback([{ status: 200, body: '{}' }], async (server) => {
					await globalThis.fetch(`${server.url}/keys/${bearer}?X-Amz-Signature=QRYSIG123456&page=2`, {
						headers: { Authorization: `Bearer ${bearer}` },
					});
					assert.equal(server.count, 1);
				});
			} finally {
				undici.disable();
			}
			const [span] = spans();
			assert.deepEqual(
				[span?.attributes['url.path'], span?.attributes['url.query']],
				['/keys/REDACTED', 'X-Amz-Signature=REDACTED&page=2'],
			);
			assert.doesNotMatch(JSON.stringify(span?.attributes), /QRYSIG123456|tok-Bearer/);
		});
	});

	describe('never breaks the application', () => {
		// What diag is told, while the spec runs.
		const told = (): { errors: unknown[][]; restore: () => void } => {
			const errors: unknown[][] = [];
			const logger: DiagLogger = {
				error: (...args) => errors.push(args),
				warn: () => undefined,
				info: () => undefined,
				debug: () => undefined,
				verbose: () => undefined,
			};
			diag.setLogger(logger, DiagLogLevel.ERROR);
			return { errors, restore: () => diag.disable() };
		};
		// Uncaught exceptions until the next turn of the event loop (Node rethrows a subscriber's on the next tick).
		const uncaught = async (run: () => Promise<unknown>): Promise<unknown[]> => {
			const seen: unknown[] = [];
			const record = (error: unknown) => seen.push(error);
			const listeners = process.listeners('uncaughtException');
			process.removeAllListeners('uncaughtException');
			process.on('uncaughtException', record);
			try {
				await run();
				await new Promise((resolve) => setImmediate(resolve));
			} finally {
				process.off('uncaughtException', record);
				for (const listener of listeners) {
					process.on('uncaughtException', listener);
				}
			}
			return seen;
		};
		const throwing = (): never => {
			throw new RangeError('telemetry backend down');
		};

		it('keeps a call going when the tracer throws, and tells diag once', async () => {
			const { errors, restore } = told();
			const tracer = { startSpan: throwing, startActiveSpan: throwing } as unknown as Tracer;
			const tracerProvider: TracerProviderApi = { getTracer: () => tracer };
			const telemetry = instrument({ tracerProvider });
			const seen = serve('GET', '/x', [{ status: 500 }, { status: 200, body: {} }, { status: 200, body: {} }]);
			try {
				const thrown = await uncaught(async () => {
					assert.deepEqual(await createClient({ retry: fast }).get(`${origin}/x`).json(), {});
					assert.equal((await createFetch()(`${origin}/x`)).status, 200);
				});
				assert.deepEqual(thrown, []);
				assert.equal(errors.length, 1);
				assert.match(String(errors[0]?.[0]), /steadfetch\/otel/);
				assert.equal(seen.count, 3);
			} finally {
				telemetry.disable();
				restore();
			}
		});

		it('keeps a call going when a counter or histogram throws, and tells diag once', async () => {
			const { errors, restore } = told();
			const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })] });
			const instrument_ = { add: throwing, record: throwing } as unknown as Counter;
			const meter = {
				createCounter: () => instrument_,
				createHistogram: () => instrument_,
				createObservableGauge: () => ({ addCallback: () => undefined, removeCallback: () => undefined }),
			} as unknown as Meter;
			const meterProvider: MeterProviderApi = { getMeter: () => meter };
			const telemetry = instrument({ tracerProvider, meterProvider });
			const seen = serve('GET', '/x', [{ status: 503 }, { status: 200, body: {} }]);
			try {
				const thrown = await uncaught(() => createClient({ retry: fast }).get(`${origin}/x`).json());
				assert.deepEqual(thrown, []);
				assert.equal(errors.length, 1);
				assert.equal(seen.count, 2);
			} finally {
				telemetry.disable();
				restore();
			}
		});
	});

	describe('instrument() checks its options as createClient does', () => {
		for (const [label, options, message] of [
			['a number', 42, /^Expected `options` to be an object, got 42\.$/],
			['a string', 'x', /^Expected `options` to be an object, got "x"\.$/],
			[
				'a typo',
				{ attemptSpan: false },
				/^Unknown option `attemptSpan` for instrument: it takes `tracerProvider`, `meterProvider`, `attemptSpans`, `maxServerAddresses`\.$/,
			],
			['a tracer for a provider', { tracer: trace.getTracer('x') }, /^Unknown option `tracer` for instrument/],
			['a string for a flag', { attemptSpans: 'no' }, /^Expected `attemptSpans` to be a boolean, got "no"\.$/],
			[
				'a provider without getTracer',
				{ tracerProvider: {} },
				/^Expected `tracerProvider` to be a TracerProvider \(an object with getTracer\(\)\), got a object\.$/,
			],
			['a provider without getMeter', { meterProvider: 'global' }, /^Expected `meterProvider` to be a MeterProvider/],
			['a negative count', { maxServerAddresses: -1 }, /^Expected `maxServerAddresses` to be a non-negative integer, got -1\.$/],
		] as const) {
			it(`refuses ${label} with a TypeError naming the option, and stays off`, () => {
				assert.throws(
					() => instrument(options as InstrumentOptions),
					(error: unknown) => error instanceof TypeError && message.test(error.message),
				);
				assert.equal(tracing.around, undefined);
			});
		}

		it('names an option whose getter throws', () => {
			const options = {
				get attemptSpans(): boolean {
					throw new Error('no');
				},
			};
			assert.throws(() => instrument(options), { name: 'TypeError', message: /`attemptSpans` to be readable/ });
		});
	});
});
