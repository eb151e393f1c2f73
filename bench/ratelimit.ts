// `npm run bench:ratelimit` (issue 12, "Rate limits as APIs send them"): what pacing ahead of the 429 saves against
// clients that only honour the wait a 429 asks for. The API (bench/ratelimit-server.ts, a child process) allows a fixed
// number of requests per window and says on every response how many remain and when the window resets; calls start in
// open loop at a rate above the limit and at one below it. Writes bench/ratelimit.json, then the section of
// docs/benchmarks.md between the ratelimit markers from that file alone (bench/ratelimit-report.ts).
// `--quick` (CI's smoke test): a smaller limit, 2 s of calls, every cell side by side; writes nothing into the repository.
// `--report`: only renders the docs again from bench/ratelimit.json.
// Environment: RL_MAX_SECONDS (the whole run's bound).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import ky from 'ky';
import { startApis } from './child.ts';
import { renderFromFile, replaceSection } from './doc-section.ts';
import { failureKindOf } from './failure-kind.ts';
import { type Cell, markers, type Results, renderSection } from './ratelimit-report.ts';
import type { Limit, PortStats, Style } from './ratelimit-server.ts';
import { sleep, within } from './wait.ts';

const root = new URL('../', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
const jsonPath = join(root, 'bench/ratelimit.json');
const docPath = join(root, 'docs/benchmarks.md');

if (process.argv.includes('--report')) {
	const date = renderFromFile<Results>(jsonPath, docPath, renderSection, markers);
	console.log(`wrote docs/benchmarks.md (rate-limit section) from bench/ratelimit.json (${date})`);
	process.exit(0);
}
// The built package, as users get it: src/ may be mid-change while this runs.
if (!existsSync(join(root, 'dist/index.js'))) {
	throw new Error('dist/index.js is missing: run `npm run build` first.');
}
const { createClient, createFetch, isSteadfetchError } = await import('../dist/index.js');

const limit = quick ? 20 : 50;
const windowMs = 1000;
// Above the limit (twice it) and below it.
const rates = quick ? [40, 10] : [100, 40];
const styles: readonly Style[] = ['github', 'ietf'];
const callSeconds = quick ? 2 : 5;
const retryLimit = 2;
// Calls still running this long after the last one started are aborted (every wait here is a second or two).
const drainMs = 15_000;
const maxSeconds = Number(process.env.RL_MAX_SECONDS ?? (quick ? 30 : 600));

type Call = (url: string, signal: AbortSignal) => Promise<unknown>;
interface Contender {
	readonly name: string;
	readonly make: () => Call;
}
const contenders: readonly Contender[] = [
	{
		name: 'steadfetch client (defaults)',
		make: () => {
			const api = createClient();
			return (url, signal) => api.get(url, { signal }).json();
		},
	},
	{
		name: 'steadfetch client, rateLimit: false',
		make: () => {
			const api = createClient({ rateLimit: false });
			return (url, signal) => api.get(url, { signal }).json();
		},
	},
	{
		name: 'steadfetch fetch (defaults)',
		make: () => {
			const steady = createFetch({ throwHttpErrors: true });
			return async (url, signal) => (await steady(url, { signal })).json();
		},
	},
	{
		name: 'ky (limit 2)',
		make: () => {
			const api = ky.create({ retry: { limit: retryLimit } });
			return (url, signal) => api.get(url, { signal }).json();
		},
	},
];

// One cell: a contender against an API with one header style, at one call rate.
interface Slot {
	readonly style: Style;
	readonly rate: number;
	readonly contender: Contender;
}
const slots: Slot[] = styles.flatMap((style) => rates.flatMap((rate) => contenders.map((contender) => ({ style, rate, contender }))));
// The full run gives every cell the machine to itself, so that its latencies are its own; the smoke test runs all at once.
const groups: Slot[][] = quick ? [slots] : slots.map((slot) => [slot]);

// The API's process, bound to this one, and a bound on the whole run.
const noStats: PortStats = { requests: 0, ok: 0, limited: 0, maxOkPerWindow: 0 };
const apis = startApis<Limit, PortStats>(join(root, 'bench/ratelimit-server.ts'), 'bench:ratelimit', maxSeconds, 'RL_MAX_SECONDS', noStats);
const openPort = (spec: Limit) => apis.open(spec);
const closePort = (port: number) => apis.close(port);
// Nearest rank.
const percentile = (sorted: readonly number[], p: number) =>
	sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null);
const median = (sorted: readonly number[]) => {
	if (sorted.length === 0) {
		return null;
	}
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const round1 = (value: number) => Math.round(value * 10) / 10;

const kindOf = failureKindOf(isSteadfetchError);

interface CallRecord {
	/** performance.now() at its start, and at its end (NaN: unsettled). */
	readonly start: number;
	end: number;
	failure: string | undefined;
}

// A group of cells side by side, each on its own port, its calls on its own schedule from the same window start.
async function run(group: readonly Slot[]): Promise<Cell[]> {
	const ports = await Promise.all(group.map(({ style }) => openPort({ limit, windowMs, style })));
	const calls = group.map(({ contender }) => contender.make());
	const records: CallRecord[][] = group.map(() => []);
	const running: Promise<void>[] = [];
	const lags: number[][] = group.map(() => []);
	const abort = new AbortController();
	const start = async (call: Call, url: string, into: CallRecord[]) => {
		const record: CallRecord = { start: performance.now(), end: Number.NaN, failure: 'unsettled' };
		into.push(record);
		try {
			await call(url, abort.signal);
			record.failure = undefined;
		} catch (error) {
			record.failure = kindOf(error);
		}
		record.end = performance.now();
	};
	// The first call on a window's start (the server's windows fall on multiples of windowMs of the shared clock).
	const t0 = Math.ceil((Date.now() + 200) / windowMs) * windowMs;
	const counts = group.map(({ rate }) => Math.round(callSeconds * rate));
	const next = group.map(() => 0);
	// The same instant on the monotonic clock that times the calls.
	const t0Mono = performance.now() + (t0 - Date.now());
	await sleep(Math.max(0, t0 - Date.now()));
	// Every call due by now starts now, however late; bounded by the counts and by time (a stalled loop gives up 1 s past
	// the schedule's end rather than chase it).
	const endBy = t0 + callSeconds * 1000 + 1000;
	while (next.some((index, slot) => index < (counts[slot] ?? 0)) && Date.now() < endBy) {
		const now = Date.now();
		for (const [slot, { rate }] of group.entries()) {
			for (; (next[slot] ?? 0) < (counts[slot] ?? 0) && t0 + ((next[slot] ?? 0) * 1000) / rate <= now; next[slot] = (next[slot] ?? 0) + 1) {
				lags[slot]?.push(now - (t0 + ((next[slot] ?? 0) * 1000) / rate));
				running.push(start(calls[slot] as Call, `http://127.0.0.1:${ports[slot]}/repos/o/r/issues/${next[slot]}`, records[slot] ?? []));
			}
		}
		await sleep(1);
	}
	await within(Promise.all(running), drainMs);
	abort.abort();
	await within(Promise.all(running), 1000);
	const stats = await Promise.all(ports.map(closePort));
	return group.map(({ style, rate, contender }, slot) => {
		const mine = records[slot] ?? [];
		const server = stats[slot] ?? noStats;
		const successes = mine.filter((record) => record.failure === undefined);
		const latencies = successes.map((record) => record.end - record.start).sort((a, b) => a - b);
		const first = Math.min(...mine.map((record) => record.start));
		// The API's windows from the first call's to the last success's: it could answer `limit` calls in each.
		const okWindows = Math.floor((Math.max(t0Mono, ...successes.map((record) => record.end)) - t0Mono) / windowMs) + 1;
		const lastEnd = Math.max(first, ...mine.map((record) => (Number.isNaN(record.end) ? first : record.end)));
		const failures: Record<string, number> = {};
		for (const { failure } of mine) {
			if (failure !== undefined) {
				failures[failure] = (failures[failure] ?? 0) + 1;
			}
		}
		const sortedLags = (lags[slot] ?? []).sort((a, b) => a - b);
		const median_ = median(latencies);
		const p99 = percentile(latencies, 99);
		return {
			style,
			rate,
			contender: contender.name,
			calls: mine.length,
			ok: successes.length,
			failed: mine.length - successes.length,
			failures,
			requests: server.requests,
			limited: server.limited,
			maxOkPerWindow: server.maxOkPerWindow,
			okPerSecond: round1(successes.length / ((okWindows * windowMs) / 1000)),
			medianMs: median_ === null ? null : Math.round(median_),
			p99Ms: p99 === null ? null : Math.round(p99),
			lagP99Ms: Math.round(percentile(sortedLags, 99) ?? 0),
			lagMaxMs: Math.round(sortedLags.at(-1) ?? 0),
			seconds: round1((lastEnd - first) / 1000),
		};
	});
}

const plannedSeconds = groups.length * (callSeconds + 3.5);
console.log(
	`bench:ratelimit${quick ? ' --quick' : ''}: ${limit} requests per ${windowMs} ms window; ${rates.join(' and ')} calls/s for ${callSeconds} s; ${styles.join(' and ')} headers; ${contenders.length} contenders: about ${Math.round(plannedSeconds)} s`,
);

const startedAt = new Date();
const started = performance.now();
const cells: Cell[] = [];
for (const group of groups) {
	for (const cell of await run(group)) {
		cells.push(cell);
		console.log(
			`${cell.style} @ ${cell.rate}/s, ${cell.contender}: ${cell.ok}/${cell.calls} ok, ${cell.requests} requests, ${cell.limited} x 429, ${cell.okPerSecond} ok/s, median ${cell.medianMs} ms, p99 ${cell.p99Ms} ms; lag p99 ${cell.lagP99Ms} ms; failures ${JSON.stringify(cell.failures)}`,
		);
	}
}
apis.finish();

const output: Results = {
	date: startedAt.toISOString(),
	command: quick ? 'npm run bench:ratelimit:quick' : 'npm run bench:ratelimit',
	seconds: Math.round((performance.now() - started) / 100) / 10,
	machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: process.platform },
	settings: { limit, windowMs, callSeconds, rates, styles, retryLimit, sideBySide: Math.max(...groups.map((group) => group.length)) },
	contenders: contenders.map(({ name }) => name),
	cells,
};
// The harness itself must work, whatever the figures: every call settled, the API saw requests and kept its limit.
const broken = cells
	.filter((cell) => cell.calls === 0 || cell.requests === 0 || cell.failures.unsettled || cell.maxOkPerWindow > limit)
	.map((cell) => `${cell.style} @ ${cell.rate}/s ${cell.contender}`);
const out = quick ? mkdtempSync(join(tmpdir(), 'steadfetch-ratelimit-')) : root;
const written = join(out, quick ? 'ratelimit.json' : 'bench/ratelimit.json');
writeFileSync(written, `${JSON.stringify(output, null, '\t')}\n`);
if (!quick) {
	// In the repository's style, so that `npm run lint` passes on the file as written (arrays on one line, as Biome wants).
	execFileSync(join(root, 'node_modules/.bin/biome'), ['format', '--write', written], { stdio: 'ignore' });
}
// The docs come from the file just written, as `--report` makes them: the same figures give the same page.
const section = renderSection(JSON.parse(readFileSync(written, 'utf8')) as Results);
console.log(`\n${section}\n`);
if (quick) {
	writeFileSync(join(out, 'benchmarks.md'), replaceSection(readFileSync(docPath, 'utf8'), section, markers));
	console.log(`quick run in ${output.seconds} s: wrote ${out} (the repository is left as it is)`);
} else {
	writeFileSync(docPath, replaceSection(readFileSync(docPath, 'utf8'), section, markers));
	console.log(`full run in ${output.seconds} s: wrote bench/ratelimit.json and docs/benchmarks.md (rate-limit section)`);
}
if (broken.length > 0) {
	console.error(`bench:ratelimit: the harness failed in ${broken.join('; ')}`);
	process.exitCode = 1;
}
