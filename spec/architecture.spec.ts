import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src/', import.meta.url));
const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
	.filter((file) => file.endsWith('.ts'))
	.map((file) => file.split('\\').join('/'));
const text = (file: string) => readFileSync(join(src, file), 'utf8');
// Every `from '...'` of a module, resolved to a path under src/ (packages as they are). The doc comments' examples
// (`import … from 'steadfetch'`) name packages, never a relative path, so they only show up as packages.
const importsOf = (file: string): string[] =>
	[...text(file).matchAll(/from '([^']+)'/g)].map(([, target = '']) =>
		target.startsWith('.')
			? relative(src, join(src, file, '..', target))
					.split('\\')
					.join('/')
			: target,
	);
const ownImportsOf = (file: string): string[] => importsOf(file).filter((target) => target.endsWith('.ts'));

// The house, layer by layer (docs/architecture.md): a module imports from earlier layers and from its own.
const layers: readonly string[] = [
	'types.ts',
	'secrets/',
	'catalog/',
	'errors/',
	'options/',
	'engine/',
	'surfaces/',
	'adapters/',
	'index.ts',
];
const layerOf = (file: string): number => layers.findIndex((layer) => file === layer || (layer.endsWith('/') && file.startsWith(layer)));
const folderOf = (file: string): string => file.slice(0, file.lastIndexOf('/') + 1);

describe('the layout of src/', () => {
	it('places every source file in a layer, and nothing but index.ts and the types leaf at the top', () => {
		assert.deepEqual(
			files.filter((file) => layerOf(file) === -1),
			[],
		);
		assert.deepEqual(
			files.filter((file) => !file.includes('/')),
			['index.ts', 'types.ts'],
		);
	});

	it('imports only from earlier layers and its own: no file reaches forward', () => {
		const forward = files.flatMap((file) =>
			ownImportsOf(file)
				.filter((target) => layerOf(target) > layerOf(file))
				.map((target) => `${file} -> ${target}`),
		);
		assert.deepEqual(forward, []);
	});

	it('has no circle of imports, inside a layer or across', () => {
		const state = new Map<string, 'visiting' | 'done'>();
		const circles: string[] = [];
		const visit = (file: string, path: readonly string[]): void => {
			if (state.get(file) === 'done') {
				return;
			}
			if (state.get(file) === 'visiting') {
				circles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
				return;
			}
			state.set(file, 'visiting');
			for (const target of ownImportsOf(file)) {
				visit(target, [...path, file]);
			}
			state.set(file, 'done');
		};
		for (const file of files) {
			visit(file, []);
		}
		assert.deepEqual(circles, []);
	});

	it('keeps the types leaf, secrets and the catalog free of anything else of ours', () => {
		const reached = files.flatMap((file) => {
			const own = ownImportsOf(file);
			if (file === 'types.ts') {
				return own.map((target) => `${file} -> ${target}`);
			}
			if (file.startsWith('secrets/') || file.startsWith('catalog/')) {
				return own.filter((target) => folderOf(target) !== folderOf(file)).map((target) => `${file} -> ${target}`);
			}
			return [];
		});
		assert.deepEqual(reached, []);
	});

	it('keeps errors a leaf: they import only the shared types, the catalog, secrets and ky', () => {
		const reached = files
			.filter((file) => file.startsWith('errors/'))
			.flatMap((file) =>
				importsOf(file).filter((target) => !['types.ts', 'ky'].includes(target) && !/^(?:errors|catalog|secrets)\//.test(target)),
			);
		assert.deepEqual(reached, []);
	});

	it('decides in one place: the surfaces drive the engine and never call the policy or the guards themselves', () => {
		const engineOnly = /\b(?:decide|guardDecision|spend|report)\b/;
		for (const surface of ['surfaces/client.ts', 'surfaces/fetch.ts', 'surfaces/job.ts']) {
			const imports = [
				...text(surface).matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'\.\.\/engine\/(?:policy|guards\/\w+)\.ts'/g),
			].map(([, names]) => names);
			assert.ok(!imports.some((names) => engineOnly.test(names ?? '')), `${surface} imports the decision step: ${imports.join(', ')}`);
			assert.match(text(surface), /from '\.\.\/engine\/(?:call|job-policy)\.ts'/, `${surface} drives the attempt engine`);
		}
	});

	it('keeps each adapter behind its own subpath: its peer imported only there, no adapter importing another, none from index.ts', () => {
		const peers: Readonly<Record<string, RegExp>> = { 'adapters/bullmq/': /^bullmq$/, 'adapters/otel/': /^@opentelemetry\// };
		const misplaced = files.flatMap((file) =>
			Object.entries(peers).flatMap(([home, peer]) =>
				importsOf(file)
					.filter((target) => peer.test(target) && !file.startsWith(home))
					.map((target) => `${file} -> ${target}`),
			),
		);
		assert.deepEqual(misplaced, []);
		const across = files
			.filter((file) => file.startsWith('adapters/'))
			.flatMap((file) =>
				ownImportsOf(file)
					.filter((target) => target.startsWith('adapters/') && !target.startsWith(folderOf(file)))
					.map((target) => `${file} -> ${target}`),
			);
		assert.deepEqual(across, []);
		assert.deepEqual(
			ownImportsOf('index.ts').filter((target) => target.startsWith('adapters/')),
			[],
		);
	});

	it('keeps one of each helper: one LRU, one job binding, one lookup of the runtime modules', () => {
		const holders = (pattern: RegExp) => files.filter((file) => pattern.test(text(file)));
		assert.deepEqual(holders(/\bclass \w*Lru\b|\bclass \w*Cache\b/), ['engine/lru.ts']);
		assert.deepEqual(holders(/export function bindTo\b|export function bindable\b/), ['engine/binding.ts']);
		assert.deepEqual(holders(/getBuiltinModule\?*\.?\(/), ['engine/diagnostics.ts']);
	});

	it("keeps the entries (index.ts and each adapter's) to re-exports", () => {
		for (const entry of ['index.ts', 'adapters/bullmq/index.ts', 'adapters/otel/index.ts']) {
			// The module's doc comment (the API reference's name for the entry) is no statement.
			const statements = text(entry)
				.replace(/^\/\*\*.*?\*\/\s*/s, '')
				.split(/;\s*/)
				.map((statement) => statement.trim())
				.filter(Boolean);
			assert.ok(
				statements.every((statement) => /^export (?:type )?(?:\{[^}]*\}|\*) from '\.\/[\w/.-]+\.ts'$/s.test(statement)),
				`${entry} holds more than re-exports`,
			);
		}
	});
});
