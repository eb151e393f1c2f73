// `npm run bench`: steadfetch beside raw fetch, undici.request, bare ky and the clients a user would pick instead,
// measured side by side in one run. `npm run bench -- --quick` (CI's smoke test) runs tiny sizes and writes nothing
// into the repository. Sizes by environment: BENCH_ROUNDS, BENCH_HAPPY_1, BENCH_HAPPY_64, BENCH_FLAKY, BENCH_OUTAGE,
// BENCH_SOAK. Every loop is bounded in count and, through BENCH_MAX_SECONDS per scenario, in time.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Call, type Contender, contenders } from './contenders.ts';
import { recoverable as recoverablePlan } from './plan.ts';
import { bundleSizes, type SizeRow } from './sizes.ts';

const quick = process.argv.includes('--quick');
const size = (name: string, full: number, small: number) => Number(process.env[name] ?? (quick ? small : full));
const rounds = size('BENCH_ROUNDS', 5, 2);
const happy1 = size('BENCH_HAPPY_1', 1000, 100);
const happy64 = size('BENCH_HAPPY_64', 5000, 400);
const flakyCalls = size('BENCH_FLAKY', 2000, 200);
const outageCalls = size('BENCH_OUTAGE', 200, 30);
const soakCalls = size('BENCH_SOAK', 200_000, 4000);
const maxSeconds = size('BENCH_MAX_SECONDS', 120, 30);
const retries = 3;
const delayMs = 1;
const root = new URL('../', import.meta.url).pathname;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const median = (values: readonly number[]): number => {
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const round1 = (value: number) => Math.round(value * 10) / 10;
const round2 = (value: number) => Math.round(value * 100) / 100;

// The server, in its own process.
const server: ChildProcess = fork(join(root, 'bench/server.ts'), [], { env: process.env });
const { port } = await new Promise<{ port: number }>((resolve) =>
	server.once('message', (message) => resolve(message as { port: number })),
);
const base = `http://127.0.0.1:${port}`;
const serverStats = (command: 'reset' | 'stats') =>
	new Promise<{ requests: number; maxAttempts: number }>((resolve) => {
		server.once('message', (message) => resolve(message as { requests: number; maxAttempts: number }));
		server.send(command);
	});

interface Sample {
	readonly ms: number;
	readonly cpuUs: number;
	readonly ok: number;
	readonly failed: number;
	readonly peakRssMb: number;
	readonly peakHeapMb: number;
}

// Run `n` calls at `concurrency`, bounded by maxSeconds: wall time, this process's CPU time, outcomes, peak memory.
async function drive(call: Call, url: (index: number) => string, n: number, concurrency: number): Promise<Sample> {
	let next = 0;
	let ok = 0;
	let failed = 0;
	let peakRss = 0;
	let peakHeap = 0;
	const sample = () => {
		const memory = process.memoryUsage();
		peakRss = Math.max(peakRss, memory.rss);
		peakHeap = Math.max(peakHeap, memory.heapUsed);
	};
	const sampler = setInterval(sample, 25);
	const stopAt = performance.now() + maxSeconds * 1000;
	const cpu = process.cpuUsage();
	const started = performance.now();
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (next < n && performance.now() < stopAt) {
				const index = next++;
				try {
					await call(url(index));
					ok++;
				} catch {
					failed++;
				}
			}
		}),
	);
	const ms = performance.now() - started;
	const used = process.cpuUsage(cpu);
	clearInterval(sampler);
	sample();
	return { ms, cpuUs: used.user + used.system, ok, failed, peakRssMb: peakRss / 2 ** 20, peakHeapMb: peakHeap / 2 ** 20 };
}

interface HappyRow {
	readonly contender: string;
	readonly requestsPerSecond: number;
	readonly cpuUsPerRequest: number;
	readonly cpuRatioToFetch: number;
	readonly throughputRatioToFetch: number;
	readonly peakRssMb: number;
	readonly peakHeapMb: number;
}

// Contenders take turns within each round, the order rotating from round to round, so that the machine's drift
// hits all alike; ratios to raw fetch are taken within each round, then the median over rounds.
interface Happy {
	readonly rows: HappyRow[];
	/** Medians over rounds of CPU per request of one contender over another, in the same round. */
	readonly clientToKy: number;
	readonly fetchToFetch: number;
}

async function happy(n: number, concurrency: number): Promise<Happy> {
	const calls = new Map<string, Call>(contenders.map((contender) => [contender.name, contender.make(retries, delayMs)]));
	for (const [, call] of calls) {
		await drive(call, () => `${base}/ok`, Math.min(200, n), concurrency); // warm-up: JIT, connections
	}
	const samples = new Map<string, Sample[]>(contenders.map(({ name }) => [name, []]));
	for (let round = 0; round < rounds; round++) {
		const order = contenders.map((_, index) => contenders[(index + round) % contenders.length] as Contender);
		for (const contender of order) {
			gc();
			samples.get(contender.name)?.push(await drive(calls.get(contender.name) as Call, () => `${base}/ok`, n, concurrency));
		}
	}
	const fetchSamples = samples.get('fetch') ?? [];
	const perRequest = (sample: Sample) => sample.cpuUs / Math.max(1, sample.ok);
	const pair = (a: string, b: string) => {
		const theirs = samples.get(b) ?? [];
		return round2(median((samples.get(a) ?? []).map((sample, round) => perRequest(sample) / perRequest(theirs[round] as Sample))));
	};
	const rows = contenders.map(({ name }) => {
		const mine = samples.get(name) ?? [];
		return {
			contender: name,
			requestsPerSecond: Math.round(median(mine.map((sample) => (sample.ok / sample.ms) * 1000))),
			cpuUsPerRequest: round1(median(mine.map(perRequest))),
			cpuRatioToFetch: round2(median(mine.map((sample, round) => perRequest(sample) / perRequest(fetchSamples[round] as Sample)))),
			throughputRatioToFetch: round2(median(mine.map((sample, round) => sample.ms / (fetchSamples[round] as Sample).ms))),
			peakRssMb: round1(Math.max(...mine.map((sample) => sample.peakRssMb))),
			peakHeapMb: round1(Math.max(...mine.map((sample) => sample.peakHeapMb))),
		};
	});
	return { rows, clientToKy: pair('steadfetch client', 'ky'), fetchToFetch: pair('steadfetch fetch', 'fetch') };
}

interface FailureRow {
	readonly contender: string;
	readonly calls: number;
	readonly succeeded: number;
	/** Calls whose first 4 planned attempts are not all failures: those that 3 retries should save. */
	readonly expected: number;
	readonly successRate: number;
	readonly expectedRate: number;
	readonly serverRequestsPerCall: number;
	readonly maxAttemptsSeen: number;
}

// Each call has its own path, so the server's seeded plan decides each of its attempts.
async function failing(path: 'flaky' | 'outage', n: number, concurrency: number): Promise<FailureRow[]> {
	const rows: FailureRow[] = [];
	for (const contender of contenders) {
		const call = contender.make(retries, delayMs);
		await serverStats('reset');
		const id = (index: number) => `${contender.name.replaceAll(/\W/g, '')}-${index}`;
		const sample = await drive(call, (index) => `${base}/${path}/${id(index)}`, n, concurrency);
		const { requests, maxAttempts } = await serverStats('stats');
		const calls = sample.ok + sample.failed;
		// From the plan itself: the calls whose first four attempts do not all fail, which 3 retries should save.
		const recoverable = Array.from({ length: calls }, (_, index) => recoverablePlan(id(index), retries + 1)).filter(Boolean).length;
		rows.push({
			contender: contender.name,
			calls,
			succeeded: sample.ok,
			expected: path === 'flaky' ? recoverable : 0,
			successRate: round2((sample.ok / Math.max(1, calls)) * 100),
			expectedRate: round2(((path === 'flaky' ? recoverable : 0) / Math.max(1, calls)) * 100),
			serverRequestsPerCall: round2(requests / Math.max(1, sample.ok + sample.failed)),
			maxAttemptsSeen: maxAttempts,
		});
	}
	return rows;
}

// The steadfetch client through a long run: heap after forced GC every tenth of the run.
async function soak(n: number) {
	const call = (contenders.find(({ name }) => name === 'steadfetch client') as Contender).make(retries, delayMs);
	const step = Math.max(1, Math.floor(n / 10));
	gc();
	const heaps = [process.memoryUsage().heapUsed];
	const started = performance.now();
	for (let done = 0; done < n && performance.now() - started < maxSeconds * 1000; done += step) {
		await drive(call, () => `${base}/ok`, step, 64);
		// Twice: one collection leaves garbage that the first one's finalizers freed (seen: ±6 MB between tenths, bare ky alike).
		gc();
		gc();
		heaps.push(process.memoryUsage().heapUsed);
	}
	const mb = heaps.map((heap) => heap / 2 ** 20);
	// Least-squares slope of the heap over the second half of the run, per 10k requests.
	const tail = mb.slice(Math.floor(mb.length / 2));
	const xs = tail.map((_, index) => index * step);
	const meanX = xs.reduce((sum, x) => sum + x, 0) / xs.length;
	const meanY = tail.reduce((sum, y) => sum + y, 0) / tail.length;
	const slope =
		xs.reduce((sum, x, index) => sum + (x - meanX) * ((tail[index] ?? 0) - meanY), 0) /
		Math.max(
			1,
			xs.reduce((sum, x) => sum + (x - meanX) ** 2, 0),
		);
	return {
		requests: (heaps.length - 1) * step,
		heapBeforeMb: round1(mb[0] ?? 0),
		// The start is taken after the first tenth: warm-up (compiled code, connection pools) is not growth. Start and end
		// are medians of three tenths: one heap reading after GC swings by several MB, for bare ky as much as for us.
		heapStartMb: round1(median(mb.slice(1, 4))),
		heapEndMb: round1(median(mb.slice(-3))),
		heapDeltaMb: round1(median(mb.slice(-3)) - median(mb.slice(1, 4))),
		growthPer10kMb: round2(slope * 10_000),
		seconds: round1((performance.now() - started) / 1000),
	};
}

const startedAt = new Date();
const started = performance.now();
const results = {
	date: startedAt.toISOString(),
	machine: {
		cpus: cpus().length,
		cpu: cpus()[0]?.model ?? 'unknown',
		memoryGb: Math.round(totalmem() / 2 ** 30),
		node: process.version,
		platform: process.platform,
	},
	command: quick ? 'npm run bench -- --quick' : 'npm run bench',
	settings: { rounds, retries, delayMs, happy1, happy64, flakyCalls, outageCalls, soakCalls, failureRate: 0.3 },
	happy1: await happy(happy1, 1),
	happy64: await happy(happy64, 64),
	flaky: await failing('flaky', flakyCalls, 16),
	outage: await failing('outage', outageCalls, 1),
	soak: await soak(soakCalls),
	sizes: await bundleSizes(root),
	seconds: 0,
};
results.seconds = round1((performance.now() - started) / 1000);
server.disconnect();

const flakySteady = results.flaky.find((row) => row.contender === 'steadfetch client');
const ownSize = results.sizes.find((row) => row.bundle === "steadfetch's own code");
const targets = [
	{
		target: 'client CPU/request <= 1.05x bare ky (c=1)',
		measured: `${results.happy1.clientToKy}x`,
		met: results.happy1.clientToKy <= 1.05,
	},
	{
		target: 'client CPU/request <= 1.05x bare ky (c=64)',
		measured: `${results.happy64.clientToKy}x`,
		met: results.happy64.clientToKy <= 1.05,
	},
	{
		target: 'drop-in fetch CPU/request <= 1.10x raw fetch (c=1)',
		measured: `${results.happy1.fetchToFetch}x`,
		met: results.happy1.fetchToFetch <= 1.1,
	},
	{
		target: 'drop-in fetch CPU/request <= 1.10x raw fetch (c=64)',
		measured: `${results.happy64.fetchToFetch}x`,
		met: results.happy64.fetchToFetch <= 1.1,
	},
	{
		target: 'flaky: every call that meets fewer than 4 failures in a row succeeds; at most 4 requests per call',
		measured: `${flakySteady?.succeeded} of ${flakySteady?.expected} expected (${flakySteady?.successRate}% vs ${flakySteady?.expectedRate}%), max ${flakySteady?.maxAttemptsSeen} attempts`,
		met: flakySteady !== undefined && flakySteady.succeeded >= flakySteady.expected && flakySteady.maxAttemptsSeen <= retries + 1,
	},
	{ target: 'soak: heap end within 5 MB of start', measured: `${results.soak.heapDeltaMb} MB`, met: results.soak.heapDeltaMb <= 5 },
	{
		target: 'soak: no growth per 10k requests',
		measured: `${results.soak.growthPer10kMb} MB / 10k`,
		met: results.soak.growthPer10kMb <= 0.1,
	},
	{
		target: "steadfetch's own code <= 4 KB min+gzip",
		measured: `${round1((ownSize?.gzip ?? 0) / 1000)} KB`,
		met: (ownSize?.gzip ?? 0) <= 4000,
	},
];

console.log(`bench: ${results.command}, ${results.seconds} s, ${results.machine.cpus} cores, Node ${results.machine.node}`);
for (const [title, rows] of [
	['happy path, concurrency 1', results.happy1.rows],
	['happy path, concurrency 64', results.happy64.rows],
	['flaky (30% 500s), concurrency 16', results.flaky],
	['total outage, concurrency 1', results.outage],
	['bundle sizes', results.sizes],
] as const) {
	console.log(`\n${title}`);
	console.table(rows);
}
console.log('\nsoak', results.soak);
console.log('\ntargets');
console.table(targets);

const out = quick ? mkdtempSync(join(tmpdir(), 'steadfetch-bench-')) : root;
writeFileSync(join(out, quick ? 'results.json' : 'bench/results.json'), `${JSON.stringify({ ...results, targets }, null, 2)}\n`);
if (!quick) {
	const { writeDocs } = await import('./report.ts');
	writeDocs({ ...results, targets }, root);
	console.log('\nwrote bench/results.json, docs/benchmarks.md, docs/benchmarks-cpu.svg');
} else {
	console.log(`\nquick run: wrote ${join(out, 'results.json')} (the repository is left as it is)`);
}

export type { FailureRow, HappyRow, SizeRow };
