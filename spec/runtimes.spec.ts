import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startLoopback, withLoopback } from './support/loopback.ts';

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

// Issue 27: docs/errors.md's table of `code`s, as each runtime gives them. DNS answers ENOTFOUND for a `.invalid` host
// (RFC 6761), or EAI_AGAIN where no DNS server answers at all.
describe("names a network failure by the runtime's code (docs/errors.md)", function () {
	this.timeout(60_000);
	const dnsCodes = ['ENOTFOUND', 'EAI_AGAIN'];

	const failures = async (command: string, args: string[]) => {
		const closed = await startLoopback([]);
		await closed.close();
		let output = '';
		await withLoopback([{ reset: true }], async (server) => {
			const { stdout } = await run(command, [...args, `${closed.url}/x`, `${server.url}/x`], { cwd: root.pathname, timeout: 60_000 });
			output = stdout;
			assert.equal(server.count, 1, 'one request to the server that destroys its connections');
		});
		return JSON.parse(output.trim().split('\n').at(-1) ?? '{}');
	};
	const named = (code: string | null) => ({ network: true, code, json: code, named: true });

	it('gives ECONNREFUSED, ENOTFOUND and UND_ERR_SOCKET on Node', async () => {
		const result = await failures(process.execPath, [script('network-codes.mjs')]);
		assert.ok(dnsCodes.includes(result.dns.code), result.dns.code);
		assert.deepEqual(result, { refused: named('ECONNREFUSED'), dns: named(result.dns.code), reset: named('UND_ERR_SOCKET') });
	});

	it('gives ECONNREFUSED, ENOTFOUND and ECONNRESET under Bun', async () => {
		const result = await failures(bin('bun'), [script('network-codes.mjs')]);
		assert.ok(dnsCodes.includes(result.dns.code), result.dns.code);
		assert.deepEqual(result, { refused: named('ECONNREFUSED'), dns: named(result.dns.code), reset: named('ECONNRESET') });
	});

	it('gives no code under Deno, whose errors carry none', async () => {
		const result = await failures(bin('deno'), [
			'run',
			'--allow-net',
			'--allow-read',
			'--allow-env',
			'--no-lock',
			script('network-codes.mjs'),
		]);
		assert.deepEqual(result, { refused: named(null), dns: named(null), reset: named(null) });
	});
});
