// `node bench/domains.ts`: does one domain's trouble cost another domain's calls? Each scenario spends or breaks one
// domain of an API (GitHub's search bucket, an OpenAI model's window, one API key's day, one endpoint) and then measures
// calls to another domain that is healthy, side by side for ky 2 (`retry: {limit: 2}`), steadfetch's `createClient()`
// and `createFetch()` at their defaults. Every contender gets ports of its own from an API in a child process
// (bench/domains-server.ts), so no two share a quota or a window. Calls start in open loop, as users' traffic does.
// Writes bench/domains.json and prints the table; docs/resilience.md is left alone (its page may be mid-edit).
// `--report`: renders the section of docs/resilience.md between `<!-- domains:start -->` and `<!-- domains:end -->`
// from bench/domains.json alone (bench/domains-report.ts), when the page has those markers; it never adds them.
// `--quick` (CI's smoke test, under a minute): shorter phases, fewer origins, one round; writes nothing into the
// repository (its JSON goes to a temporary directory) and prints the table.
// Environment: DOMAINS_SCENARIOS (e.g. github-buckets,many-origins: only the scenarios whose key starts with one of
// them), DOMAINS_ROUNDS (rounds of every scenario but those that run once: many-origins, the short reset), DOMAINS_ORIGINS (e.g. 64,257), DOMAINS_KEY=1 (adds
// steadfetch contenders with `rateLimit: { key }`, when the built package takes that option), DOMAINS_MAX_SECONDS (the
// whole run's bound), DOMAINS_STRICT=1 (exit 1 when a steadfetch row does worse than ky), DOMAINS_DEBUG=1 (prints when
// each failed call started and ended).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import ky from 'ky';
import { startApis } from './child.ts';
import { renderFromFile, sectionOf } from './doc-section.ts';
import {
	type Cell,
	differences,
	markers,
	type Primary,
	type Results,
	renderSection,
	renderTable,
	type ScenarioInfo,
	verdict,
} from './domains-report.ts';
import type { Seen, Spec } from './domains-server.ts';
import { failureKindOf } from './failure-kind.ts';
import { recoverable } from './plan.ts';
import { sleep, within } from './wait.ts';

const root = new URL('../', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
const jsonPath = join(root, 'bench/domains.json');
const docPath = join(root, 'docs/resilience.md');

if (process.argv.includes('--report')) {
	if (sectionOf(readFileSync(docPath, 'utf8'), markers) === undefined) {
		console.log(renderSection(JSON.parse(readFileSync(jsonPath, 'utf8')) as Results));
		console.log(`\ndocs/resilience.md has no ${markers.start} … ${markers.end} markers: nothing written (the section is above).`);
		process.exit(0);
	}
	const date = renderFromFile<Results>(jsonPath, docPath, renderSection, markers);
	console.log(`wrote docs/resilience.md (domains section) from bench/domains.json (${date})`);
	process.exit(0);
}

// The built package, as users get it: src/ may be mid-change while this runs, and `npm run build` empties dist/ before
// it writes it again. Wait (a bounded while) for a dist/ whose files stopped changing.
async function settledDist(): Promise<void> {
	const entry = join(root, 'dist/index.js');
	const count = () => (existsSync(join(root, 'dist')) ? readdirSync(join(root, 'dist'), { recursive: true }).length : 0);
	const by = Date.now() + 120_000;
	let last = -1;
	while (Date.now() < by) {
		const now = count();
		if (existsSync(entry) && now === last) {
			return;
		}
		if (!existsSync(entry)) {
			console.log('bench:domains: dist/index.js is missing (a build under way?): waiting');
		}
		last = now;
		await sleep(existsSync(entry) ? 500 : 2000);
	}
	throw new Error('dist/index.js is missing: run `npm run build` first.');
}
await settledDist();
// Which build was measured (another build may land mid-run: the figures would then mix two).
function distFingerprint(): { readonly hash: string; readonly builtAt: string } {
	const dir = join(root, 'dist');
	const files = readdirSync(dir, { recursive: true })
		.map(String)
		.filter((file) => file.endsWith('.js'))
		.sort();
	const hash = createHash('sha256');
	for (const file of files) {
		hash.update(file).update(readFileSync(join(dir, file)));
	}
	return { hash: hash.digest('hex').slice(0, 12), builtAt: statSync(join(dir, 'index.js')).mtime.toISOString() };
}
const dist = distFingerprint();
const { createClient, createFetch, isSteadfetchError } = await import('../dist/index.js');

const retryLimit = 2;
const timeoutMs = 300;
const rounds = Number(process.env.DOMAINS_ROUNDS ?? (quick ? 1 : 3));
const maxSeconds = Number(process.env.DOMAINS_MAX_SECONDS ?? (quick ? 90 : 600));
const originCounts = (process.env.DOMAINS_ORIGINS ?? (quick ? '64,257' : '64,256,257,300,1024')).split(',').map(Number);
const only = process.env.DOMAINS_SCENARIOS?.split(',');

// --- Contenders ---------------------------------------------------------------------------------------------------

/** One call as the harness asks for it; a caller resolves with the response it hands back (its status, and whether it is a local refusal), or throws. */
interface CallSpec {
	readonly url: string;
	readonly method?: 'GET' | 'POST';
	readonly headers?: Record<string, string>;
	readonly json?: unknown;
	readonly signal: AbortSignal;
	/** Statuses besides 2xx that complete the call (304 for conditional requests): the call is told not to throw on them. */
	readonly alsoOk?: readonly number[];
}
/**
A Response no server sent: the drop-in fetch (and a client with `throwHttpErrors: false`) may hand a refused call back as
a local 429 or 503 marked with this header (steadfetch's `isRefusal`), where older builds reject.
*/
const refusalHeader = 'x-steadfetch-refused';
interface Answer {
	readonly status: number;
	/** The header's value (the stop reason) on a local refusal. */
	readonly refused: string | undefined;
}
type Caller = (call: CallSpec) => Promise<Answer>;
interface Make {
	/** Every request's timeout (the drop-in fetch: the caller's `AbortSignal.timeout`, which ends the whole call). */
	readonly timeoutMs?: number;
	/** Headers of every call of the instance (an API key of its own). */
	readonly headers?: Record<string, string>;
}
interface Contender {
	readonly name: string;
	readonly role: 'ky' | 'steadfetch';
	readonly make: (options?: Make) => Caller;
}

const kyOptions = (options: Make | undefined) => ({
	...(options?.timeoutMs ? { timeout: options.timeoutMs } : {}),
	...(options?.headers ? { headers: options.headers } : {}),
});
const kyCall = (api: ReturnType<typeof ky.create>): Caller => {
	return async ({ url, method = 'GET', headers, json, signal, alsoOk }) => {
		const response = await api(url, {
			method,
			signal,
			...(headers ? { headers } : {}),
			...(json === undefined ? {} : { json }),
			...(alsoOk ? { throwHttpErrors: false } : {}),
		});
		await response.arrayBuffer();
		return { status: response.status, refused: response.headers.get(refusalHeader) ?? undefined };
	};
};
const fetchCall = (steady: typeof globalThis.fetch, options: Make | undefined): Caller => {
	return async ({ url, method = 'GET', headers, json, signal }) => {
		const response = await steady(url, {
			method,
			headers: { ...options?.headers, ...headers, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
			...(json === undefined ? {} : { body: JSON.stringify(json) }),
			// fetch has no timeout of its own: the caller's signal bounds the whole call.
			signal: options?.timeoutMs ? AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]) : signal,
		});
		await response.arrayBuffer();
		return { status: response.status, refused: response.headers.get(refusalHeader) ?? undefined };
	};
};

/**
The key of `rateLimit: { key }` (DOMAINS_KEY=1), as the option's docs suggest for OpenAI: the model, from the body as
given (the client's `json` value, or the drop-in fetch's `init.body`, a JSON string); none for a call without one.
*/
const rateLimitKey = (request: { readonly body?: unknown }): string | undefined => {
	let body = request.body;
	if (typeof body === 'string') {
		try {
			body = JSON.parse(body);
		} catch {
			return undefined;
		}
	}
	const model = (body as { model?: unknown } | null | undefined)?.model;
	return typeof model === 'string' ? model : undefined;
};
type ClientOptions = NonNullable<Parameters<typeof createClient>[0]>;
type FetchOptions = NonNullable<Parameters<typeof createFetch>[0]>;
// The option as it is being added: the built package's types may not know it yet.
const keyed = { rateLimit: { key: rateLimitKey } } as unknown as ClientOptions & FetchOptions;

const baseContenders: Contender[] = [
	{
		name: 'ky (limit 2)',
		role: 'ky',
		make: (options) => kyCall(ky.create({ retry: { limit: retryLimit }, ...kyOptions(options) })),
	},
	{
		name: 'steadfetch client (defaults)',
		role: 'steadfetch',
		make: (options) => kyCall(createClient(kyOptions(options))),
	},
	{
		name: 'steadfetch fetch (defaults)',
		role: 'steadfetch',
		make: (options) => fetchCall(createFetch(), options),
	},
];
// DOMAINS_KEY=1: the same two with a user's key function, when the built package takes the option.
const keyContenders: Contender[] = [
	{
		name: 'steadfetch client (rateLimit.key)',
		role: 'steadfetch',
		make: (options) => kyCall(createClient({ ...keyed, ...kyOptions(options) })),
	},
	{
		name: 'steadfetch fetch (rateLimit.key)',
		role: 'steadfetch',
		make: (options) => fetchCall(createFetch(keyed), options),
	},
];
let keyContendersText = 'not run (DOMAINS_KEY=1 adds them)';
const contenders: Contender[] = [...baseContenders];
if (process.env.DOMAINS_KEY === '1') {
	const refusals = keyContenders.flatMap((contender) => {
		try {
			contender.make();
			contenders.push(contender);
			return [];
		} catch (error) {
			return [`${contender.name}: ${(error instanceof Error ? error.message : String(error)).replace(/\.$/, '')}`];
		}
	});
	keyContendersText =
		refusals.length === 0 ? 'run (DOMAINS_KEY=1)' : `asked for (DOMAINS_KEY=1), but the built package refused: ${refusals.join('; ')}`;
	for (const refusal of refusals) {
		console.log(`bench:domains: DOMAINS_KEY=1, but ${refusal}: that contender is left out`);
	}
}

// --- Calls, records, cells --------------------------------------------------------------------------------------------

interface CallRecord {
	/** performance.now() at its start and its end (NaN: unsettled). */
	readonly start: number;
	end: number;
	ok: boolean;
	failure: string | undefined;
	/** Ended without sending a request: steadfetch's pacing or breaker refused it. */
	refused: boolean;
}

const kindOf = failureKindOf(isSteadfetchError);
const refusedOf = (error: unknown) => isSteadfetchError(error) && error.attempts === 0;

/** The calls of one run of a scenario: every one of them can be aborted at the end, and waited for. */
class Calls {
	readonly #abort = new AbortController();
	readonly #running: Promise<void>[] = [];
	start(caller: Caller, call: Omit<CallSpec, 'signal'>, into: CallRecord[]): Promise<void> {
		const record: CallRecord = { start: performance.now(), end: Number.NaN, ok: false, failure: 'unsettled', refused: false };
		into.push(record);
		const signal = this.#abort.signal;
		const running = (async () => {
			try {
				const { status, refused } = await caller({ ...call, signal });
				record.ok = refused === undefined && ((status >= 200 && status < 300) || (call.alsoOk?.includes(status) ?? false));
				record.failure = record.ok ? undefined : refused === undefined ? String(status) : `${status} ${refused} (local)`;
				record.refused = refused !== undefined;
			} catch (error) {
				record.failure = signal.aborted ? 'aborted by the harness' : kindOf(error);
				record.refused = refusedOf(error);
			}
			record.end = performance.now();
		})();
		this.#running.push(running);
		return running;
	}
	/** Wait for every call, at most `drainMs`; abort the rest and give them a second to settle. */
	async finish(drainMs: number): Promise<void> {
		await within(Promise.all(this.#running), drainMs);
		this.#abort.abort();
		await within(Promise.all(this.#running), 1000);
	}
}

/** A stream of calls in open loop: `count` calls at `rate` per second from `offsetMs` after the loop's start. */
interface Stream {
	readonly rate: number;
	readonly count: number;
	readonly offsetMs: number;
	readonly fire: (index: number) => void;
}
/**
Start every stream's calls on schedule from `t0` (performance.now()): every call due by now starts now, however late;
bounded by the counts and by time (a stalled loop gives up `slackMs` past the schedule's end rather than chase it).
The lags of the calls' starts behind their schedule, sorted.
*/
async function openLoop(t0: number, streams: readonly Stream[], slackMs = 1000): Promise<number[]> {
	const next = streams.map(() => 0);
	const due = (stream: Stream, index: number) => t0 + stream.offsetMs + (index * 1000) / stream.rate;
	const end = Math.max(...streams.map((stream) => due(stream, stream.count - 1)));
	const lags: number[] = [];
	await sleep(Math.max(0, t0 - performance.now()));
	while (streams.some((stream, slot) => (next[slot] ?? 0) < stream.count) && performance.now() < end + slackMs) {
		const now = performance.now();
		for (const [slot, stream] of streams.entries()) {
			for (let index = next[slot] ?? 0; index < stream.count && due(stream, index) <= now; index = next[slot] = index + 1) {
				lags.push(now - due(stream, index));
				stream.fire(index);
			}
		}
		await sleep(1);
	}
	return lags.sort((a, b) => a - b);
}

const percentile = (sorted: readonly number[], p: number) =>
	sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0);
const median = (values: readonly number[]): number | null => {
	if (values.length === 0) {
		return null;
	}
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const round2 = (value: number) => Math.round(value * 100) / 100;

/** A row: the measured calls of one contender, the requests its API counted under `labels`, times from `phaseStart`. */
function cellOf(
	scenario: string,
	contender: Contender,
	records: readonly CallRecord[],
	seen: Seen,
	labels: readonly string[],
	phaseStart: number,
	lags: readonly number[],
	extra: (records: readonly CallRecord[], requests: number) => Record<string, number | null> = () => ({}),
): Cell {
	const successes = records.filter((record) => record.ok);
	const failures: Record<string, number> = {};
	for (const { failure } of records) {
		if (failure !== undefined) {
			failures[failure] = (failures[failure] ?? 0) + 1;
		}
	}
	const firstEnd = successes.length > 0 ? Math.min(...successes.map((record) => record.end)) : null;
	const settle = median(successes.map((record) => record.end - record.start));
	const requests = labels.reduce((sum, label) => sum + (seen.byLabel[label] ?? 0), 0);
	return {
		scenario,
		contender: contender.name,
		role: contender.role,
		total: records.length,
		completed: successes.length,
		requests,
		refused: records.filter((record) => record.refused).length,
		firstSuccessMs: firstEnd === null ? null : Math.max(0, Math.round(firstEnd - phaseStart)),
		medianMs: settle === null ? null : Math.round(settle),
		failures,
		extra: extra(records, requests),
		lagP99Ms: Math.round(percentile(lags, 99)),
	};
}

// --- The API's process --------------------------------------------------------------------------------------------------

const noSeen: Seen = { requests: 0, byLabel: {}, byStatus: {} };
const apis = startApis<Spec, Seen>(join(root, 'bench/domains-server.ts'), 'bench:domains', maxSeconds, 'DOMAINS_MAX_SECONDS', noSeen);
const url = (port: number, path: string) => `http://127.0.0.1:${port}${path}`;

// --- Scenarios ----------------------------------------------------------------------------------------------------------

interface Scenario {
	/** The rows it produces (several for variants run side by side). */
	readonly rows: readonly Omit<ScenarioInfo, 'rounds'>[];
	/** Rounds: many-origins runs once. */
	readonly rounds: number;
	/** About how long one round takes, in seconds, for the plan printed at the start. */
	readonly seconds: number;
	readonly run: () => Promise<Cell[]>;
}
const info = (
	key: string,
	title: string,
	about: string,
	primary: Primary = 'completed',
	firstSuccess = false,
): Omit<ScenarioInfo, 'rounds'> => ({
	key,
	title,
	about,
	primary,
	firstSuccess,
});
const s = (ms: number) => `${ms / 1000} s`;

/**
A measured phase for a group of slots, side by side: set the scene for each (awaited at most `setupMs`), then start the
streams in open loop from a common start, wait for the calls (at most `drainMs`), close the ports.
*/
interface Slot {
	readonly row: string;
	readonly contender: Contender;
	readonly spec: Spec;
	/** The API's labels the measured calls' requests are counted under. */
	readonly labels: readonly string[];
	readonly setup?: (port: number, calls: Calls) => Promise<unknown>;
	/** The streams of calls, given the slot's port and where to record the measured calls. */
	readonly streams: (port: number, calls: Calls, measured: CallRecord[]) => Stream[];
	readonly extra?: (records: readonly CallRecord[], requests: number) => Record<string, number | null>;
}
/**
The streams of a broken endpoint's calls (never measured) beside a healthy one's (measured, at `healthy`'s rate and count
from its offset, to `pathOf(index)`).
*/
const besideBroken =
	(caller: Caller, brokenCount: number, healthy: Omit<Stream, 'fire'>, pathOf: (index: number) => string): Slot['streams'] =>
	(port, calls, measured) => [
		{
			rate: brokenRate,
			count: brokenCount,
			offsetMs: 0,
			fire: (index) => void calls.start(caller, { url: url(port, `/broken/${index}`) }, []),
		},
		{ ...healthy, fire: (index) => void calls.start(caller, { url: url(port, pathOf(index)) }, measured) },
	];
async function runSlots(slots: readonly Slot[], setupMs: number, drainMs: number): Promise<Cell[]> {
	const ports = await Promise.all(slots.map(({ spec }) => apis.open(spec)));
	const calls = new Calls();
	await within(Promise.all(slots.map((slot, index) => slot.setup?.(ports[index] ?? 0, calls))), setupMs);
	const measured: CallRecord[][] = slots.map(() => []);
	const streams = slots.flatMap((slot, index) => slot.streams(ports[index] ?? 0, calls, measured[index] ?? []));
	const t0 = performance.now() + 50;
	const lags = await openLoop(t0, streams);
	await calls.finish(drainMs);
	const seen = await Promise.all(ports.map((port) => apis.close(port)));
	return slots.map((slot, index) => {
		const records = measured[index] ?? [];
		if (process.env.DOMAINS_DEBUG === '1') {
			const failed = records
				.filter((record) => !record.ok)
				.map((record) => `${Math.round(record.start - t0)}→${Math.round(record.end - t0)} ${record.failure}`);
			console.log(`    ${slot.row}, ${slot.contender.name}: failed calls (ms from the start) ${failed.join(', ') || 'none'}`);
		}
		return cellOf(slot.row, slot.contender, records, seen[index] ?? noSeen, slot.labels, t0, lags, slot.extra);
	});
}

/** Calls one after another (a setup), bounded by the number given. */
async function inTurn(count: number, call: (index: number) => Promise<unknown>): Promise<void> {
	for (let index = 0; index < count; index++) {
		await call(index);
	}
}

// 1. GitHub's buckets on one origin.
const searchLimit = 30;
const coreRate = 5;
function githubBuckets(key: string, spentStatus: 403 | 429, searchResetMs: number, coreSeconds: number, roundsHere = rounds): Scenario {
	const count = coreRate * coreSeconds;
	return {
		rows: [
			info(
				key,
				`GitHub buckets, search spent (${spentStatus}, reset ${s(searchResetMs)} ahead), then core calls at ${coreRate}/s for ${coreSeconds} s`,
				`One origin, buckets named by \`x-ratelimit-resource\` (core: 5000/h; search: ${searchLimit} per window). ${searchLimit} search calls spend the search bucket (the last says \`x-ratelimit-remaining: 0\`) and a ${searchLimit + 1}st meets the ${spentStatus}; then core calls, whose bucket is full.`,
				'completed',
				true,
			),
		],
		rounds: roundsHere,
		seconds: coreSeconds + 1,
		run: () =>
			runSlots(
				contenders.map((contender) => {
					const caller = contender.make();
					return {
						row: key,
						contender,
						spec: { kind: 'github', coreLimit: 5000, searchLimit, searchResetMs, spentStatus },
						labels: ['core'],
						setup: async (port, calls) => {
							await inTurn(searchLimit, (index) => calls.start(caller, { url: url(port, `/search/issues?q=bench+${index}`) }, []));
							// The spent bucket's answer (ky waits for a 429's reset: not awaited past the setup's bound).
							await within(calls.start(caller, { url: url(port, '/search/issues?q=bench+spent') }, []), 1500);
						},
						streams: (port, calls, measured) => [
							{
								rate: coreRate,
								count,
								offsetMs: 0,
								fire: (index) => void calls.start(caller, { url: url(port, `/repos/o/r/issues/${index}`) }, measured),
							},
						],
					};
				}),
				10_000,
				Math.min(3000, searchResetMs) + 2000,
			),
	};
}
function githubBurst(): Scenario {
	const key = 'github-buckets/burst';
	const burst = 50;
	return {
		rows: [
			info(
				key,
				`GitHub buckets, one ordinary search call (${searchLimit - 1} left), then ${burst} core calls at once`,
				'Nothing is spent: the search bucket has 29 requests left (its reset 45 s ahead) and core has 5000.',
				'completed',
				true,
			),
		],
		rounds,
		seconds: 0.5,
		run: () =>
			runSlots(
				contenders.map((contender) => {
					const caller = contender.make();
					return {
						row: key,
						contender,
						spec: { kind: 'github', coreLimit: 5000, searchLimit, searchResetMs: 45_000, spentStatus: 403 },
						labels: ['core'],
						setup: (port, calls) => calls.start(caller, { url: url(port, '/search/issues?q=bench') }, []),
						streams: (port, calls, measured) => [
							{
								rate: 1e6,
								count: burst,
								offsetMs: 0,
								fire: (index) => void calls.start(caller, { url: url(port, `/repos/o/r/issues/${index}`) }, measured),
							},
						],
					};
				}),
				2000,
				3000,
			),
	};
}

// 2. Conditional polling: 304s spend nothing.
function conditionalPolling(): Scenario {
	const key = 'conditional-polling';
	const polls = 30;
	const rate = quick ? 30 : 15;
	const remaining = 20;
	return {
		rows: [
			info(
				key,
				`${polls} conditional polls (\`If-None-Match\`) at ${rate}/s, every one answered 304`,
				`GitHub's rule: a 304 spends no request, so every response keeps saying \`x-ratelimit-remaining: ${remaining}\` with the reset an hour ahead. The first, unconditional request (a 200 with the ETag) is the scene, not counted.`,
			),
		],
		rounds,
		seconds: polls / rate,
		run: () =>
			runSlots(
				contenders.map((contender) => {
					const caller = contender.make();
					return {
						row: key,
						contender,
						spec: { kind: 'polling', limit: 60, remaining },
						labels: ['conditional'],
						setup: (port, calls) => calls.start(caller, { url: url(port, '/repos/o/r/events') }, []),
						streams: (port, calls, measured) => [
							{
								rate,
								count: polls,
								offsetMs: 0,
								fire: () =>
									void calls.start(
										caller,
										{ url: url(port, '/repos/o/r/events'), headers: { 'if-none-match': '"bench-events-1"' }, alsoOk: [304] },
										measured,
									),
							},
						],
					};
				}),
				2000,
				2000,
			),
	};
}

// 3. OpenAI: a window per model on one origin.
function openaiModels(): Scenario {
	const key = 'openai-models';
	const count = quick ? 50 : 250;
	const rate = quick ? 50 : 100;
	const spentResetMs = 45_000;
	const completion = (caller: Caller, port: number, calls: Calls, model: string, into: CallRecord[]) =>
		calls.start(
			caller,
			{
				url: url(port, '/v1/chat/completions'),
				method: 'POST',
				json: { model, messages: [{ role: 'user', content: 'hi' }] },
			},
			into,
		);
	return {
		rows: [
			info(
				key,
				`OpenAI models, model A spent (429, \`x-ratelimit-reset-requests: 45s\`), then ${count} calls for model B at ${rate}/s`,
				"POST /v1/chat/completions with `{model}`; each model has its own request window, in OpenAI's headers (`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go durations). B's window has plenty left. No contender retries a POST without an `Idempotency-Key`.",
				'completed',
				true,
			),
		],
		rounds,
		seconds: count / rate,
		run: () =>
			runSlots(
				contenders.map((contender) => {
					const caller = contender.make();
					return {
						row: key,
						contender,
						spec: { kind: 'openai', spentModel: 'model-a', spentResetMs, limit: 10_000 },
						labels: ['model-b'],
						setup: (port, calls) => completion(caller, port, calls, 'model-a', []),
						streams: (port, calls, measured) => [
							{ rate, count, offsetMs: 0, fire: () => void completion(caller, port, calls, 'model-b', measured) },
						],
					};
				}),
				2000,
				2000,
			),
	};
}

// 4. One quota per API key; alice's day is spent, bob's calls are measured.
function partitions(style: 'ietf' | 'github'): Scenario {
	const count = quick ? 50 : 100;
	const rate = 50;
	const prefix = style === 'ietf' ? 'ietf-partitions' : 'ietf-partitions/github-headers';
	const spentStatus = style === 'ietf' ? 429 : 403;
	const headers =
		style === 'ietf'
			? '`RateLimit-Policy: "burst";q=100;w=60, "day";q=1000;w=86400` and `RateLimit: "burst";r=..;t=..;pk=:<base64 key>:, "day";r=..;t=..;pk=:<base64 key>:`'
			: "GitHub's `x-ratelimit-*` headers of the token's own bucket";
	const alice = { authorization: 'Bearer alice' };
	const bob = { authorization: 'Bearer bob' };
	const modes = [
		{ mode: 'own', text: "bob's own client" },
		{ mode: 'shared', text: 'the same client, `Authorization` per call' },
	] as const;
	return {
		rows: modes.map(({ mode, text }) =>
			info(
				`${prefix}/${mode}`,
				`API keys, alice's day spent (${spentStatus}, reset in 2 h), then ${count} calls of bob at ${rate}/s through ${text}`,
				`One origin, one quota per key (\`Authorization: Bearer <key>\`), in ${headers}. Bob's quota is whole.`,
				'completed',
				true,
			),
		),
		rounds,
		seconds: count / rate + 0.5,
		run: () =>
			runSlots(
				contenders.flatMap((contender) =>
					modes.map(({ mode }): Slot => {
						const shared = mode === 'shared' ? contender.make() : undefined;
						const alices = shared ?? contender.make({ headers: alice });
						const bobs = shared ?? contender.make({ headers: bob });
						return {
							row: `${prefix}/${mode}`,
							contender,
							spec: { kind: 'partitions', style, spentKeys: ['alice'], spentResetSeconds: 7200, spentStatus },
							labels: ['bob'],
							setup: (port, calls) => calls.start(alices, { url: url(port, '/user'), ...(shared ? { headers: alice } : {}) }, []),
							streams: (port, calls, measured) => [
								{
									rate,
									count,
									offsetMs: 0,
									fire: (index) =>
										void calls.start(bobs, { url: url(port, `/items/${index}`), ...(shared ? { headers: bob } : {}) }, measured),
								},
							],
						};
					}),
				),
				2500,
				2000,
			),
	};
}

// 5. and 6. A broken endpoint beside healthy ones on one origin.
const brokenRate = 100;
function breakerEndpoints(hang: boolean): Scenario {
	const key = hang ? 'breaker-endpoints/hang' : 'breaker-endpoints';
	// Long enough for a breaker to open on the failures alone (10 in a row over 1 s; a hang's are told 300 ms late).
	const leadMs = hang ? 2500 : 2000;
	const healthyRate = quick ? 2 : 1;
	const healthySeconds = quick ? 3 : 8;
	const count = Math.round(healthyRate * healthySeconds);
	const brokenCount = Math.round((brokenRate * (leadMs + healthySeconds * 1000)) / 1000);
	return {
		rows: [
			info(
				key,
				hang
					? `A hanging endpoint at ${brokenRate} calls/s beside a healthy one at ${healthyRate}/s (timeout ${timeoutMs} ms for all)`
					: `An endpoint always 500 at ${brokenRate} calls/s beside a healthy one at ${healthyRate}/s`,
				`The broken endpoint takes calls for ${s(leadMs)} alone, then ${count} healthy calls are measured over ${healthySeconds} s while it keeps failing.${hang ? ` Every contender has a ${timeoutMs} ms timeout (the drop-in fetch: the caller's \`AbortSignal.timeout(${timeoutMs})\`, which ends the whole call and is never retried).` : ''}`,
			),
		],
		rounds,
		seconds: leadMs / 1000 + healthySeconds + 1,
		run: () =>
			runSlots(
				contenders.map((contender) => {
					const caller = contender.make(hang ? { timeoutMs } : {});
					return {
						row: key,
						contender,
						spec: { kind: 'faults', broken: hang ? 'hang' : 500, healthyFailRate: 0 },
						labels: ['healthy'],
						streams: besideBroken(caller, brokenCount, { rate: healthyRate, count, offsetMs: leadMs }, (index) => `/healthy/${index}`),
					};
				}),
				0,
				2500,
			),
	};
}
function budgetEndpoints(): Scenario {
	const key = 'budget-endpoints';
	const leadMs = 500;
	const healthyRate = 30;
	const healthySeconds = quick ? 2 : 6;
	const failRate = 0.1;
	const count = healthyRate * healthySeconds;
	const brokenCount = Math.round((brokenRate * (leadMs + healthySeconds * 1000)) / 1000);
	const endpoints = ['users', 'orders', 'items'];
	const pathOf = (index: number) => `/${endpoints[index % endpoints.length]}/${index}`;
	return {
		rows: [
			info(
				key,
				`Healthy endpoints with ${failRate * 100}% seeded 503s at ${healthyRate}/s beside one always 503 at ${brokenRate}/s`,
				`${count} healthy calls over ${healthySeconds} s, rotating over ${endpoints.length} endpoints; each attempt fails by a seeded plan (bench/plan.ts), the same for every contender, so the share that ${retryLimit} retries can save is known (1 − 0.1³ on average).`,
			),
		],
		rounds,
		seconds: leadMs / 1000 + healthySeconds + 1,
		run: () =>
			runSlots(
				contenders.map((contender) => {
					const caller = contender.make();
					return {
						row: key,
						contender,
						spec: { kind: 'faults', broken: 503, healthyFailRate: failRate },
						labels: ['healthy'],
						streams: besideBroken(caller, brokenCount, { rate: healthyRate, count, offsetMs: leadMs }, pathOf),
						extra: (records) => ({
							idealPercent: round2(
								(Array.from({ length: records.length }, (_, index) => index).filter((index) =>
									recoverable(pathOf(index), retryLimit + 1, failRate),
								).length /
									Math.max(1, records.length)) *
									100,
							),
						}),
					};
				}),
				0,
				2500,
			),
	};
}

// 7. Many origins, every response a 500: the contenders take turns, so that the process's memory is one client's.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = () => {
	gc();
	gc();
	return process.memoryUsage().heapUsed;
};
const perOrigin = 8;
const originRate = 600;
function manyOrigins(origins: number): Scenario {
	const key = `many-origins/${origins}`;
	const count = origins * perOrigin;
	return {
		rows: [
			info(
				key,
				`${origins} origins, every response 500: ${count} calls rotating over them at ${originRate}/s`,
				`Each origin is a port of its own on 127.0.0.1 (one process serves them all); ${perOrigin} calls per origin, round-robin. The contenders take turns; heap Δ is the process's heap (after GC) from before the calls to after them, the client still held; "client holds" is what letting the client go frees.`,
				'requestsPerCall',
			),
		],
		rounds: 1,
		seconds: contenders.length * (count / originRate + 1.5),
		run: async () => {
			const cells: Cell[] = [];
			for (const contender of contenders) {
				const ports = await Promise.all(Array.from({ length: origins }, () => apis.open({ kind: 'fail' })));
				const before = heapAfterGc();
				let caller: Caller | undefined = contender.make();
				let calls: Calls | undefined = new Calls();
				const measured: CallRecord[] = [];
				const t0 = performance.now() + 50;
				const lags = await openLoop(
					t0,
					[
						{
							rate: originRate,
							count,
							offsetMs: 0,
							fire: (index) =>
								void (calls as Calls).start(caller as Caller, { url: url(ports[index % origins] ?? 0, `/items/${index}`) }, measured),
						},
						// Every contender makes every call, however far behind a loaded machine puts the loop.
					],
					30_000,
				);
				await calls.finish(30_000);
				const after = heapAfterGc();
				caller = undefined;
				calls = undefined;
				const released = heapAfterGc();
				const seen = await Promise.all(ports.map((port) => apis.close(port)));
				const total: Seen = {
					requests: seen.reduce((sum, each) => sum + each.requests, 0),
					byLabel: { all: seen.reduce((sum, each) => sum + (each.byLabel.all ?? 0), 0) },
					byStatus: {},
				};
				cells.push(
					cellOf(key, contender, measured, total, ['all'], t0, lags, (records, requests) => ({
						requestsPerCall: round2(requests / Math.max(1, records.length)),
						heapDeltaKiB: Math.round((after - before) / 1024),
						retainedKiB: Math.round((after - released) / 1024),
						origins,
					})),
				);
			}
			return cells;
		},
	};
}

// 8. One API key whose own day is spent: every request a 429 for hours.
function ownBucketSpent(): Scenario {
	const key = 'own-bucket-spent';
	const count = 300;
	const rate = 150;
	return {
		rows: [
			info(
				key,
				`One API key whose day is spent (429, \`RateLimit: "day";r=0;t=14400\`), ${count} calls at ${rate}/s`,
				'Every request is answered 429 with the IETF fields (no `Retry-After`): the quota is back in 4 hours. The goal is about one request in all, where plain retries send three per call.',
				'requestsPerCall',
			),
		],
		rounds,
		seconds: count / rate + 0.5,
		run: () =>
			runSlots(
				contenders.map((contender) => {
					const caller = contender.make({ headers: { authorization: 'Bearer alice' } });
					return {
						row: key,
						contender,
						spec: { kind: 'partitions', style: 'ietf', spentKeys: ['alice'], spentResetSeconds: 14_400, spentStatus: 429 },
						labels: ['alice'],
						streams: (port, calls, measured) => [
							{ rate, count, offsetMs: 0, fire: (index) => void calls.start(caller, { url: url(port, `/items/${index}`) }, measured) },
						],
						extra: (records, requests) => ({ requestsPerCall: Math.round((requests / Math.max(1, records.length)) * 1000) / 1000 }),
					};
				}),
				0,
				2500,
			),
	};
}

const allScenarios: Scenario[] = [
	githubBuckets('github-buckets', 403, 45_000, quick ? 2 : 5),
	...(quick ? [] : [githubBuckets('github-buckets/429-short-reset', 429, 10_000, 11, 1)]),
	githubBurst(),
	conditionalPolling(),
	openaiModels(),
	partitions('ietf'),
	partitions('github'),
	breakerEndpoints(false),
	breakerEndpoints(true),
	budgetEndpoints(),
	...originCounts.map(manyOrigins),
	ownBucketSpent(),
];
const scenarios = allScenarios.filter(({ rows }) => only?.some((prefix) => rows.some(({ key }) => key.startsWith(prefix))) ?? true);

// --- The run ----------------------------------------------------------------------------------------------------------

/** Many rounds of one scenario as one cell per row and contender: the median of every figure. */
function medianCells(roundsOf: readonly (readonly Cell[])[]): Cell[] {
	const first = roundsOf[0] ?? [];
	return first.map((cell) => {
		const same = roundsOf.flatMap((cells) => cells.filter((each) => each.scenario === cell.scenario && each.contender === cell.contender));
		const of = (pick: (each: Cell) => number | null) => {
			const values = same.map(pick).filter((value): value is number => value !== null);
			// A figure that is null in most rounds (no success at all) stays null.
			return values.length * 2 > same.length ? median(values) : null;
		};
		const completed = of((each) => each.completed) ?? 0;
		// The failures of the round closest to the median completion.
		const typical = [...same].sort((a, b) => Math.abs(a.completed - completed) - Math.abs(b.completed - completed))[0] ?? cell;
		const extraKeys = [...new Set(same.flatMap((each) => Object.keys(each.extra)))];
		return {
			...cell,
			total: of((each) => each.total) ?? 0,
			completed,
			requests: of((each) => each.requests) ?? 0,
			refused: of((each) => each.refused) ?? 0,
			firstSuccessMs: of((each) => each.firstSuccessMs),
			medianMs: of((each) => each.medianMs),
			failures: typical.failures,
			extra: Object.fromEntries(extraKeys.map((name) => [name, of((each) => each.extra[name] ?? null)])),
			lagP99Ms: Math.max(...same.map((each) => each.lagP99Ms)),
		};
	});
}

const plannedSeconds = scenarios.reduce((sum, scenario) => sum + scenario.rounds * scenario.seconds, 0);
console.log(
	`bench:domains${quick ? ' --quick' : ''}: ${scenarios.flatMap(({ rows }) => rows).length} rows, ${contenders.length} contenders, ${rounds} round${rounds === 1 ? '' : 's'}: about ${Math.round(plannedSeconds)} s`,
);
const startedAt = new Date();
const started = performance.now();
const cells: Cell[] = [];
for (const scenario of scenarios) {
	const roundsOf: Cell[][] = [];
	for (let round = 0; round < scenario.rounds; round++) {
		const began = performance.now();
		roundsOf.push(await scenario.run());
		console.log(
			`${scenario.rows.map(({ key }) => key).join(', ')}: round ${round + 1} in ${((performance.now() - began) / 1000).toFixed(1)} s`,
		);
	}
	for (const cell of medianCells(roundsOf)) {
		cells.push(cell);
		const first = cell.firstSuccessMs === null ? 'none' : `${cell.firstSuccessMs} ms`;
		console.log(
			`  ${cell.scenario}, ${cell.contender}: ${cell.completed}/${cell.total} completed, ${cell.requests} requests, ${cell.refused} refused, first success ${first}; lag p99 ${cell.lagP99Ms} ms; ${JSON.stringify(cell.extra)} ${JSON.stringify(cell.failures)}`,
		);
	}
}
apis.finish();
let distAfter: { readonly hash: string } | undefined;
try {
	distAfter = distFingerprint();
} catch {
	distAfter = undefined;
}
if (distAfter?.hash !== dist.hash) {
	console.error(
		`bench:domains: dist/ changed during the run (${dist.hash} → ${distAfter?.hash ?? 'missing'}): the figures may mix two builds`,
	);
}

const output: Results = {
	date: startedAt.toISOString(),
	command: quick ? 'node bench/domains.ts --quick' : 'node bench/domains.ts',
	seconds: Math.round((performance.now() - started) / 100) / 10,
	machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: process.platform },
	settings: { quick, rounds, retryLimit, timeoutMs, keyContenders: keyContendersText },
	dist,
	contenders: contenders.map(({ name }) => name),
	scenarios: scenarios.flatMap(({ rows, rounds: roundsRun }) => rows.map((row) => ({ ...row, rounds: roundsRun }))),
	cells,
};
// The harness itself must work, whatever the figures: every call settled, and ky's requests reached the API.
const broken = cells
	.filter((cell) => cell.total === 0 || cell.failures.unsettled || (cell.role === 'ky' && cell.requests === 0))
	.map((cell) => `${cell.scenario} ${cell.contender}`);
const out = quick ? mkdtempSync(join(tmpdir(), 'steadfetch-domains-')) : root;
const written = join(out, quick ? 'domains.json' : 'bench/domains.json');
writeFileSync(written, `${JSON.stringify(output, null, '\t')}\n`);
if (!quick) {
	// In the repository's style, so that `npm run lint` passes on the file as written.
	execFileSync(join(root, 'node_modules/.bin/biome'), ['format', '--write', written], { stdio: 'ignore' });
}
// The table comes from the file just written, as `--report` makes it: the same figures give the same page.
const results = JSON.parse(readFileSync(written, 'utf8')) as Results;
console.log(`\n${renderTable(results)}\n`);
const differing = differences(results);
console.log(
	differing.length === 0 ? 'Completions that differ from ky: none' : `Completions that differ from ky:\n  ${differing.join('\n  ')}`,
);
if (quick) {
	console.log(`\nquick run in ${output.seconds} s: wrote ${written} (the repository is left as it is)`);
} else {
	console.log(
		`\nfull run in ${output.seconds} s: wrote bench/domains.json; \`node bench/domains.ts --report\` renders it into docs/resilience.md`,
	);
}
const worse = results.cells.filter((cell) => verdict(results, cell) === '✗');
if (broken.length > 0) {
	console.error(`bench:domains: the harness failed in ${broken.join('; ')}`);
	process.exitCode = 1;
} else if (process.env.DOMAINS_STRICT === '1' && worse.length > 0) {
	console.error(`bench:domains: ${worse.length} steadfetch rows do worse than ky (DOMAINS_STRICT=1)`);
	process.exitCode = 1;
}
