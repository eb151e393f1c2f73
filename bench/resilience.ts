// `npm run bench:resilience` (issue 10, "Resilience that never costs a success"): what the retry budget and breaker
// cost or save against plain retries while the API fails for a while. Open loop: calls start at a fixed rate whatever
// earlier calls do, as users' traffic does, so a client that fails fast is not rewarded with fewer calls to make. The
// API (bench/fault-server.ts) runs in a child process and follows a time-based fault schedule. Writes
// bench/resilience.json, then docs/resilience.md's tables from that file alone (bench/resilience-report.ts).
// `--quick` (CI's smoke test): one rate, shortened phases, every contender at once; writes nothing into the repository.
// `--report`: only renders the docs again from bench/resilience.json.
// Environment: RES_RATES (calls/s, e.g. 20,200,500), RES_GROUP_RATE (the most calls/s run at once, summed over the
// contenders side by side), RES_MAX_SECONDS (the whole run's bound), RES_SCENARIOS (e.g. blip,hang: only those),
// RES_ROUTES (calls rotate over that many routes of the API, `/<route>/c/<id>`, where each call otherwise goes to the
// one route `/c/*`: the breaker and budget are per endpoint; figures only, like --quick it writes nothing into the
// repository).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import ky from 'ky';
import { startApis } from './child.ts';
import { renderFromFile, replaceSection } from './doc-section.ts';
import type { Bins, Fault, Schedule, Step } from './fault-server.ts';
import { recoverable } from './plan.ts';
import { type Cell, type MeasureSpec, markers, type Results, renderSection, type ScenarioResult } from './resilience-report.ts';
import { sleep, within } from './wait.ts';

const root = new URL('../', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
const jsonPath = join(root, 'bench/resilience.json');
const docPath = join(root, 'docs/resilience.md');

if (process.argv.includes('--report')) {
	const date = renderFromFile<Results>(jsonPath, docPath, renderSection, markers);
	console.log(`wrote docs/resilience.md from bench/resilience.json (${date})`);
	process.exit(0);
}
// The built package, as users get it: the breaker in src/ may be mid-change while this runs.
if (!existsSync(join(root, 'dist/index.js'))) {
	throw new Error('dist/index.js is missing: run `npm run build` first.');
}
const { createClient, createFetch } = await import('../dist/index.js');

const rates = (process.env.RES_RATES ?? (quick ? '200' : '20,200,500')).split(',').map(Number);
// One process must drive each client (its budget and breaker are per instance), and on 2 cores one process keeps
// its open loop on schedule up to about 200 calls/s of a contender that retries every failure: the full run puts
// contenders side by side only at 20 calls/s. The quick run, a smoke test, puts all five side by side and runs late.
const groupRate = Number(process.env.RES_GROUP_RATE ?? (quick ? 1000 : 200));
const maxSeconds = Number(process.env.RES_MAX_SECONDS ?? (quick ? 90 : 1500));
const leadMs = quick ? 300 : 500;
const recoveryMs = quick ? 1500 : 2500;
// Calls still running this long after a scenario's end are aborted: above the 10 s default timeout of ky and steadfetch.
const drainMs = 12_000;
// Requests are counted in bins this wide; every window below starts and ends on a multiple of it.
const binMs = 50;
const retryLimit = 2;
const hangTimeoutMs = 1000;
const routes = Number(process.env.RES_ROUTES ?? 1);
if (!Number.isInteger(routes) || routes < 1) {
	throw new RangeError(`Expected RES_ROUTES to be a whole number of routes, got ${process.env.RES_ROUTES}.`);
}
// A route's name has no digit, or steadfetch would read it as an id (`/items/42` is the endpoint `/items/*`): a, b, ..., ba.
const routeOf = (index: number): string =>
	routes === 1
		? ''
		: `/${(index % routes).toString(26).replace(/[0-9a-p]/g, (digit) => 'abcdefghijklmnopqrstuvwxyz'[Number.parseInt(digit, 26)] ?? '')}`;
const scratch = quick || process.env.RES_ROUTES !== undefined;

type Call = (url: string, signal: AbortSignal) => Promise<unknown>;
interface Contender {
	readonly name: string;
	readonly make: (timeoutMs: number | undefined) => Call;
}
const timeout = (timeoutMs: number | undefined) => (timeoutMs ? { timeout: timeoutMs } : {});
const contenders: readonly Contender[] = [
	{
		name: 'steadfetch client (defaults)',
		make: (timeoutMs) => {
			const api = createClient(timeout(timeoutMs));
			return (url, signal) => api.get(url, { signal }).json();
		},
	},
	{
		name: 'steadfetch fetch (defaults)',
		make: (timeoutMs) => {
			const steady = createFetch({ throwHttpErrors: true });
			// fetch has no timeout of its own: the caller's signal bounds the whole call.
			return async (url, signal) =>
				(await steady(url, { signal: timeoutMs ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : signal })).json();
		},
	},
	{
		name: 'client, breaker off',
		make: (timeoutMs) => {
			const api = createClient({ breaker: false, ...timeout(timeoutMs) });
			return (url, signal) => api.get(url, { signal }).json();
		},
	},
	{
		name: 'client, budget and breaker off',
		make: (timeoutMs) => {
			const api = createClient({ budget: false, breaker: false, ...timeout(timeoutMs) });
			return (url, signal) => api.get(url, { signal }).json();
		},
	},
	{
		name: 'ky (limit 2)',
		make: (timeoutMs) => {
			const api = ky.create({ retry: { limit: retryLimit }, ...timeout(timeoutMs) });
			return (url, signal) => api.get(url, { signal }).json();
		},
	},
];

// A scenario's timeline, in ms from its start: healthy, the fault from `fault`, healthy again from `recovery` to `end`.
interface Phases {
	readonly fault: number;
	readonly recovery: number;
	readonly end: number;
}
// Windows over it: a call counts in the window its start falls in, a request in the one its arrival falls in.
const windows = {
	fault: { text: 'calls started during the fault', range: (p: Phases) => [p.fault, p.recovery] },
	faultAfterFirstSecond: {
		text: 'calls started during the fault, after its first second',
		range: (p: Phases) => [p.fault + 1000, p.recovery],
	},
	faultLast3s: { text: "calls started in the fault's last 3 s", range: (p: Phases) => [Math.max(p.fault, p.recovery - 3000), p.recovery] },
	// Their retries (at most 0.3 + 0.6 s of backoff later) meet the fault too, so the seeded plan alone decides them.
	faultButLastSecond: {
		text: 'calls started during the fault, but for its last second',
		range: (p: Phases) => [p.fault, p.recovery - 1000],
	},
	firstSecondAfter: { text: 'calls started in the first second after recovery', range: (p: Phases) => [p.recovery, p.recovery + 1000] },
	fromSecondAfter: { text: 'calls started from 1 s after recovery', range: (p: Phases) => [p.recovery + 1000, Number.POSITIVE_INFINITY] },
} as const satisfies Record<string, { text: string; range: (p: Phases) => number[] }>;
type WindowName = keyof typeof windows;

interface Measure extends Omit<MeasureSpec, 'window'> {
	readonly window: WindowName;
	readonly kind: 'requestsPerCall' | 'successRate' | 'idealRate' | 'medianSettleMs';
}
interface Scenario {
	readonly key: string;
	readonly title: string;
	readonly about: string;
	readonly fault: Fault;
	readonly faultMs: number;
	readonly timeoutMs?: number;
	readonly measures: readonly Measure[];
}

const perCall = (window: WindowName, label: string, target?: Measure['target']): Measure => ({
	key: `rpc_${window}`,
	label,
	unit: 'x',
	window,
	kind: 'requestsPerCall',
	...(target ? { target } : {}),
});
const success = (window: WindowName, label: string, target?: Measure['target']): Measure => ({
	key: `ok_${window}`,
	label,
	unit: '%',
	window,
	kind: 'successRate',
	...(target ? { target } : {}),
});
const seconds = (ms: number) => `${ms / 1000} s`;
const blipMs = quick ? 1000 : 1500;
const longMs = quick ? 4000 : 6000;
const partialMs = quick ? 2000 : 4000;
const hangMs = quick ? 2000 : 3000;
const flakyMs = quick ? 2000 : 4000;
const allScenarios: readonly Scenario[] = [
	{
		key: 'blip',
		title: `Blip: every response 500 for ${seconds(blipMs)}`,
		about: 'A short outage that retries should bridge without tripping anything.',
		fault: { kind: 'fail', rate: 1 },
		faultMs: blipMs,
		measures: [
			perCall('fault', 'req/call in outage', { op: '<=', value: 1.1, rates: [200] }),
			success('fault', 'ok % started in outage'),
			success('firstSecondAfter', 'ok % 1st s after', { op: '>=', value: 90 }),
			success('fromSecondAfter', 'ok % from 1 s after', { op: '>=', value: 99 }),
		],
	},
	{
		key: 'long',
		title: `Long outage: every response 500 for ${seconds(longMs)}`,
		about:
			'An outage long enough that retrying it only adds load; the last 3 s show whether the client sheds it as a breaker would (the ambition: ≤ 0.10).',
		fault: { kind: 'fail', rate: 1 },
		faultMs: longMs,
		measures: [
			perCall('faultAfterFirstSecond', 'req/call after 1st s', { op: '<=', value: 1.1 }),
			perCall('faultLast3s', 'req/call last 3 s', { op: '<=', value: 0.1 }),
			success('firstSecondAfter', 'ok % 1st s after'),
			success('fromSecondAfter', 'ok % from 1 s after', { op: '>=', value: 99 }),
		],
	},
	{
		key: 'partial',
		title: `Partial: half the attempts 500 (seeded) for ${seconds(partialMs)}`,
		about: 'A service failing half the time is degraded, not down: the breaker must not make it worse than the budget alone.',
		fault: { kind: 'fail', rate: 0.5 },
		faultMs: partialMs,
		measures: [
			success('faultButLastSecond', 'ok %', { op: '>=', contender: 'client, breaker off', offset: -1 }),
			{ key: 'ideal_faultButLastSecond', label: 'ideal %', unit: '%', window: 'faultButLastSecond', kind: 'idealRate' },
			perCall('faultButLastSecond', 'req/call'),
		],
	},
	{
		key: 'hang',
		title: `Hang: no answer at all for ${seconds(hangMs)}`,
		about: `Requests that arrive during the hang are never answered; every contender has \`timeout: ${hangTimeoutMs}\` but the drop-in fetch, which has no timeout of its own: its row measures the caller's \`AbortSignal.timeout(${hangTimeoutMs})\`, which ends the whole call, is never retried, and is never counted by its breaker (an aborted attempt reports no outcome).`,
		fault: { kind: 'hang' },
		faultMs: hangMs,
		timeoutMs: hangTimeoutMs,
		measures: [
			{
				key: 'settle_fault',
				label: 'median settle ms in hang',
				unit: 'ms',
				window: 'fault',
				kind: 'medianSettleMs',
				target: { op: '<=', value: 1.5 * hangTimeoutMs },
			},
			success('firstSecondAfter', 'ok % 1st s after'),
			success('fromSecondAfter', 'ok % from 1 s after', { op: '>=', value: 99 }),
		],
	},
	{
		key: 'flaky',
		title: `Flaky: 30% of attempts 500 (seeded) for ${seconds(flakyMs)}`,
		about: `With ${retryLimit} retries a call fails only when its ${retryLimit + 1} attempts all fail: 1 − 0.3³ = 97.3% should succeed. The ideal is counted from the seeded plan for the very calls made.`,
		fault: { kind: 'fail', rate: 0.3 },
		faultMs: flakyMs,
		measures: [
			success('faultButLastSecond', 'ok %', { op: '>=', field: 'ideal_faultButLastSecond' }),
			{ key: 'ideal_faultButLastSecond', label: 'ideal %', unit: '%', window: 'faultButLastSecond', kind: 'idealRate' },
			perCall('faultButLastSecond', 'req/call'),
		],
	},
];

// RES_SCENARIOS (e.g. blip,hang) runs some of them only, to look into one; the report shows the others as missing.
const only = process.env.RES_SCENARIOS?.split(',');
const scenarios = allScenarios.filter(({ key }) => only?.includes(key) ?? true);

// The API's process, bound to this one, and a bound on the whole run.
const apis = startApis<Schedule, Bins>(join(root, 'bench/fault-server.ts'), 'bench:resilience', maxSeconds, 'RES_MAX_SECONDS', []);
const openPort = (steps: readonly Step[]) => apis.open({ steps, binMs });
const closePort = (port: number) => apis.close(port);
const median = (values: readonly number[]) => {
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const round2 = (value: number) => Math.round(value * 100) / 100;

interface CallRecord {
	readonly index: number;
	/** ms from the scenario's start. */
	readonly start: number;
	settleMs: number;
	error: string | undefined;
}

function evaluate(
	measure: Measure,
	scenario: Scenario,
	rate: number,
	records: readonly CallRecord[],
	bins: readonly number[],
	phases: Phases,
) {
	const [from = 0, to = 0] = windows[measure.window].range(phases);
	const calls = records.filter((record) => record.start >= from && record.start < to);
	if (calls.length === 0) {
		return null;
	}
	const percent = (count: number) => round2((count / calls.length) * 100);
	switch (measure.kind) {
		case 'requestsPerCall': {
			const requests = bins.slice(from / binMs, Number.isFinite(to) ? to / binMs : undefined).reduce((sum, count) => sum + count, 0);
			return round2(requests / calls.length);
		}
		case 'successRate':
			return percent(calls.filter((record) => record.error === undefined).length);
		case 'idealRate': {
			const failureRate = scenario.fault.kind === 'fail' ? scenario.fault.rate : 0;
			return percent(calls.filter((record) => recoverable(callId(scenario, rate, record.index), retryLimit + 1, failureRate)).length);
		}
		case 'medianSettleMs':
			return Math.round(median(calls.map((record) => record.settleMs)));
	}
}
const callId = (scenario: Scenario, rate: number, index: number) => `${scenario.key}-${rate}-${index}`;

// One scenario at one rate for a group of contenders side by side, each on its own port, all on the same schedule.
async function run(scenario: Scenario, rate: number, group: readonly Contender[]): Promise<Cell[]> {
	const phases = { fault: leadMs, recovery: leadMs + scenario.faultMs, end: leadMs + scenario.faultMs + recoveryMs };
	// Time to open the ports before the first call, so that the open loop does not start behind its schedule.
	const t0 = Date.now() + 250;
	const steps: Step[] = [
		{ at: t0, fault: { kind: 'healthy' } },
		{ at: t0 + phases.fault, fault: scenario.fault },
		{ at: t0 + phases.recovery, fault: { kind: 'healthy' } },
	];
	const ports = await Promise.all(group.map(() => openPort(steps)));
	const calls = group.map((contender) => contender.make(scenario.timeoutMs));
	const records: CallRecord[][] = group.map(() => []);
	const running: Promise<void>[] = [];
	const lags: number[] = [];
	const abort = new AbortController();
	const start = async (call: Call, url: string, index: number, into: CallRecord[]) => {
		const started = Date.now();
		const record: CallRecord = { index, start: started - t0, settleMs: Number.NaN, error: 'unsettled' };
		into.push(record);
		try {
			await call(url, abort.signal);
			record.error = undefined;
		} catch (error) {
			record.error = error instanceof Error ? error.name : typeof error;
		}
		record.settleMs = Date.now() - started;
	};
	const interval = 1000 / rate;
	const count = Math.round((phases.end / 1000) * rate);
	await sleep(Math.max(0, t0 - Date.now()));
	// Every call due by now starts now, however late; bounded by the count and by time (a stalled loop gives up 1 s past
	// the schedule's end rather than chase it).
	let index = 0;
	while (index < count && Date.now() < t0 + phases.end + 1000) {
		const now = Date.now();
		for (; index < count && t0 + index * interval <= now; index++) {
			lags.push(now - (t0 + index * interval));
			for (const [slot, call] of calls.entries()) {
				const url = `http://127.0.0.1:${ports[slot]}${routeOf(index)}/c/${callId(scenario, rate, index)}`;
				running.push(start(call, url, index, records[slot] ?? []));
			}
		}
		await sleep(1);
	}
	await within(Promise.all(running), Math.max(0, t0 + phases.end + drainMs - Date.now()));
	abort.abort();
	await within(Promise.all(running), 1000);
	const binsByPort = await Promise.all(ports.map(closePort));
	const sortedLags = lags.sort((a, b) => a - b);
	return group.map((contender, slot) => {
		const mine = records[slot] ?? [];
		const bins = binsByPort[slot] ?? [];
		const errors: Record<string, number> = {};
		for (const { error } of mine) {
			if (error !== undefined) {
				errors[error] = (errors[error] ?? 0) + 1;
			}
		}
		return {
			rate,
			contender: contender.name,
			calls: mine.length,
			requests: bins.reduce((sum, requests) => sum + requests, 0),
			seconds: round2((Date.now() - t0) / 1000),
			lagP99Ms: sortedLags[Math.floor(sortedLags.length * 0.99)] ?? 0,
			lagMaxMs: sortedLags.at(-1) ?? 0,
			errors,
			values: Object.fromEntries(scenario.measures.map((each) => [each.key, evaluate(each, scenario, rate, mine, bins, phases)])),
		};
	});
}

// Contenders side by side while their rates add up to at most groupRate calls/s; above it, they take turns.
const groupsAt = (rate: number) => {
	const size = Math.max(1, Math.floor(groupRate / rate));
	return Array.from({ length: Math.ceil(contenders.length / size) }, (_, index) => contenders.slice(index * size, (index + 1) * size));
};
const plannedSeconds = rates.reduce(
	(sum, rate) =>
		sum + groupsAt(rate).length * scenarios.reduce((total, { faultMs }) => total + (leadMs + faultMs + recoveryMs) / 1000 + 1, 0),
	0,
);
console.log(
	`bench:resilience${quick ? ' --quick' : ''}: ${rates.join(', ')} calls/s, ${scenarios.length} scenarios, ${contenders.length} contenders: about ${Math.round(plannedSeconds)} s`,
);

const startedAt = new Date();
const started = performance.now();
const cellsOf: Cell[][] = scenarios.map(() => []);
for (const rate of rates) {
	for (const [index, scenario] of scenarios.entries()) {
		for (const group of groupsAt(rate)) {
			const cells = await run(scenario, rate, group);
			cellsOf[index]?.push(...cells);
			for (const cell of cells) {
				const figures = Object.entries(cell.values)
					.map(([key, value]) => `${key} ${value}`)
					.join(', ');
				console.log(
					`${scenario.key} @ ${rate}/s, ${cell.contender}: ${cell.calls} calls, ${cell.requests} requests, ${figures}; lag p99 ${cell.lagP99Ms} ms; failures ${JSON.stringify(cell.errors)}`,
				);
			}
		}
	}
}
const results: ScenarioResult[] = scenarios.map(({ key, title, about, measures }, index) => ({
	key,
	title,
	about,
	measures: measures.map(({ kind: _kind, window, ...spec }) => ({ ...spec, window: windows[window].text })),
	cells: cellsOf[index] ?? [],
}));
apis.finish();

const output: Results = {
	date: startedAt.toISOString(),
	command: quick ? 'npm run bench:resilience:quick' : 'npm run bench:resilience',
	seconds: Math.round((performance.now() - started) / 100) / 10,
	machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: process.platform },
	settings: { rates, leadMs, recoveryMs, groupRate, retryLimit, hangTimeoutMs },
	contenders: contenders.map(({ name }) => name),
	scenarios: results,
};
// The harness itself must work, whatever the figures: every call settled, and the API saw requests in every cell.
const broken = results.flatMap(({ key, cells }) =>
	cells
		.filter((cell) => cell.calls === 0 || cell.requests === 0 || cell.errors.unsettled)
		.map((cell) => `${key} @ ${cell.rate}/s ${cell.contender}`),
);
const out = scratch ? mkdtempSync(join(tmpdir(), 'steadfetch-resilience-')) : root;
const written = join(out, scratch ? 'resilience.json' : 'bench/resilience.json');
writeFileSync(written, `${JSON.stringify(output, null, 2)}\n`);
// The docs come from the file just written, as `--report` makes them: the same figures give the same page.
const section = renderSection(JSON.parse(readFileSync(written, 'utf8')) as Results);
console.log(`\n${section}\n`);
if (scratch) {
	writeFileSync(join(out, 'resilience.md'), replaceSection(readFileSync(docPath, 'utf8'), section, markers));
	console.log(`${quick ? 'quick' : `${routes}-route`} run in ${output.seconds} s: wrote ${out} (the repository is left as it is)`);
} else {
	writeFileSync(docPath, replaceSection(readFileSync(docPath, 'utf8'), section, markers));
	console.log(`full run in ${output.seconds} s: wrote bench/resilience.json and docs/resilience.md`);
}
if (broken.length > 0) {
	console.error(`bench:resilience: the harness failed in ${broken.join('; ')}`);
	process.exitCode = 1;
}
