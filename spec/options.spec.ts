import assert from 'node:assert/strict';
import { type ClientOptions, createClient, type FetchOptions } from '../src/index.ts';
import { normalizeClientOptions, normalizeFetchOptions } from '../src/options/normalize.ts';
import { origin, serve } from './support/server.ts';

const rejects = (options: unknown, pattern: RegExp) =>
	assert.throws(
		() => createClient(options as ClientOptions),
		(error: unknown) => error instanceof TypeError && pattern.test(error.message),
	);

describe('validates options when the client is created', () => {
	for (const [name, options, pattern] of [
		['a negative limit', { retry: { limit: -1 } }, /^Expected `retry\.limit` to be a non-negative integer, got -1\.$/],
		['a fractional limit', { retry: { limit: 1.5 } }, /`retry\.limit`.*got 1\.5/],
		['a string limit', { retry: { limit: '3' } }, /`retry\.limit`.*got "3"/],
		['a negative shorthand', { retry: -2 }, /`retry` to be a non-negative integer/],
		['a retry that is neither number nor object', { retry: 'often' }, /`retry` to be a number or an object/],
		['a NaN delay', { retry: { baseDelayMs: Number.NaN } }, /`retry\.baseDelayMs`.*got NaN/],
		['a negative cap', { retry: { maxDelayMs: -5 } }, /`retry\.maxDelayMs`/],
		['a factor below 1', { retry: { factor: 0.5 } }, /`retry\.factor`/],
		['a status outside 100-599', { retry: { statusCodes: [500, 600] } }, /`retry\.statusCodes`.*100 to 599, got 600/],
		['a status list that is not an array', { retry: { statusCodes: 500 } }, /`retry\.statusCodes`/],
		['a bad method name', { retry: { methods: ['GET', 'NO WAY'] } }, /`retry\.methods`/],
		['a non-boolean jitter', { retry: { jitter: 'full' } }, /`retry\.jitter` to be a boolean/],
		['an unknown retry option', { retry: { limt: 2 } }, /Unknown option `retry\.limt`/],
		[
			'a negative backoffLimit',
			{ retry: { backoffLimit: -1 } },
			/^Expected `retry\.backoffLimit` to be a number from 0 to Infinity, got -1\.$/,
		],
		['a NaN maxRetryAfter', { retry: { maxRetryAfter: Number.NaN } }, /`retry\.maxRetryAfter`.*got NaN/],
		[
			'a maxRetryAfter above the maxDelayMs given with it (naming both)',
			{ retry: { maxRetryAfter: 60_000, maxDelayMs: 30_000 } },
			/^Expected `retry\.maxRetryAfter` to be at most `retry\.maxDelayMs` \(30000\), got 60000: .*Raise `retry\.maxDelayMs` to 60000 too, or leave it out\.$/,
		],
		[
			'delay given with baseDelayMs',
			{ retry: { delay: () => 1, baseDelayMs: 5 } },
			/^`retry\.delay` replaces `retry\.baseDelayMs`: give one or the other, not both\.$/,
		],
		['delay given with factor', { retry: { delay: () => 1, factor: 3 } }, /`retry\.delay` replaces `retry\.factor`/],
		['a delay that is not a function', { retry: { delay: 100 } }, /^Expected `retry\.delay` to be a function, got 100\.$/],
		['a shouldRetry that is not a function', { retry: { shouldRetry: true } }, /`retry\.shouldRetry` to be a function/],
		[
			'an async shouldRetry',
			{ retry: { shouldRetry: async () => true } },
			/`retry\.shouldRetry`.*got an async function: steadfetch decides retries synchronously/,
		],
		['an afterStatusCodes outside 100-599', { retry: { afterStatusCodes: [429, 1000] } }, /`retry\.afterStatusCodes`.*got 1000/],
		[
			'a jitter that is neither boolean nor function',
			{ retry: { jitter: 0.5 } },
			/^Expected `retry\.jitter` to be a boolean or a function of the delay, got 0\.5\.$/,
		],
		['a non-function hook', { hooks: { beforeRequest: ['nope'] } }, /`hooks\.beforeRequest\[0\]` to be a function/],
		['a hook list that is not an array', { hooks: { afterResponse: () => {} } }, /`hooks\.afterResponse` to be an array/],
		['an unknown hook', { hooks: { beforeAll: [] } }, /Unknown option `hooks\.beforeAll`/],
		['a zero timeout', { timeout: 0 }, /`timeout` to be a number of milliseconds/],
		['a timeout past what timers hold', { totalTimeout: 2 ** 31 }, /`totalTimeout`/],
		['a relative baseUrl', { baseUrl: '/v1' }, /`baseUrl` to be an absolute URL/],
		['a baseUrl that is neither string nor URL', { baseUrl: 42 }, /^Expected `baseUrl` to be a string or a URL, got 42\.$/],
		[
			'an ftp baseUrl',
			{ baseUrl: 'ftp://files.example/' },
			/^Expected `baseUrl` to be an http or https URL, got a URL with the scheme "ftp:"\.$/,
		],
		['a file baseUrl', { baseUrl: 'file:///etc/passwd' }, /^Expected `baseUrl` to be an http or https URL, got .*"file:"/],
		['a javascript: baseUrl', { baseUrl: 'javascript:alert(1)' }, /`baseUrl` to be an http or https URL.*"javascript:"/],
		['a baseUrl given as a URL of another scheme', { baseUrl: new URL('ws://socket.example/') }, /`baseUrl`.*"ws:"/],
		[
			'a javascript: prefix',
			{ prefix: 'javascript:alert(1)' },
			/^Expected `prefix` to be a path or an http or https URL, got a URL with the scheme "javascript:"\.$/,
		],
		['a file prefix', { prefix: 'file:///etc/passwd' }, /`prefix`.*"file:"/],
		['an ftp prefix', { prefix: 'ftp://x' }, /`prefix`.*"ftp:"/],
		// fetch answers a data: URL itself: a base from configuration could script every response.
		['a data: baseUrl', { baseUrl: 'data:application/json,{"ok":true}' }, /`baseUrl`.*"data:"/],
		// The URL parser drops tabs and newlines and trims spaces: so does the check, or a split scheme would pass it.
		['a javascript: prefix split by a tab and a newline', { prefix: ' java\tscr\nipt:alert(1)' }, /`prefix`.*"javascript:"/],
		['a non-function fetch', { fetch: 'fetch' }, /`fetch` to be a function/],
		['a non-function onRetry', { onRetry: 'log' }, /`onRetry` to be a function/],
		['a string idempotencyKey', { idempotencyKey: 'abc' }, /`idempotencyKey` to be a boolean or a function/],
		['an empty apiKey', { apiKey: ' ' }, /`apiKey` to be a non-empty string/],
		['a bad apiKeyHeader', { apiKey: 'k', apiKeyHeader: 'X Key' }, /`apiKeyHeader` to be a header name/],
		['a bad apiKeyScheme', { apiKey: 'k', apiKeyScheme: 'Bad Scheme' }, /`apiKeyScheme`/],
		['a catalog key that is no status', { catalog: { teapot: {} } }, /`catalog` to be keys that are status codes/],
		['a catalog entry that is not an object', { catalog: { 404: 'gone' } }, /`catalog\.404`/],
		['a catalog field that is not text', { catalog: { 404: { solution: 1 } } }, /`catalog\.404\.solution` to be a string/],
		['an unknown catalog field', { catalog: { 404: { fix: 'x' } } }, /Unknown option `catalog\.404\.fix`/],
		[
			'a throwHttpErrors that is no boolean or function',
			{ throwHttpErrors: 'no' },
			/^Expected `throwHttpErrors` to be a boolean or a function of the status, got "no"\.$/,
		],
		['options that are not an object', 'https://api.test', /`options` to be an object/],
	] as const) {
		it(`rejects ${name} with a TypeError naming the option`, () => rejects(options, pattern));
	}

	it('accepts every documented option', () => {
		assert.doesNotThrow(() =>
			createClient({
				baseUrl: 'https://api.test/v1/',
				apiKey: 'k',
				apiKeyHeader: 'X-Api-Key',
				apiKeyScheme: null,
				idempotencyKey: () => 'x',
				onRetry: () => {},
				catalog: { '5xx': { solution: 'Page the on-call.' }, network: { cause: 'VPN down?' } },
				retry: {
					limit: 0,
					methods: ['get'],
					statusCodes: [503],
					baseDelayMs: 0,
					factor: 1,
					maxDelayMs: 0,
					jitter: false,
					retryOnTimeout: false,
				},
				timeout: false,
				totalTimeout: 5000,
				hooks: { beforeRequest: [() => {}] },
			}),
		);
	});
});

describe("takes ky's retry options", () => {
	it("accepts each of ky's retry options, with ky's names and types", () => {
		assert.doesNotThrow(() =>
			createClient({
				retry: {
					limit: 3,
					methods: ['get'],
					statusCodes: [429, 503],
					afterStatusCodes: [429],
					delay: (attemptCount) => 10 * attemptCount,
					backoffLimit: 3000,
					maxRetryAfter: 5000,
					jitter: (delay) => delay * (0.8 + Math.random() * 0.4),
					retryOnTimeout: false,
					shouldRetry: ({ retryCount }) => (retryCount > 2 ? false : undefined),
				},
			}),
		);
	});

	it("accepts ky's own defaults for its caps, Infinity, and a maxRetryAfter up to maxDelayMs", () => {
		const { policy } = normalizeClientOptions({
			retry: { backoffLimit: Number.POSITIVE_INFINITY, maxRetryAfter: Number.POSITIVE_INFINITY },
		});
		assert.equal(policy.backoffLimit, Number.POSITIVE_INFINITY);
		assert.equal(policy.maxRetryAfter, Number.POSITIVE_INFINITY);
		assert.equal(normalizeClientOptions({ retry: { maxRetryAfter: 60_000, maxDelayMs: 60_000 } }).policy.maxRetryAfter, 60_000);
		// Two caps on backoff: the lower wins, so a backoffLimit above maxDelayMs is no contradiction.
		assert.equal(normalizeClientOptions({ retry: { backoffLimit: 60_000 } }).policy.backoffLimit, 60_000);
	});

	it('keeps a retry option given as undefined unset, as ky does', () => {
		const { policy } = normalizeClientOptions({
			retry: { delay: undefined, baseDelayMs: 10, shouldRetry: undefined, afterStatusCodes: undefined },
		});
		assert.equal(policy.delay, undefined);
		assert.equal(policy.baseDelayMs, 10);
		assert.equal(policy.afterStatusCodes, undefined);
	});
});

describe('takes baseUrl and prefix as http or https URLs, and prefix as a path', () => {
	it('accepts http and https URLs, given as strings or URLs, in any case', () => {
		for (const options of [
			{ baseUrl: 'http://localhost:8080/' },
			{ baseUrl: 'HTTPS://api.test/v1/' },
			{ baseUrl: new URL('https://api.test/') },
			{ prefix: 'https://api.test/v1' },
			{ prefix: new URL('http://127.0.0.1:9/') },
		] as const) {
			assert.doesNotThrow(() => createClient(options), JSON.stringify(options));
		}
	});

	it("accepts a relative prefix, as ky documents it (any valid path): '/api', 'api/', '', '//host/x'", () => {
		for (const prefix of ['/api', 'api/', '', './v1', '//cdn.example/x']) {
			assert.doesNotThrow(() => createClient({ baseUrl: 'https://api.test/', prefix }), prefix);
		}
	});

	it('joins a relative prefix with the input, before resolving it against baseUrl, as ky does', async () => {
		const seen = serve('GET', '/api/items', [{ status: 200, body: { ok: true } }]);
		assert.deepEqual(
			await createClient({ baseUrl: `${origin}/`, prefix: '/api' })
				.get('/items')
				.json(),
			{ ok: true },
		);
		assert.equal(seen.count, 1);
	});

	it('shows only the scheme of a refused URL, never the rest of it', () => {
		assert.throws(
			() => createClient({ baseUrl: 'ftp://user:PASSW0RD@files.example/?token=TQSECRET' }),
			(error: unknown) =>
				error instanceof TypeError && /"ftp:"/.test(error.message) && !/PASSW0RD|TQSECRET|files\.example/.test(error.message),
		);
	});
});

describe('rejects steadfetch options outside createClient', () => {
	it('refuses apiKey given per request, before any request', () => {
		const seen = serve('GET', '/x', [{ status: 200 }]);
		assert.throws(() => createClient().get(`${origin}/x`, { apiKey: 'k' } as object), /`apiKey` is set by createClient/);
		assert.equal(seen.count, 0);
	});

	for (const name of ['budget', 'breaker', 'onRetry', 'idempotencyKey', 'catalog']) {
		it(`refuses ${name} per request and through extend(), naming it, before any request`, () => {
			const seen = serve('GET', '/x', [{ status: 200 }]);
			const pattern = new RegExp(`^TypeError: \`${name}\` is set by createClient`);
			assert.throws(() => createClient().get(`${origin}/x`, { [name]: false } as object), pattern);
			assert.throws(
				() =>
					createClient()
						.extend({ [name]: false } as object)
						.get(`${origin}/x`),
				pattern,
			);
			assert.equal(seen.count, 0);
		});
	}

	it("hands none of steadfetch's own options to a custom fetch", async () => {
		const seen: RequestInit[] = [];
		const api = createClient({
			budget: { ratio: 1 },
			breaker: { openMs: 5 },
			idempotencyKey: true,
			onRetry: () => undefined,
			fetch: async (_input, init) => {
				seen.push(init ?? {});
				return new Response('{}');
			},
		});
		await api.post(`${origin}/x`, { json: {} });
		assert.equal(seen.length, 1);
		for (const name of ['budget', 'breaker', 'idempotencyKey', 'onRetry', 'apiKey', 'catalog']) {
			assert.ok(!(name in (seen[0] ?? {})), `fetch() received \`${name}\``);
		}
	});

	it('checks retry options given per request with the rules and messages of createClient', () => {
		const seen = serve('GET', '/x', [{ status: 200 }]);
		const api = createClient();
		assert.throws(
			() => api.get(`${origin}/x`, { retry: { statusCodes: [99] } }),
			/^TypeError: Expected `retry\.statusCodes` to be an array of status codes from 100 to 599, got 99\.$/,
		);
		assert.throws(
			() => api.get(`${origin}/x`, { retry: { limit: 1.5 } }),
			/^TypeError: Expected `retry\.limit` to be a non-negative integer, got 1\.5\.$/,
		);
		assert.throws(
			() => api.get(`${origin}/x`, { retry: { delay: () => 1, factor: 3 } as never }),
			/`retry\.delay` replaces `retry\.factor`/,
		);
		assert.throws(() => api.get(`${origin}/x`, { retry: { often: true } as object }), /^TypeError: Unknown option `retry\.often`\.$/);
		assert.equal(seen.count, 0);
	});

	it('refuses a bad per-request limit', () => {
		assert.throws(() => createClient().get(`${origin}/x`, { retry: -1 }), /`retry` to be a non-negative integer/);
	});

	it('checks options given to extend() at once, not at the first call', () => {
		const api = createClient();
		assert.throws(() => api.extend({ retry: -1 }), /^TypeError: Expected `retry` to be a non-negative integer, got -1\.$/);
		assert.throws(
			() => api.extend({ retry: { statusCodes: [404, 'x'] as never } }),
			/^TypeError: Expected `retry\.statusCodes` to be an array of status codes/,
		);
		assert.throws(() => api.extend({ timeout: -1 }), /^TypeError: Expected `timeout` to be a number of milliseconds/);
		assert.throws(
			() => api.extend({ throwHttpErrors: 1 as never }),
			/^TypeError: Expected `throwHttpErrors` to be a boolean or a function/,
		);
		assert.throws(() => api.extend({ breaker: false } as object), /`breaker` is set by createClient/);
		assert.throws(
			() => api.extend({ headers: { 'X-Api-Key': 'SEC\nRET' } }),
			(error: unknown) => !String(error).includes('SEC'),
		);
		assert.equal(api.extend({ retry: 4 }).extend({ retry: { limit: 0 } }) !== undefined, true);
	});

	it('checks throwHttpErrors given per request, before any request', () => {
		const seen = serve('GET', '/x', [{ status: 200 }]);
		assert.throws(
			() => createClient().get(`${origin}/x`, { throwHttpErrors: 'no' as never }),
			/^TypeError: Expected `throwHttpErrors` to be a boolean or a function of the status, got "no"\.$/,
		);
		assert.equal(seen.count, 0);
	});
});

describe('sends the API key', () => {
	for (const [options, header, value] of [
		[{ apiKey: 'k1' }, 'authorization', 'Bearer k1'],
		[{ apiKey: 'k2', apiKeyScheme: 'Token' }, 'authorization', 'Token k2'],
		[{ apiKey: 'k3', apiKeyHeader: 'X-Api-Key' }, 'x-api-key', 'k3'],
		[{ apiKey: 'k4', apiKeyHeader: 'X-Api-Key', apiKeyScheme: 'Key' }, 'x-api-key', 'Key k4'],
		[{ apiKey: 'k5', apiKeyScheme: null }, 'authorization', 'k5'],
	] as const) {
		it(`sends ${header}: ${value}`, async () => {
			const seen = serve('GET', '/x', [{ status: 200 }]);
			await createClient(options).get(`${origin}/x`);
			assert.equal(seen.count, 1);
			assert.equal(seen.headers[0]?.[header], value);
		});
	}
});

describe('treats an option given as undefined as not given', () => {
	// `apiKey: process.env.API_KEY` is what users write: under exactOptionalPropertyTypes the types must take it too.
	const unset: ClientOptions = { apiKey: undefined, retry: undefined, budget: undefined, breaker: undefined, onRetry: undefined };

	it('gives createClient the defaults', () => {
		assert.deepEqual(normalizeClientOptions(unset), normalizeClientOptions({}));
	});

	it('gives createFetch the defaults', () => {
		const options: FetchOptions = { retry: undefined, budget: undefined, fetch: undefined, throwHttpErrors: undefined };
		assert.deepEqual(normalizeFetchOptions(options), normalizeFetchOptions({}));
	});

	it('sends no API key and retries a 503, in two requests', async () => {
		const seen = serve('GET', '/x', [
			{ status: 503, headers: { 'retry-after': '0' } },
			{ status: 200, body: { ok: true } },
		]);
		assert.deepEqual(await createClient(unset).get(`${origin}/x`).json(), { ok: true });
		assert.equal(seen.count, 2);
		assert.equal(seen.headers[0]?.authorization, undefined);
	});
});
