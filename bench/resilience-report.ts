// Renders bench/resilience.json as the tables of docs/resilience.md (between the resilience markers). A pure function
// of the file: every ✓ and ✗ is computed here from the figures and the targets the file carries, never written by hand.
import { type DocSection, docSection, type RunInfo } from './doc-section.ts';

/** A measure's target: `op` against `value`, against the row's own `field`, or against `contender`'s same measure. */
export interface Target {
	readonly op: '<=' | '>=';
	readonly value?: number;
	readonly field?: string;
	readonly contender?: string;
	/** Added to the threshold: -1 is "minus 1 point". */
	readonly offset?: number;
	/** The call rates the target is set for; every rate when absent. */
	readonly rates?: readonly number[];
}
export interface MeasureSpec {
	readonly key: string;
	readonly label: string;
	readonly unit: '%' | 'x' | 'ms';
	/** Which calls (by start time) and which requests (by arrival time) it counts. */
	readonly window: string;
	readonly target?: Target;
}
export interface Cell {
	readonly rate: number;
	readonly contender: string;
	readonly calls: number;
	readonly requests: number;
	readonly seconds: number;
	/** How late the open loop started its calls (ms behind schedule): a loaded driver shows here. */
	readonly lagP99Ms: number;
	readonly lagMaxMs: number;
	/** Failed calls by error name. */
	readonly errors: Record<string, number>;
	readonly values: Record<string, number | null>;
}
export interface ScenarioResult {
	readonly key: string;
	readonly title: string;
	readonly about: string;
	readonly measures: readonly MeasureSpec[];
	readonly cells: readonly Cell[];
}
export interface Results extends RunInfo {
	readonly settings: {
		readonly rates: readonly number[];
		readonly leadMs: number;
		readonly recoveryMs: number;
		readonly groupRate: number;
		readonly retryLimit: number;
		readonly hangTimeoutMs: number;
	};
	readonly contenders: readonly string[];
	readonly scenarios: readonly ScenarioResult[];
}

/** The tables' section of docs/resilience.md (the page must have its markers). */
export const markers: DocSection = docSection('resilience', 'docs/resilience.md', false);
// A cell whose calls started later than this (99th percentile) had a CPU-bound driver, whose retries ran late too:
// a tenth of the shortest window, the first second after recovery.
const lateMs = 100;

const format = (value: number, unit: MeasureSpec['unit']): string => (unit === 'x' ? value.toFixed(2) : String(value));

function targetText(measure: MeasureSpec, measures: readonly MeasureSpec[]): string {
	const { target } = measure;
	if (!target) {
		return '';
	}
	const op = target.op === '<=' ? '≤' : '≥';
	const offset = target.offset ? ` ${target.offset < 0 ? '−' : '+'} ${Math.abs(target.offset)}` : '';
	const field = measures.find(({ key }) => key === target.field)?.label;
	const base = target.value !== undefined ? format(target.value, measure.unit) : (target.contender ?? field ?? '?');
	const rates = target.rates ? ` at ${target.rates.join(' and ')} calls/s` : '';
	return `${op} ${base}${offset}${rates}`;
}

// The threshold for one cell, or undefined when a figure it needs is missing (no calls started in the window).
function threshold(target: Target, measure: MeasureSpec, cell: Cell, cells: readonly Cell[]): number | undefined {
	const base =
		target.value ??
		(target.field !== undefined
			? cell.values[target.field]
			: cells.find((other) => other.rate === cell.rate && other.contender === target.contender)?.values[measure.key]);
	return base === null || base === undefined ? undefined : base + (target.offset ?? 0);
}

function mark(measure: MeasureSpec, cell: Cell, cells: readonly Cell[]): string {
	const value = cell.values[measure.key];
	if (value === null || value === undefined) {
		return '–';
	}
	const { target } = measure;
	const limit = target && (target.rates?.includes(cell.rate) ?? true) ? threshold(target, measure, cell, cells) : undefined;
	if (limit === undefined) {
		return format(value, measure.unit);
	}
	const met = target?.op === '<=' ? value <= limit : value >= limit;
	return `${format(value, measure.unit)} ${met ? '✓' : '✗'}`;
}

const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;

function renderScenario(scenario: ScenarioResult, results: Results, index: number): string {
	const { rates } = results.settings;
	const header = ['contender', ...scenario.measures.flatMap((measure) => rates.map((rate) => `${measure.label}, ${rate}/s`))];
	const rows = results.contenders.map((contender) =>
		line([
			contender,
			...scenario.measures.flatMap((measure) =>
				rates.map((rate) => {
					const cell = scenario.cells.find((each) => each.rate === rate && each.contender === contender);
					return cell ? `${mark(measure, cell, scenario.cells)}${cell.lagP99Ms > lateMs ? ' †' : ''}` : '–';
				}),
			),
		]),
	);
	const legend = scenario.measures.map(
		(measure) =>
			`- **${measure.label}** (${measure.unit}): ${measure.window}.${measure.target ? ` Target: ${targetText(measure, scenario.measures)}.` : ''}`,
	);
	return [
		`### ${index + 1}. ${scenario.title}`,
		'',
		scenario.about,
		'',
		line(header),
		line(header.map(() => '---')),
		...rows,
		'',
		...legend,
	].join('\n');
}

/** The generated part of docs/resilience.md, markers included. */
export function renderSection(results: Results): string {
	const { settings, machine } = results;
	const cells = results.scenarios.flatMap((scenario) => scenario.cells);
	const lagP99 = Math.max(0, ...cells.map((cell) => cell.lagP99Ms));
	const lagMax = Math.max(0, ...cells.map((cell) => cell.lagMaxMs));
	const rates = settings.rates.map((rate) => `${rate}`).join(', ');
	return `${markers.start}
Generated by \`${results.command}\` on ${results.date.slice(0, 10)} in ${results.seconds} s (${machine.cpus} × ${machine.cpu}, Node ${machine.node}, ${machine.platform}), from \`bench/resilience.json\`; \`node bench/resilience.ts --report\` renders these tables again from that file without measuring.

Calls start in open loop at ${rates} calls per second, each scenario with ${settings.leadMs / 1000} s healthy, then the fault, then ${settings.recoveryMs / 1000} s healthy. Each contender gets a fresh instance and its own port (so no per-origin state carries over) and every call its own path, so the seeded plans of the partial and flaky scenarios draw alike for every contender. Contenders run side by side as long as their rates add up to at most ${settings.groupRate} calls/s, otherwise in turn. Each cell ran once, at full size: no medians over repeated runs, so read differences of a point or two as noise. The open loop started its calls at most ${lagP99} ms late (99th percentile of the worst cell; ${lagMax} ms at worst).

All use their library's own backoff. steadfetch retries ${settings.retryLimit} times by default (300 ms × 2ⁿ, full jitter); \`ky (limit 2)\` is ky 2 with \`retry: {limit: ${settings.retryLimit}}\`, its default: the same number of retries, 300 and 600 ms without jitter, and timeouts are not retried (\`retryOnTimeout: false\`). In the hang, every contender has \`timeout: ${settings.hangTimeoutMs}\`; the drop-in fetch has no timeout option, so it gets \`AbortSignal.timeout(${settings.hangTimeoutMs})\` per call, which ends the whole call (an aborted call is not retried).

The targets are those of the defaults (issue 10); the other rows are marked against the same targets for comparison. † marks a figure whose calls started more than ${lateMs} ms late (99th percentile): the driver was short of CPU, so its retries ran late too, and the figure is not to be trusted.

${results.scenarios.map((scenario, index) => renderScenario(scenario, results, index)).join('\n\n')}
${markers.end}`;
}
