// Renders bench/domains.json as the domains section of docs/resilience.md (between `<!-- domains:start -->` and
// `<!-- domains:end -->`, which the page must have: nothing is appended). A pure function of the file: every ✓ and ✗ is
// computed here from the figures, never written by hand; `node bench/domains.ts --report` gives the same text from the
// same file.
import { type DocSection, docSection, type RunInfo } from './doc-section.ts';

/** What a scenario is judged by: completed calls (more is better) or requests per call (fewer is better). */
export type Primary = 'completed' | 'requestsPerCall';

export interface ScenarioInfo {
	/** The row's key, e.g. `github-buckets` or `ietf-partitions/same-client`. */
	readonly key: string;
	readonly title: string;
	readonly about: string;
	readonly primary: Primary;
	/** Whether "first success after the other domain's exhaustion" means anything here. */
	readonly firstSuccess: boolean;
	/** How many times it ran: its figures are the medians of its rounds. */
	readonly rounds: number;
}

export interface Cell {
	readonly scenario: string;
	readonly contender: string;
	/** ky is the reference every steadfetch row is held to. */
	readonly role: 'ky' | 'steadfetch';
	/** The calls measured (the scene set before them, an exhausted bucket, is not counted). */
	readonly total: number;
	readonly completed: number;
	/** The measured calls' requests, as the API counted them. */
	readonly requests: number;
	/** Calls that ended without sending a request (steadfetch's pacing or breaker refused them). */
	readonly refused: number;
	/** From the measured phase's start (right after the other domain was exhausted) to the first success's end; null: none. */
	readonly firstSuccessMs: number | null;
	/** Of the completed calls, start to settle. */
	readonly medianMs: number | null;
	/** Calls that did not complete, by kind: status and steadfetch's stop reason, or the error's name. */
	readonly failures: Record<string, number>;
	/** Figures of one scenario: `requestsPerCall`, `idealPercent`, `heapDeltaKiB`, `retainedKiB`, `origins`. */
	readonly extra: Record<string, number | null>;
	/** How late the open loop started its calls (99th percentile, ms). */
	readonly lagP99Ms: number;
}

export interface Results extends RunInfo {
	readonly settings: {
		readonly quick: boolean;
		/** Rounds of a scenario unless it says otherwise (many-origins runs once); its figures are the medians of its rounds. */
		readonly rounds: number;
		readonly retryLimit: number;
		readonly timeoutMs: number;
		/** Whether the `rateLimit: { key }` contenders ran (DOMAINS_KEY=1), and why not when asked for. */
		readonly keyContenders: string;
	};
	/** The build measured: a hash of dist/'s JavaScript and when dist/index.js was written. */
	readonly dist: { readonly hash: string; readonly builtAt: string };
	readonly contenders: readonly string[];
	readonly scenarios: readonly ScenarioInfo[];
	readonly cells: readonly Cell[];
}

/** The domains section of docs/resilience.md: the page must have its markers, which are not added here. */
export const markers: DocSection = docSection('domains', 'docs/resilience.md', false);
const lateMs = 100;

const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;

/** The ky row a steadfetch row is held to: same scenario. */
const reference = (results: Results, cell: Cell) =>
	results.cells.find((each) => each.scenario === cell.scenario && each.role === 'ky' && each.contender.startsWith('ky'));

const perCall = (cell: Cell) => cell.extra.requestsPerCall ?? (cell.total > 0 ? cell.requests / cell.total : null);

/** ✓ when the steadfetch row does at least as well as ky on the scenario's primary figure, ✗ when worse; – for ky. */
export function verdict(results: Results, cell: Cell): '✓' | '✗' | '–' {
	const ky = reference(results, cell);
	const info = results.scenarios.find(({ key }) => key === cell.scenario);
	if (cell.role === 'ky' || !ky || !info) {
		return '–';
	}
	if (info.primary === 'completed') {
		return cell.completed >= ky.completed ? '✓' : '✗';
	}
	const mine = perCall(cell);
	const theirs = perCall(ky);
	return mine !== null && theirs !== null && mine <= theirs ? '✓' : '✗';
}

/** The steadfetch rows whose completions differ from ky's in the same scenario, as lines of text. */
export function differences(results: Results): string[] {
	return results.cells.flatMap((cell) => {
		const ky = reference(results, cell);
		if (cell.role === 'ky' || !ky || ky.completed === cell.completed) {
			return [];
		}
		const sign = cell.completed > ky.completed ? '+' : '−';
		return `${cell.scenario}: ${cell.contender} ${cell.completed}/${cell.total} vs ${ky.contender} ${ky.completed}/${ky.total} (${sign}${Math.abs(cell.completed - ky.completed)})`;
	});
}

const kib = (value: number | null | undefined) => (value === null || value === undefined ? '–' : `${Math.round(value)} KiB`);
function notes(cell: Cell): string {
	const parts: string[] = [];
	const { extra } = cell;
	if (extra.requestsPerCall !== undefined && extra.requestsPerCall !== null) {
		parts.push(`${extra.requestsPerCall.toFixed(extra.requestsPerCall < 0.1 ? 3 : 2)} req/call`);
	}
	if (extra.idealPercent !== undefined && extra.idealPercent !== null) {
		parts.push(`${((cell.completed / Math.max(1, cell.total)) * 100).toFixed(1)}% ok (plan allows ${extra.idealPercent.toFixed(1)}%)`);
	}
	if (extra.heapDeltaKiB !== undefined) {
		parts.push(`heap Δ ${kib(extra.heapDeltaKiB)}, client holds ${kib(extra.retainedKiB)}`);
	}
	const kinds = Object.entries(cell.failures)
		.sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
		.map(([kind, count]) => `${kind}: ${count}`);
	if (kinds.length > 0) {
		parts.push(`failed: ${kinds.join(', ')}`);
	}
	if (cell.lagP99Ms > lateMs) {
		parts.push(`loop ${cell.lagP99Ms} ms late †`);
	}
	return parts.join('; ') || ' ';
}

/** The table alone: one row per scenario and contender. */
export function renderTable(results: Results): string {
	const header = [
		'scenario',
		'contender',
		'completed / total',
		'requests sent',
		'refused without a request',
		'first success after exhaustion (ms)',
		'steadfetch ≥ ky',
		'notes',
	];
	const rows = results.scenarios.flatMap((info) =>
		results.contenders.flatMap((contender) => {
			const cell = results.cells.find((each) => each.scenario === info.key && each.contender === contender);
			if (!cell) {
				return [];
			}
			const first = info.firstSuccess ? (cell.firstSuccessMs === null ? 'none' : String(Math.round(cell.firstSuccessMs))) : '–';
			return [
				line([
					`\`${info.key}\``,
					contender,
					`${cell.completed} / ${cell.total}`,
					cell.requests,
					cell.refused,
					first,
					verdict(results, cell),
					notes(cell),
				]),
			];
		}),
	);
	return [line(header), line(header.map(() => '---')), ...rows].join('\n');
}

/** The generated section of docs/resilience.md, markers included. */
export function renderSection(results: Results): string {
	const { settings, machine } = results;
	const rounds =
		settings.rounds > 1
			? `each scenario ran ${settings.rounds} times unless its line says otherwise, and every figure is the median of its rounds`
			: 'each scenario ran once';
	const roundsOf = (info: ScenarioInfo) =>
		info.rounds === settings.rounds ? '' : ` (${info.rounds === 1 ? 'once' : `${info.rounds} rounds`})`;
	const about = results.scenarios.map((info) => `- \`${info.key}\`${roundsOf(info)}: ${info.title}. ${info.about}`).join('\n');
	const differing = differences(results);
	const lost = results.cells.filter((cell) => verdict(results, cell) === '✗').length;
	return `${markers.start}
## One domain's trouble, another domain's calls

Generated by \`${results.command}\` on ${results.date.slice(0, 10)} in ${results.seconds} s (${machine.cpus} × ${machine.cpu}, Node ${machine.node}, ${machine.platform}), against the build in \`dist/\` of ${results.dist.builtAt.slice(0, 16).replace('T', ' ')} UTC (${results.dist.hash}), from \`bench/domains.json\`; \`node bench/domains.ts --report\` renders this section again from that file without measuring; ${rounds}.

Each scenario spends or breaks one domain of an API (a rate-limit bucket, a model, an API key, an endpoint) and then measures calls to another domain that is healthy, side by side for ky 2 (\`ky.create({retry: {limit: ${settings.retryLimit}}})\`), steadfetch's \`createClient()\` and \`createFetch()\` at their defaults. Every contender gets its own ports on 127.0.0.1 (its own quota and state) from an API in a child process (\`bench/domains-server.ts\`). Calls start in open loop. Where a scenario needs a timeout, every contender has ${settings.timeoutMs} ms (the drop-in fetch through the caller's \`AbortSignal.timeout\`). \`rateLimit: { key }\` contenders: ${settings.keyContenders}.

${about}

${renderTable(results)}

- **completed / total**: measured calls that ended with the expected response; **requests sent**: their requests, as the API counted them; **refused without a request**: calls that ended with no request sent (pacing or an open breaker).
- **first success after exhaustion**: ms from the start of the measured calls, right after the other domain was exhausted, to the first one that completed; none: not one did.
- **steadfetch ≥ ky**: ✓ when the row completes at least as many calls as ky in the same scenario (for \`many-origins\` and \`own-bucket-spent\`: sends at most as many requests per call); ${lost === 0 ? 'every steadfetch row does' : `${lost} row${lost === 1 ? '' : 's'} do${lost === 1 ? 'es' : ''} not`}.
- Completions that differ from ky's${differing.length === 0 ? ': none' : `:\n${differing.map((text) => `  - ${text}`).join('\n')}`}
${markers.end}`;
}
