import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from '../src/index.ts';

interface Seen {
	readonly method: string;
	readonly url: string;
	readonly headers: IncomingHttpHeaders;
	readonly body: string;
}

// A loopback origin that answers each path from `routes` (a redirect or a body) and records what it saw.
async function origin(routes: Record<string, (base: string) => { status: number; location?: string }>) {
	const seen: Seen[] = [];
	const server: Server = createServer((request, response) => {
		let body = '';
		request.on('data', (chunk: Buffer) => {
			body += chunk.toString('utf8');
		});
		request.on('end', () => {
			seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
			const route = routes[request.url ?? '']?.(base) ?? { status: 200 };
			response.writeHead(route.status, route.location ? { location: route.location } : { 'content-type': 'application/json' });
			response.end(route.location ? '' : '{"ok":true}');
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return {
		base,
		seen,
		close: async () => {
			server.closeAllConnections();
			await new Promise((resolve) => server.close(resolve));
		},
	};
}

const key = 'sk-live-4f9a8b7c6d5e';

describe('keeps the API key on its own origin across redirects', () => {
	it('drops an X-Api-Key on a 307 to another origin, keeps method and body, and still arrives', async () => {
		const other = await origin({});
		const home = await origin({ '/v1/upload': () => ({ status: 307, location: `${other.base}/elsewhere` }) });
		try {
			const api = createClient({ baseUrl: `${home.base}/v1/`, apiKey: key, apiKeyHeader: 'X-Api-Key', idempotencyKey: true });
			assert.deepEqual(await api.post('upload', { json: { n: 1 } }).json(), { ok: true });
			assert.equal(home.seen.length, 1);
			assert.equal(home.seen[0]?.headers['x-api-key'], key);
			assert.equal(other.seen.length, 1);
			assert.equal(other.seen[0]?.headers['x-api-key'], undefined, 'the key never reached the other origin');
			assert.deepEqual([other.seen[0]?.method, other.seen[0]?.body], ['POST', '{"n":1}']);
		} finally {
			await Promise.all([home.close(), other.close()]);
		}
	});

	// docs/errors.md: what is guarded is where a server sends the call, not where the caller sends it.
	it('sends the key to an absolute URL of another origin that the caller names itself', async () => {
		const other = await origin({});
		const home = await origin({});
		try {
			const api = createClient({ baseUrl: `${home.base}/v1/`, apiKey: key, apiKeyHeader: 'X-Api-Key' });
			await api.get(`${other.base}/mine`);
			assert.equal(home.seen.length, 0);
			assert.deepEqual(
				other.seen.map(({ url, headers }) => [url, headers['x-api-key']]),
				[['/mine', key]],
			);
		} finally {
			await Promise.all([home.close(), other.close()]);
		}
	});

	it('keeps the key on a redirect within its origin', async () => {
		const home = await origin({ '/v1/old': (base) => ({ status: 301, location: `${base}/v1/new` }) });
		try {
			const api = createClient({ baseUrl: `${home.base}/v1/`, apiKey: key, apiKeyHeader: 'X-Api-Key' });
			await api.get('old');
			assert.deepEqual(
				home.seen.map(({ url, headers }) => [url, headers['x-api-key']]),
				[
					['/v1/old', key],
					['/v1/new', key],
				],
			);
		} finally {
			await home.close();
		}
	});

	it('turns a POST into a GET without a body on a 303, as fetch does', async () => {
		const home = await origin({ '/v1/jobs': (base) => ({ status: 303, location: `${base}/v1/jobs/7` }) });
		try {
			const api = createClient({ baseUrl: `${home.base}/v1/`, apiKey: key, apiKeyHeader: 'X-Api-Key' });
			await api.post('jobs', { json: { run: true } });
			assert.deepEqual(
				home.seen.map(({ method, url, body }) => [method, url, body]),
				[
					['POST', '/v1/jobs', '{"run":true}'],
					['GET', '/v1/jobs/7', ''],
				],
			);
		} finally {
			await home.close();
		}
	});

	it('stops after 20 redirects, as fetch does', async () => {
		const home = await origin({ '/v1/loop': (base) => ({ status: 302, location: `${base}/v1/loop` }) });
		try {
			const api = createClient({ baseUrl: `${home.base}/v1/`, apiKey: key, apiKeyHeader: 'X-Api-Key', retry: 0 });
			await assert.rejects(api.get('loop'));
			assert.equal(home.seen.length, 21);
		} finally {
			await home.close();
		}
	});

	it('leaves redirects to fetch when the key travels in Authorization, which fetch drops across origins itself', async () => {
		const other = await origin({});
		const home = await origin({ '/v1/x': () => ({ status: 307, location: `${other.base}/y` }) });
		try {
			await createClient({ baseUrl: `${home.base}/v1/`, apiKey: key }).get('x');
			assert.equal(home.seen[0]?.headers.authorization, `Bearer ${key}`);
			assert.equal(other.seen[0]?.headers.authorization, undefined);
		} finally {
			await Promise.all([home.close(), other.close()]);
		}
	});
});
