import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { withLoopback } from './support/loopback.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url);
const bin = (name: string) => new URL(`node_modules/.bin/${name}`, root).pathname;
const script = (name: string) => new URL(`spec/fixtures/${name}`, root).pathname;

// Each runtime runs the smoke script against a fresh loopback API: a 500 then a 200 for /flaky, a 404 for /missing.
const smoke = async (command: string, args: string[]) => {
	let output = '';
	await withLoopback([{ status: 500 }, { status: 200, body: '{"ok":true}' }, { status: 404 }], async (server) => {
		const { stdout } = await run(command, [...args, server.url], { cwd: root.pathname, timeout: 60_000 });
		output = stdout;
		assert.equal(server.count, 3, 'two requests for /flaky, one for /missing');
	});
	return JSON.parse(output.trim().split('\n').at(-1) ?? '{}');
};
const expectedNotFound = {
	isClass: true,
	isBranded: true,
	name: 'NotFoundError',
	attempts: 1,
	solution: 'Use the correct URL (check for typos and our API documentation carefully).',
};

describe('runs where our users run', function () {
	// A cold start of Bun or Deno takes a few seconds on these machines.
	this.timeout(60_000);

	it('serves a CommonJS caller through require(), with the same classes as import', async () => {
		const result = await smoke(process.execPath, [script('smoke.cjs')]);
		assert.deepEqual(result, {
			recovered: { ok: true },
			notFound: { ...expectedNotFound, sameClassAsImport: true, instanceOfImportedClass: true },
		});
	});

	it('runs under Bun', async () => {
		assert.deepEqual(await smoke(bin('bun'), [script('smoke.mjs')]), { recovered: { ok: true }, notFound: expectedNotFound });
	});

	it('runs under Deno', async () => {
		const result = await smoke(bin('deno'), ['run', '--allow-net', '--allow-read', '--allow-env', '--no-lock', script('smoke.mjs')]);
		assert.deepEqual(result, { recovered: { ok: true }, notFound: expectedNotFound });
	});
});
