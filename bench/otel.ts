// `node bench/otel.ts [client|fetch] [rounds] [requests] [baseline src dir]`: what steadfetch/otel costs on a success
// path, CPU per request in paired rounds, medians of the ratios from one run. Three sides take turns: nobody listening
// (the default), the real SDK on (spans and metrics through `instrument()`, to an exporter that drops them), and,
// given a directory with another version's src/ (`git archive <commit> src | tar -x -C bench/.baseline`), that version.
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { instrument } from '../src/adapters/otel/index.ts';
import { createClient, createFetch } from '../src/index.ts';

type Call = (url: string) => Promise<unknown>;
type Module = { createClient: typeof createClient; createFetch: typeof createFetch };

const [surface = 'client', rounds = '10', requests = '3000', baseline] = process.argv.slice(2);
const make = ({ createClient: client, createFetch: fetch }: Module): Call => {
	const retry = { limit: 3, baseDelayMs: 1, maxDelayMs: 1 };
	if (surface === 'client') {
		const api = client({ retry });
		return (url) => api.get(url).json();
	}
	const steady = fetch({ retry });
	return async (url) => (await steady(url)).json();
};

// Every span is exported (SimpleSpanProcessor, synchronously at its end) and dropped: the SDK's whole work, no memory.
const dropped: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => undefined };
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: dropped })] });
const meterProvider = new MeterProvider({
	readers: [
		new PeriodicExportingMetricReader({
			exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
			exportIntervalMillis: 2 ** 31 - 1,
		}),
	],
});

const server = fork(new URL('server.ts', import.meta.url).pathname);
const { port } = await new Promise<{ port: number }>((done) => server.once('message', (message) => done(message as { port: number })));
const url = `http://127.0.0.1:${port}/ok`;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const cpuPerRequest = async (call: Call, traced = false): Promise<number> => {
	const telemetry = traced ? instrument({ tracerProvider, meterProvider }) : undefined;
	gc();
	let next = 0;
	const cpu = process.cpuUsage();
	await Promise.all(
		Array.from({ length: 64 }, async () => {
			while (next++ < Number(requests)) {
				await call(url);
			}
		}),
	);
	const used = process.cpuUsage(cpu);
	telemetry?.disable();
	return (used.user + used.system) / Number(requests);
};

const plain = make({ createClient, createFetch });
const before = baseline ? make((await import(resolve(baseline, 'index.ts'))) as Module) : undefined;
const sides: { name: string; run: () => Promise<number> }[] = [
	{ name: 'nobody listening', run: () => cpuPerRequest(plain) },
	{ name: 'SDK on', run: () => cpuPerRequest(plain, true) },
	...(before ? [{ name: 'baseline', run: () => cpuPerRequest(before) }] : []),
];
for (const side of sides) {
	await side.run();
}
const results = new Map<string, number[]>(sides.map(({ name }) => [name, []]));
for (let round = 0; round < Number(rounds); round++) {
	// Each round in another order, so that no side always runs on the heap another left.
	const order = sides.map((_, index) => sides[(index + round) % sides.length] as (typeof sides)[number]);
	for (const side of order) {
		results.get(side.name)?.push(await side.run());
	}
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const ratios = (name: string, over: string): number[] => {
	const [top, bottom] = [results.get(name) ?? [], results.get(over) ?? []];
	return top.map((value, index) => value / (bottom[index] ?? Number.NaN));
};
console.log(`${surface}, ${rounds} rounds of ${requests} requests (64 at a time), CPU µs per request, medians:`);
for (const [name, values] of results) {
	console.log(`  ${name}: ${median(values).toFixed(1)} µs`);
}
for (const [name, over] of [['SDK on', 'nobody listening'], ...(before ? [['nobody listening', 'baseline']] : [])] as const) {
	const each = ratios(name, over);
	console.log(`  ${name} / ${over}: median ${median(each).toFixed(3)}x (${each.map((ratio) => ratio.toFixed(2)).join(' ')})`);
}
server.disconnect();
await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
