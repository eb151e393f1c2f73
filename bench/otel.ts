// `node bench/otel.ts [client|fetch] [rounds] [requests] [baseline src dir]`: what steadfetch/otel costs on a success
// path, CPU per request in paired rounds, medians of the per-round figures from one run with a distribution-free 95%
// interval. The sides take turns: nobody listening (the default); steadfetch/otel on (its call span, attempt spans and
// metrics through `instrument()`, the real SDK, to an exporter that drops them); the anchor users already run, the
// undici instrumentation on the same requests (its CLIENT span and `http.client.request.duration` per request, same
// SDK, same exporter), steadfetch not instrumented; and, given a directory with another version's src/
// (`git archive <commit> src | tar -x -C <dir>`, with node_modules reachable from it), that version, nobody listening.
// The target (issue 25): what steadfetch/otel adds is at most 1.5x what the undici instrumentation adds.
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { instrument } from '../src/adapters/otel/index.ts';
import { createClient, createFetch } from '../src/index.ts';
import { medianInterval } from './median.ts';

type Call = (url: string) => Promise<unknown>;
type Module = { createClient: typeof createClient; createFetch: typeof createFetch };

// `--profile <none|steadfetch|undici> [requests]` in place of the rounds runs one side alone, for `node --cpu-prof`.
const [surface = 'client', rounds = '15', requests = '3000', baseline] = process.argv.slice(2);
const profiled = rounds === '--profile' ? (requests as 'none' | 'steadfetch' | 'undici') : undefined;
const perRun = profiled ? 3000 : Number(requests);
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
// Counted, to show that each side makes the spans it should.
let exported = 0;
const dropped: SpanExporter = {
	export: (spans, done) => {
		exported += spans.length;
		done({ code: 0 });
	},
	shutdown: async () => undefined,
};
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: dropped })] });
const meterProvider = new MeterProvider({
	readers: [
		new PeriodicExportingMetricReader({
			exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
			exportIntervalMillis: 2 ** 31 - 1,
		}),
	],
});
// On the same providers, enabled only for its own side. Made enabled and then disabled: made with `enabled: false`, it
// skips every request even once enabled.
const undici = new UndiciInstrumentation();
undici.disable();
undici.setTracerProvider(tracerProvider);
undici.setMeterProvider(meterProvider);

const server = fork(new URL('server.ts', import.meta.url).pathname);
const { port } = await new Promise<{ port: number }>((done) => server.once('message', (message) => done(message as { port: number })));
const url = `http://127.0.0.1:${port}/ok`;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const spansPerRequest = new Map<string, number>();
const cpuPerRequest = async (call: Call, telemetry: 'none' | 'steadfetch' | 'undici' = 'none'): Promise<number> => {
	const on = telemetry === 'steadfetch' ? instrument({ tracerProvider, meterProvider }) : undefined;
	if (telemetry === 'undici') {
		undici.enable();
	}
	gc();
	let next = 0;
	exported = 0;
	const cpu = process.cpuUsage();
	await Promise.all(
		Array.from({ length: 64 }, async () => {
			while (next++ < perRun) {
				await call(url);
			}
		}),
	);
	const used = process.cpuUsage(cpu);
	spansPerRequest.set(telemetry, exported / perRun);
	on?.disable();
	if (telemetry === 'undici') {
		undici.disable();
	}
	return (used.user + used.system) / perRun;
};

const plain = make({ createClient, createFetch });
if (profiled) {
	const count = Number(baseline ?? 30_000);
	const started = process.cpuUsage();
	for (let done = 0; done < count; done += perRun) {
		await cpuPerRequest(plain, profiled);
	}
	const used = process.cpuUsage(started);
	console.log(`${surface}, ${profiled}: ${((used.user + used.system) / count).toFixed(1)} µs per request over ${count}`);
	server.disconnect();
	await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
	process.exit(0);
}
const before = baseline ? make((await import(resolve(baseline, 'index.ts'))) as Module) : undefined;
const sides: { name: string; run: () => Promise<number> }[] = [
	{ name: 'nobody listening', run: () => cpuPerRequest(plain) },
	{ name: 'steadfetch/otel', run: () => cpuPerRequest(plain, 'steadfetch') },
	{ name: 'undici instrumentation', run: () => cpuPerRequest(plain, 'undici') },
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

const summary = (values: number[], digits: number, unit: string): string => {
	const sorted = [...values].sort((a, b) => a - b);
	const interval = medianInterval(sorted.length);
	const at = (index: number) => `${sorted[index]?.toFixed(digits)}${unit}`;
	return `median ${at(Math.floor(sorted.length / 2))}${interval ? `, 95% interval ${at(interval[0])} to ${at(interval[1])}` : ''}`;
};
const of = (name: string): number[] => results.get(name) ?? [];
const perRound = (combine: (values: Record<string, number>) => number): number[] =>
	of('nobody listening').map((_, index) => combine(Object.fromEntries(sides.map(({ name }) => [name, of(name)[index] ?? Number.NaN]))));

console.log(
	`${surface}, ${rounds} rounds of ${requests} requests (64 at a time), CPU µs per request (spans per request: ${[...spansPerRequest].map(([side, count]) => `${side} ${count}`).join(', ')}):`,
);
for (const { name } of sides) {
	console.log(`  ${name}: ${summary(of(name), 1, ' µs')}`);
}
const plainOf = (values: Record<string, number>) => values['nobody listening'] ?? Number.NaN;
const ours = perRound((values) => (values['steadfetch/otel'] ?? Number.NaN) - plainOf(values));
const theirs = perRound((values) => (values['undici instrumentation'] ?? Number.NaN) - plainOf(values));
console.log(`  steadfetch/otel adds: ${summary(ours, 1, ' µs')}`);
console.log(`  undici instrumentation adds: ${summary(theirs, 1, ' µs')}`);
const ratio = ours.map((value, index) => value / (theirs[index] ?? Number.NaN));
const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
// A difference over a difference is noisy round by round: the ratio of the two median additions beside it.
console.log(`  median addition of steadfetch/otel / median addition of undici's: ${(middle(ours) / middle(theirs)).toFixed(2)}x`);
console.log(
	`  steadfetch/otel's addition / undici's (target at most 1.5x): ${summary(ratio, 2, 'x')} (${ratio.map((value) => value.toFixed(2)).join(' ')})`,
);
for (const [name, over] of [
	['steadfetch/otel', 'nobody listening'],
	['undici instrumentation', 'nobody listening'],
	...(before ? [['nobody listening', 'baseline']] : []),
] as const) {
	console.log(
		`  ${name} / ${over}: ${summary(
			perRound((values) => (values[name] ?? Number.NaN) / (values[over] ?? Number.NaN)),
			3,
			'x',
		)}`,
	);
}
server.disconnect();
await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
