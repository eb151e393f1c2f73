// `node scripts/otel-outage.ts`: what steadfetch/otel's metrics show of an outage. One client with the default retry
// budget and a breaker, against a loopback API that is healthy, then answers 503 to everything, then recovers; the
// metrics of each phase (deltas of the cumulative sums, the real SDK in memory) as a markdown table, for
// docs/observing.md. Wall-clock: the breaker's open time passes for real (200 ms).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { instrument } from '../src/adapters/otel/index.ts';
import { createClient } from '../src/index.ts';

const callsPerPhase = Number(process.env.OUTAGE_CALLS ?? 1200);
const concurrency = 8;
// Traffic arrives over time, as an API's callers make it: each of the 8 callers makes a call every 5 ms at most.
const spacingMs = 5;
const openMs = 200;

let down = false;
const server = createServer((_request, response) => {
	response.writeHead(down ? 503 : 200, { 'content-type': 'application/json' });
	response.end(down ? '{"error":"unavailable"}' : '{"ok":true}');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;

let spans = 0;
const counting: SpanExporter = {
	export: (batch, done) => {
		spans += batch.length;
		done({ code: 0 });
	},
	shutdown: async () => undefined,
};
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: counting })] });
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 2 ** 31 - 1 });
const meterProvider = new MeterProvider({ readers: [reader] });
const telemetry = instrument({ tracerProvider, meterProvider });

const api = createClient({
	retry: { limit: 2, baseDelayMs: 5, maxDelayMs: 20 },
	breaker: { failureThreshold: 10, failureWindowMs: 300, openMs },
});

type Point = { attributes: Record<string, unknown>; value: unknown };
const snapshot = async (): Promise<Map<string, Point[]>> => {
	await reader.forceFlush();
	const metrics =
		exporter
			.getMetrics()
			.at(-1)
			?.scopeMetrics.flatMap((scope) => scope.metrics) ?? [];
	return new Map(metrics.map((metric) => [metric.descriptor.name, metric.dataPoints as Point[]]));
};
// The sum of a metric's points whose attributes match, as a number (a histogram's count).
const total = (points: Map<string, Point[]>, name: string, match: (attributes: Record<string, unknown>) => boolean = () => true) =>
	(points.get(name) ?? [])
		.filter(({ attributes }) => match(attributes))
		.reduce((sum, { value }) => sum + (typeof value === 'number' ? value : (value as { count: number }).count), 0);
const seconds = (points: Map<string, Point[]>) =>
	(points.get('steadfetch.call.duration') ?? []).reduce((sum, { value }) => sum + (value as { sum: number }).sum, 0);

const rows: string[] = [];
let before = await snapshot();
let spansBefore = 0;
const phase = async (name: string): Promise<void> => {
	let next = 0;
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (next++ < callsPerPhase) {
				await Promise.all([
					api
						.get(url)
						.json()
						.catch(() => undefined),
					new Promise((resolve) => setTimeout(resolve, spacingMs)),
				]);
			}
		}),
	);
	const after = await snapshot();
	const delta = (metric: string, match?: (attributes: Record<string, unknown>) => boolean) =>
		total(after, metric, match) - total(before, metric, match);
	const failed = delta('steadfetch.call.duration', (attributes) => attributes['error.type'] !== undefined);
	// Calls the open breaker refused, nothing sent: `error.type` says who refused, not a status.
	const refused = delta('steadfetch.call.duration', (attributes) => attributes['error.type'] === 'circuit-open');
	const calls = delta('steadfetch.call.duration');
	const open = (after.get('steadfetch.breaker.status') ?? []).find(({ value }) => value === 1)?.attributes['steadfetch.breaker.state'];
	const meanMs = calls > 0 ? ((seconds(after) - seconds(before)) / calls) * 1000 : 0;
	rows.push(
		`| ${name} | ${calls} | ${calls - failed} | ${failed} | ${refused} | ${delta('steadfetch.attempts')} | ${delta('steadfetch.attempts', (attributes) => attributes['error.type'] !== undefined)} | ${delta('steadfetch.retries')} | ${delta('steadfetch.withheld_retries', (attributes) => attributes['steadfetch.retry.withheld_reason'] === 'budget')} | ${delta('steadfetch.withheld_retries', (attributes) => attributes['steadfetch.retry.withheld_reason'] === 'circuit-open')} | ${delta('steadfetch.breaker.transitions', (attributes) => attributes['steadfetch.breaker.state'] === 'open')} | ${open ?? 'closed'} | ${meanMs.toFixed(1)} | ${spans - spansBefore} |`,
	);
	before = after;
	spansBefore = spans;
};

await phase('healthy');
down = true;
await phase('outage (every request 503)');
down = false;
await new Promise((resolve) => setTimeout(resolve, openMs + 50));
await phase('recovered');

console.log(
	`${callsPerPhase} calls per phase, ${concurrency} callers each calling at most every ${spacingMs} ms; retry limit 2, default budget, breaker opening after 10 failures in a row over 300 ms, open for ${openMs} ms.\n`,
);
console.log(
	'| phase | calls (`steadfetch.call.duration` count) | ok | failed | of which refused (`error.type` circuit-open) | requests (`steadfetch.attempts`) | failed requests | retries (`steadfetch.retries`) | withheld: budget | withheld: circuit-open | breaker opened (`steadfetch.breaker.transitions`) | breaker at the end (`steadfetch.breaker.status`) | mean call ms | spans |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
console.log(rows.join('\n'));
telemetry.disable();
await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
server.close();
