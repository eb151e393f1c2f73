import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { bundle } from '../bench/sizes.ts';
import { startLoopback } from './support/loopback.ts';

const root = new URL('../', import.meta.url).pathname;

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
			(file) => file.endsWith('.js') && /(?:from|import)\s*\(?\s*['"]@opentelemetry\//.test(readFileSync(new URL(file, dist), 'utf8')),
		);
		const files = loaders.map((file) => file.split('\\').join('/'));
		assert.ok(files.includes('adapters/otel/instrument.js'));
		assert.deepEqual(
			files.filter((file) => !file.startsWith('adapters/otel/')),
			[],
		);
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

describe('bundles the drop-in fetch without ky', () => {
	it('raises its own error classes, with the advice, from a bundle of createFetch alone, which carries no ky', async () => {
		const code = new TextDecoder().decode(
			await bundle(root, { source: "export { createFetch, NotFoundError, isHttpStatusError } from './dist/index.js';" }),
		);
		assert.doesNotMatch(code, /Request failed with status code|Ky\.create/, 'ky is in the bundle');
		const alone = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as typeof import('../src/index.ts');
		const server = await startLoopback([
			{ status: 404, body: '{"error":"no such item"}', headers: { 'content-type': 'application/json' } },
		]);
		const error = await alone
			.createFetch({ throwHttpErrors: true })(`${server.url}/items/7?api_key=SECRET`)
			.catch((caught: unknown) => caught);
		await server.close();
		assert.equal(server.count, 1);
		assert.ok(error instanceof alone.NotFoundError);
		assert.ok(alone.isHttpStatusError(error, 404));
		assert.equal('isKyError' in error, false, 'a ky error without a client');
		assert.equal(error.name, 'NotFoundError');
		assert.deepEqual(error.data, { error: 'no such item' });
		assert.match(error.message, /^404 GET http:\/\/127\.0\.0\.1:\d+\/items\/7\?api_key=\*\*\*: .+ Solution: Use the correct URL/);
	});
});
