import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src/', import.meta.url));
const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
	.filter((file) => file.endsWith('.ts'))
	.map((file) => file.split('\\').join('/'));
const text = (file: string) => readFileSync(join(src, file), 'utf8');
// Every `from '...'` of a module, resolved to a path under src/ (packages as they are).
const importsOf = (file: string): string[] =>
	[...text(file).matchAll(/from '([^']+)'/g)].map(([, target = '']) =>
		target.startsWith('.')
			? relative(src, join(src, file, '..', target))
					.split('\\')
					.join('/')
			: target,
	);

// The house, stage by stage: a module imports only from earlier stages (errors/ also from its own folder).
// options -> policy -> origins -> attempt engine -> the loop -> drivers (client, fetch, then job) -> index; errors are a leaf fed with facts.
const stages: readonly (readonly string[])[] = [
	[
		'types.ts',
		'body.ts',
		'clock.ts',
		'diagnostics.ts',
		'redact.ts',
		'catalog.ts',
		'budget.ts',
		'breaker.ts',
		'ratelimit.ts',
		'read-options.ts',
		'lru.ts',
	],
	['catalog.data.ts', 'errors/', 'pacer.ts', 'redirects.ts', 'binding.ts'],
	['options.ts'],
	['defaults.ts', 'rules.ts'],
	['normalize.ts'],
	['policy.ts'],
	['origins.ts'],
	['attempt.ts'],
	['loop.ts'],
	['retry-hooks.ts'],
	['client.ts', 'fetch.ts'],
	['job.ts'],
	['queue-action.ts', 'queue-circuit.ts'],
	['queue-run.ts'],
	['bullmq.ts', 'otel-metrics.ts'],
	['otel.ts'],
	['index.ts'],
];
const stageOf = (file: string): number =>
	stages.findIndex((stage) => stage.some((entry) => file === entry || (entry.endsWith('/') && file.startsWith(entry))));

describe('the layout of src/', () => {
	it('places every source file in a stage', () => {
		assert.deepEqual(
			files.filter((file) => stageOf(file) === -1),
			[],
		);
	});

	it('imports only from earlier stages: no circle, no file reaching forward', () => {
		const forward: string[] = [];
		for (const file of files) {
			for (const target of importsOf(file).filter((path) => path.endsWith('.ts'))) {
				const sameFolder = file.startsWith('errors/') && target.startsWith('errors/');
				if (stageOf(target) >= stageOf(file) && !sameFolder) {
					forward.push(`${file} -> ${target}`);
				}
			}
		}
		assert.deepEqual(forward, []);
	});

	it('keeps errors a leaf: they import only the shared types, the catalog, redaction and ky', () => {
		const allowed = new Set(['types.ts', 'catalog.ts', 'redact.ts', 'ky']);
		const reached = files
			.filter((file) => file.startsWith('errors/'))
			.flatMap((file) => importsOf(file).filter((target) => !allowed.has(target) && !target.startsWith('errors/')));
		assert.deepEqual(reached, []);
	});

	it('decides in one place: the drivers never call the policy or the guards themselves', () => {
		const engineOnly = /\b(?:decide|guardDecision|spend|report)\b/;
		for (const driver of ['client.ts', 'fetch.ts', 'job.ts']) {
			const imports = [...text(driver).matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'\.\/(?:policy|origins)\.ts'/g)].map(
				([, names]) => names,
			);
			assert.ok(!imports.some((names) => engineOnly.test(names ?? '')), `${driver} imports the decision step: ${imports.join(', ')}`);
			assert.match(text(driver), /from '\.\/attempt\.ts'/, `${driver} drives the attempt engine`);
		}
	});

	it('re-exports only from src/index.ts', () => {
		// The module's doc comment (the API reference's name for the entry) is no statement.
		const statements = text('index.ts')
			.replace(/^\/\*\*.*?\*\/\s*/s, '')
			.split(/;\s*/)
			.map((statement) => statement.trim())
			.filter(Boolean);
		assert.ok(statements.every((statement) => /^export (?:type )?(?:\{[^}]*\}|\*) from '\.\/[\w/.-]+\.ts'$/s.test(statement)));
	});
});
