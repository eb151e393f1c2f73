import assert from 'node:assert/strict';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { type Instrumentation, type InstrumentOptions, instrument, requestAttributes } from '../src/adapters/otel/index.ts';
import { tracing } from '../src/engine/diagnostics.ts';
import { createClient, createFetch } from '../src/index.ts';
import { startLoopback } from './support/loopback.ts';
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
				['CircuitOpenError', 'circuit-open', 0],
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

		it('gives a network failure error.type on the attempt and the error class on the call', async () => {
			const { spans } = start();
			const server = await startLoopback([{ reset: true }]);
			try {
				await assert.rejects(createClient({ retry: 0 }).get(`${server.url}/x`));
				const [attempt] = attemptSpans(spans());
				const [call] = callSpans(spans());
				assert.deepEqual([attempt?.attributes['error.type'], attempt?.status.code], ['network', SpanStatusCode.ERROR]);
				assert.deepEqual(
					[call?.attributes['error.type'], call?.attributes['steadfetch.stop_reason'], call?.attributes['server.address']],
					['NetworkError', 'limit', '127.0.0.1'],
				);
				assert.equal(server.count, 1);
			} finally {
				await server.close();
			}
		});

		it('ends the span of a call aborted during its backoff, with the abort as error.type', async () => {
			const { spans } = start();
			const seen = serve('GET', '/x', [{ status: 503 }]);
			const controller = new AbortController();
			// Aborted from the first retry event: the call is then about to sleep its backoff.
			const api = createClient({ retry: { ...fast, baseDelayMs: 60_000, maxDelayMs: 60_000 }, onRetry: () => controller.abort() });
			await assert.rejects(api.get(`${origin}/x`, { signal: controller.signal }), { name: 'AbortError' });
			const [call] = callSpans(spans());
			assert.deepEqual([call?.attributes['error.type'], call?.attributes['steadfetch.call.attempt_count']], ['AbortError', 1]);
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
			assert.deepEqual(
				[
					refused?.attributes['error.type'],
					refused?.attributes['steadfetch.stop_reason'],
					refused?.attributes['steadfetch.call.attempt_count'],
				],
				['429', 'rate-limited', 0],
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
			assert.match(everything, /api_key=\*\*\*/);
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
});
