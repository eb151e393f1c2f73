import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

// Debian's Chromium, never a downloaded browser; .ci/run installs it with apt.
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const flags = [
	'--no-sandbox',
	'--disable-gpu',
	'--disable-background-networking',
	'--disable-component-update',
	'--no-first-run',
	'--disable-sync',
];

const listen = async (handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ server: Server; url: string }> => {
	const server = createServer(handler);
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};
const close = (server: Server) =>
	new Promise<void>((resolve) => {
		server.closeAllConnections();
		server.close(() => resolve());
	});

describe('runs in a real browser (headless Chromium)', function () {
	this.timeout(60_000);
	let context: BrowserContext;
	let page: Page;
	let pageServer: Server;
	let apiServer: Server;
	let api = '';
	let profile = '';
	// Requests the API saw per path, preflights not counted.
	const seen = new Map<string, number>();

	before(async function () {
		if (!existsSync(executablePath)) {
			if (process.env.CI) {
				throw new Error(`Chromium is missing at ${executablePath}: .ci/run installs it with apt-get install chromium.`);
			}
			console.warn(`    (skipped: no Chromium at ${executablePath}; apt-get install chromium, or set CHROMIUM_PATH)`);
			this.skip();
		}
		// The built package, bundled as a browser would load it: platform browser, no polyfills.
		const bundle = await build({
			entryPoints: [new URL('../dist/index.js', import.meta.url).pathname],
			bundle: true,
			format: 'esm',
			platform: 'browser',
			write: false,
			logLevel: 'silent',
		});
		const code = bundle.outputFiles[0]?.text ?? '';
		({ server: pageServer } = await listen((request, response) => {
			if (request.url === '/steadfetch.js') {
				response.writeHead(200, { 'content-type': 'text/javascript' });
				response.end(code);
				return;
			}
			response.writeHead(200, { 'content-type': 'text/html' });
			response.end(
				'<!doctype html><script type="module">import * as steadfetch from "/steadfetch.js"; window.steadfetch = steadfetch;</script>',
			);
		}));
		const pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;

		// The API lives on another origin, so CORS is real. Only /limited exposes its Retry-After to scripts.
		({ server: apiServer, url: api } = await listen((request, response) => {
			const path = new URL(request.url ?? '/', 'http://x').pathname;
			const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*' };
			if (request.method === 'OPTIONS') {
				response.writeHead(204, cors);
				response.end();
				return;
			}
			const count = (seen.get(path) ?? 0) + 1;
			seen.set(path, count);
			const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
				response.writeHead(status, { ...cors, 'content-type': 'application/json', ...headers });
				response.end(JSON.stringify(body));
			};
			if (path === '/flaky') {
				reply(count === 1 ? 500 : 200, count === 1 ? { error: 'boom' } : { ok: true });
			} else if (path === '/limited' || path === '/limited-hidden') {
				const exposed = path === '/limited' ? { 'access-control-expose-headers': 'Retry-After-Ms, Retry-After' } : {};
				reply(count === 1 ? 429 : 200, {}, count === 1 ? { 'retry-after-ms': '250', ...exposed } : {});
			} else if (path === '/down') {
				reply(500, { error: 'down' });
			} else {
				reply(404, { error: 'not found' });
			}
		}));

		// A fresh, empty profile for this run only.
		profile = mkdtempSync(join(tmpdir(), 'steadfetch-chromium-'));
		context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: flags });
		page = await context.newPage();
		await page.goto(pageUrl);
		await page.waitForFunction(() => 'steadfetch' in window);
	});

	after(async () => {
		await context?.close();
		await Promise.all([pageServer, apiServer].filter(Boolean).map(close));
		if (profile) {
			rmSync(profile, { recursive: true, force: true });
		}
	});

	beforeEach(() => seen.clear());

	it('recovers from a 500 with two requests', async () => {
		const body = await page.evaluate(async (base) => {
			const { createClient } = (window as unknown as { steadfetch: typeof import('../src/index.ts') }).steadfetch;
			return createClient({ baseUrl: `${base}/`, retry: { baseDelayMs: 1 } })
				.get('flaky')
				.json();
		}, api);
		assert.deepEqual(body, { ok: true });
		assert.equal(seen.get('/flaky'), 2);
	});

	it('fails fast on a 404 with the advice of the docs', async () => {
		const error = await page.evaluate(async (base) => {
			const { createClient, NotFoundError } = (window as unknown as { steadfetch: typeof import('../src/index.ts') }).steadfetch;
			try {
				await createClient({ baseUrl: `${base}/`, retry: { baseDelayMs: 1 } }).get('missing');
				return undefined;
			} catch (caught) {
				const failure = caught as InstanceType<typeof NotFoundError>;
				return {
					isNotFound: caught instanceof NotFoundError,
					name: failure.name,
					solution: failure.advice.solution,
					attempts: failure.attempts,
				};
			}
		}, api);
		assert.deepEqual(error, {
			isNotFound: true,
			name: 'NotFoundError',
			solution: 'Use the correct URL (check for typos and our API documentation carefully).',
			attempts: 1,
		});
		assert.equal(seen.get('/missing'), 1);
	});

	it('reads Retry-After when the API exposes it, and falls back to backoff when it does not', async () => {
		const delays = await page.evaluate(async (base) => {
			const { createClient } = (window as unknown as { steadfetch: typeof import('../src/index.ts') }).steadfetch;
			const waits: Record<string, number[]> = { exposed: [], hidden: [] };
			await createClient({ baseUrl: `${base}/`, retry: { baseDelayMs: 10 }, onRetry: ({ delayMs }) => waits.exposed?.push(delayMs) }).get(
				'limited',
			);
			await createClient({ baseUrl: `${base}/`, retry: { baseDelayMs: 10 }, onRetry: ({ delayMs }) => waits.hidden?.push(delayMs) }).get(
				'limited-hidden',
			);
			return waits;
		}, api);
		assert.deepEqual(delays.exposed, [250]);
		assert.equal(delays.hidden?.length, 1);
		assert.ok((delays.hidden?.[0] ?? 250) <= 10, 'without Access-Control-Expose-Headers the header is invisible');
		assert.equal(seen.get('/limited'), 2);
	});

	it('cancels promptly when aborted during a backoff wait', async () => {
		const outcome = await page.evaluate(async (base) => {
			const { createClient } = (window as unknown as { steadfetch: typeof import('../src/index.ts') }).steadfetch;
			const controller = new AbortController();
			setTimeout(() => controller.abort(), 100);
			const started = performance.now();
			try {
				await createClient({ baseUrl: `${base}/`, retry: { baseDelayMs: 5000, jitter: false } }).get('down', { signal: controller.signal });
				return undefined;
			} catch (caught) {
				return { name: (caught as Error).name, elapsed: performance.now() - started };
			}
		}, api);
		assert.equal(outcome?.name, 'AbortError');
		assert.ok((outcome?.elapsed ?? 5000) < 1000);
		assert.equal(seen.get('/down'), 1);
	});

	it('retries through the drop-in fetch too', async () => {
		const status = await page.evaluate(async (base) => {
			const { createFetch } = (window as unknown as { steadfetch: typeof import('../src/index.ts') }).steadfetch;
			return (await createFetch({ retry: { baseDelayMs: 1 } })(`${base}/flaky`)).status;
		}, api);
		assert.equal(status, 200);
		assert.equal(seen.get('/flaky'), 2);
	});

	// Issue 27: Chromium's fetch rejects with a bare `TypeError: Failed to fetch`, whatever happened; the code stays undefined.
	it('raises NetworkError without a code for a refused connection', async () => {
		const closed = await listen(() => undefined);
		await close(closed.server);
		const failure = await page.evaluate(async (url) => {
			const { createClient, isNetworkError } = (window as unknown as { steadfetch: typeof import('../src/index.ts') }).steadfetch;
			const error = (await createClient({ retry: 0 })
				.get(url)
				.catch((caught: unknown) => caught)) as Error & { code?: string; toJSON(): { code?: string } };
			return { network: isNetworkError(error), code: error.code ?? null, json: 'code' in error.toJSON(), message: error.message };
		}, `${closed.url}/x`);
		const { message, ...fields } = failure;
		assert.deepEqual(fields, { network: true, code: null, json: false });
		assert.match(message, /: No response was received\. Solution: /);
	});
});
