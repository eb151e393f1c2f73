import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { createClient, createFetch, isNetworkError, isSteadfetchError } from '../src/index.ts';
import { withLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5 };

describe('meets hostile input with a clear error or neutralises it', () => {
	it('rejects a malformed URL without sending anything and without quoting its query', () => {
		const seen = serve('GET', '/x', [{ status: 200 }]);
		assert.throws(
			() => createClient().get('http://exa mple.test/x?token=SECRET1'),
			(error: unknown) =>
				error instanceof TypeError && error.message === 'Invalid URL: http://exa mple.test/x' && !inspect(error).includes('SECRET1'),
		);
		assert.equal(seen.count, 0);
	});

	it('rejects a CR/LF header value per request without quoting it', () => {
		assert.throws(
			() => createClient().get(`${origin}/x`, { headers: { 'x-trace': 'SECRET2\r\nX-Injected: 1' } }),
			(error: unknown) => error instanceof TypeError && /`headers\.x-trace`/.test(error.message) && !error.message.includes('SECRET2'),
		);
	});

	it('rejects a CR/LF API key and header name at creation', () => {
		assert.throws(() => createClient({ apiKey: 'key\nX-Injected: 1' }), /`apiKey`/);
		assert.throws(() => createClient({ headers: { 'X Bad': 'v' } }), /`headers`/);
	});

	it('keeps a prototype-polluting error body as inert data', async () => {
		const body = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"error":"x"}';
		serve('GET', '/x', [{ status: 400, body, headers: { 'content-type': 'application/json' } }]);
		const error = await createClient()
			.get(`${origin}/x`)
			.catch((caught: unknown) => caught);
		assert.ok(isSteadfetchError(error));
		assert.equal(({} as { polluted?: boolean }).polluted, undefined);
		assert.equal(Object.getPrototypeOf(error.data), Object.prototype);
		assert.equal((error.data as { polluted?: boolean }).polluted, undefined);
		assert.match(JSON.stringify(error), /"__proto__":\{"polluted":true\}/);
	});

	it('falls back to backoff for an 8 KB garbage Retry-After, quickly', async () => {
		await withLoopback([{ status: 503, headers: { 'retry-after': `Wed, ${'9'.repeat(8192)}` } }, { status: 200 }], async (server) => {
			const delays: number[] = [];
			const started = performance.now();
			await createClient({ retry: fast, onRetry: ({ delayMs }) => delays.push(delayMs) }).get(server.url);
			assert.ok(performance.now() - started < 1000);
			assert.ok((delays[0] ?? 99) <= 5);
			assert.equal(server.count, 2);
		});
	});

	it('caps a Retry-After of 8 KB of digits: no sleep, a retryAt a Date can hold', async () => {
		await withLoopback(times(2, { status: 429, headers: { 'retry-after': '9'.repeat(8192) } }), async (server) => {
			const error = await createClient({ retry: fast })
				.get(server.url)
				.catch((caught: unknown) => caught);
			assert.ok(isSteadfetchError(error));
			assert.equal(error.stopReason, 'wait-over-cap');
			assert.ok(Number.isFinite(error.retryAt?.getTime()));
			assert.doesNotThrow(() => JSON.stringify(error));
			assert.equal(server.count, 1);
		});
	});

	it('turns a 64 KB response header into a NetworkError with its code, after bounded attempts', async () => {
		await withLoopback(times(4, { status: 200, headers: { 'x-huge': 'a'.repeat(65_536) } }), async (server) => {
			const error = await createClient({ retry: fast })
				.get(server.url)
				.catch((caught: unknown) => caught);
			assert.ok(isNetworkError(error));
			assert.equal((error.cause as { cause?: { code?: string } }).cause?.code, 'UND_ERR_HEADERS_OVERFLOW');
			assert.equal(error.attempts, 3);
			assert.equal(server.count, 3);
		});
	});

	it('rejects a bad URL or header value through the drop-in fetch without quoting the secret', async () => {
		const fetch = createFetch({ retry: fast });
		await assert.rejects(
			fetch('http://exa mple.test/x?token=SECRET3'),
			(error: unknown) => error instanceof TypeError && error.message === 'Invalid URL: http://exa mple.test/x',
		);
		await assert.rejects(
			fetch(`${origin}/x`, { headers: { 'x-trace': 'SECRET4\r\nX-Injected: 1' } }),
			(error: unknown) => error instanceof TypeError && /header value is invalid/.test(error.message) && !error.message.includes('SECRET4'),
		);
	});

	it('rejects a fetch input that is no URL at all with a TypeError and no retry', async () => {
		let calls = 0;
		const fetch = createFetch({
			retry: fast,
			fetch: (input, init) => {
				calls++;
				return globalThis.fetch(input, init);
			},
		});
		await assert.rejects(fetch('not a url'), TypeError);
		assert.equal(calls, 1);
	});
});
