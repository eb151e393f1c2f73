import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

// Runs against the build in dist/ through the package's own exports map, as a user imports it.
describe('builds a package that imports by its name', () => {
	it('exports the client, the errors and the guards from dist/', async () => {
		const module = await import('steadfetch');
		for (const name of [
			'createClient',
			'steadfetch',
			'default',
			'parseCatalog',
			'HttpStatusError',
			'NotFoundError',
			'NetworkError',
			'TimeoutError',
			'isSteadfetchError',
		]) {
			assert.ok(name in module, `missing export ${name}`);
		}
		assert.equal(typeof module.createClient, 'function');
	});

	it('exports steadfetch/otel from dist/, and loads @opentelemetry/api from no other file', async () => {
		const otel = await import('steadfetch/otel');
		assert.equal(typeof otel.instrument, 'function');
		assert.equal(typeof otel.requestAttributes, 'function');
		const dist = new URL('../dist/', import.meta.url);
		const loaders = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter(
			(file) => file.endsWith('.js') && readFileSync(new URL(file, dist), 'utf8').includes('@opentelemetry/'),
		);
		assert.deepEqual(loaders, ['otel.js']);
	});

	it('ships type declarations beside the code', () => {
		const types = readFileSync(new URL('../dist/index.d.ts', import.meta.url), 'utf8');
		assert.match(types, /createClient/);
	});

	it(`runs on Node ${process.version}, a version engines allows`, () => {
		assert.ok(Number(process.versions.node.split('.')[0]) >= 22);
	});

	it('declares the Node versions it supports', () => {
		const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
		assert.equal(manifest.engines.node, '>=22');
		assert.equal(manifest.sideEffects, false);
	});
});
