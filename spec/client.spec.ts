import assert from 'node:assert/strict';
import ky from 'ky';
import steadfetchDefault, { createClient, NotFoundError, steadfetch } from '../src/index.ts';
import { origin, serve, times } from './support/server.ts';

describe('is a real ky instance', () => {
	it('reads JSON with .json() and text with .text()', async () => {
		serve('GET', '/v1/a', [{ status: 200, body: { a: 1 } }]);
		serve('GET', '/v1/b', [{ status: 200, body: 'plain' }]);
		const api = createClient({ baseUrl: `${origin}/v1/` });
		assert.deepEqual(await api.get('a').json(), { a: 1 });
		assert.equal(await api.get('b').text(), 'plain');
	});

	it('sends json bodies, search params and headers as ky does', async () => {
		const seen = serve('POST', '/v1/items?draft=true', [{ status: 201, body: { id: 3 } }]);
		const api = createClient({ baseUrl: `${origin}/v1/`, headers: { 'x-client': 'spec' } });
		const body = await api.post('items', { json: { name: 'n' }, searchParams: { draft: true } }).json();
		assert.deepEqual(body, { id: 3 });
		assert.equal(seen.count, 1);
		assert.equal(seen.headers[0]?.['x-client'], 'spec');
		assert.equal(seen.headers[0]?.['content-type'], 'application/json');
		assert.deepEqual(seen.bodies, ['{"name":"n"}']);
	});

	it('keeps the retry policy and the errors through extend()', async () => {
		const seen = serve('GET', '/v2/items', [...times(2, { status: 500 }), { status: 404 }]);
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: { baseDelayMs: 1 } }).extend({ baseUrl: `${origin}/v2/` });
		await assert.rejects(api.get('items'), NotFoundError);
		assert.equal(seen.count, 3);
	});

	it('runs a function given to extend() once, with the instance defaults ky would hand it', async () => {
		const seen = serve('GET', '/v2/items', [{ status: 200, body: { items: [] } }]);
		const given: unknown[] = [];
		const api = createClient({ baseUrl: `${origin}/v1/`, headers: { 'x-client': 'spec' } }).extend((defaults) => {
			given.push(defaults.baseUrl);
			return { baseUrl: `${origin}/v2/` };
		});
		assert.deepEqual(await api.get('items').json(), { items: [] });
		assert.deepEqual(given, [`${origin}/v1/`]);
		assert.equal(seen.count, 1);
		assert.equal(seen.headers[0]?.['x-client'], 'spec');
	});

	it('runs user hooks after its own, for every attempt', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 500 }, { status: 200 }]);
		const calls: string[] = [];
		const api = createClient({
			baseUrl: `${origin}/v1/`,
			retry: { baseDelayMs: 1 },
			hooks: {
				beforeRequest: [() => void calls.push('beforeRequest')],
				beforeRetry: [({ retryCount }) => void calls.push(`beforeRetry ${retryCount}`)],
				afterResponse: [({ response }) => void calls.push(`afterResponse ${response.status}`)],
			},
		});
		await api.get('items');
		assert.equal(seen.count, 2);
		assert.deepEqual(calls, ['beforeRequest', 'afterResponse 500', 'beforeRetry 1', 'afterResponse 200']);
	});

	it("refuses create() given anything but an object, with ky's TypeError, and sends nothing", async () => {
		let calls = 0;
		const api = createClient({
			fetch: async () => {
				calls++;
				return new Response('{}');
			},
		});
		for (const value of [true, 666, 'hello', [], null, () => undefined, Symbol('ky')]) {
			assert.throws(() => ky.create(value as never), { name: 'TypeError', message: 'The `options` argument must be an object' });
			assert.throws(() => api.create(value as never), { name: 'TypeError', message: 'The `options` argument must be an object' });
		}
		assert.equal(calls, 0);
	});

	it('counts attempts made through a custom fetch', async () => {
		let calls = 0;
		const api = createClient({
			retry: { baseDelayMs: 1 },
			fetch: async () => {
				calls++;
				return new Response('down', { status: 503 });
			},
		});
		await assert.rejects(api.get(`${origin}/x`), { attempts: 3 });
		assert.equal(calls, 3);
	});
});

describe('ships a default instance', () => {
	it('retries and enriches with the default policy', async () => {
		const seen = serve('GET', '/health', [{ status: 502 }, { status: 200, body: { ok: true } }]);
		assert.equal(steadfetchDefault, steadfetch);
		assert.deepEqual(await steadfetch.get(`${origin}/health`).json(), { ok: true });
		assert.equal(seen.count, 2);
	});

	it('adds nothing to plain ky', async () => {
		const seen = serve('GET', '/plain', [{ status: 404 }]);
		await assert.rejects(ky.get(`${origin}/plain`), (error: unknown) => (error as Error).name === 'HTTPError');
		assert.equal(seen.count, 1);
	});
});
