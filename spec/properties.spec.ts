import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { backoffDelay, decide } from '../src/engine/policy.ts';
import { createClient, createFetch, isSteadfetchError, redactUrl, type SteadfetchError } from '../src/index.ts';
import { normalizeClientOptions, normalizeRetryOptions } from '../src/options/normalize.ts';
import { minSecretLength } from '../src/secrets/names.ts';
import { assertNoSecret } from './support/renderings.ts';

// Seeded: a failure prints its seed and path, and the same run reproduces it.
const settings = { seed: 20261125, numRuns: 200 };
const retried = new Set([408, 429, 500, 502, 503, 504]);
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const methods = fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'POST', 'PATCH', 'TRACE', 'QUERY');
const policy = normalizeClientOptions({ retry: { jitter: false } }).policy;

// A fetch that answers from a script, so thousands of calls need no server.
const scripted = (statuses: readonly number[]) => {
	let calls = 0;
	const fetch = async (): Promise<Response> => {
		const status = statuses[Math.min(calls, statuses.length - 1)] ?? 200;
		calls++;
		return new Response(status === 204 || status === 304 ? null : 'body', { status });
	};
	return { fetch, count: () => calls };
};

describe('holds its rules for any input (property tests)', () => {
	it('classifies every status and method as the documented table says', () => {
		fc.assert(
			fc.property(
				fc.integer({ min: 100, max: 599 }),
				methods,
				fc.boolean(),
				fc.integer({ min: 1, max: 5 }),
				(status, method, key, retry) => {
					const decision = decide(policy, { outcome: status, method, hasIdempotencyKey: key, retry, now: 0 });
					const expected =
						retried.has(status) && retry <= 2 && (idempotent.has(method) || (key && (method === 'POST' || method === 'PATCH')));
					assert.equal(decision.retry, expected);
				},
			),
			settings,
		);
	});

	it('keeps every backoff delay within [0, maxDelayMs]', () => {
		fc.assert(
			fc.property(
				fc.integer({ min: 0, max: 100_000 }),
				fc.double({ min: 1, max: 10, noNaN: true }),
				fc.integer({ min: 0, max: 60_000 }),
				fc.integer({ min: 1, max: 100 }),
				fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
				fc.boolean(),
				(baseDelayMs, factor, maxDelayMs, retry, draw, jitter) => {
					const delay = backoffDelay({ ...policy, baseDelayMs, factor, maxDelayMs, jitter }, retry, () => draw);
					assert.ok(delay >= 0 && delay <= maxDelayMs, `${delay} outside [0, ${maxDelayMs}]`);
				},
			),
			settings,
		);
	});

	it('never makes more than limit + 1 requests, and one for a fail-fast status', async () => {
		await fc.assert(
			fc.asyncProperty(
				fc.integer({ min: 0, max: 4 }),
				methods.filter((method) => method !== 'TRACE'),
				fc.array(fc.constantFrom(200, 201, 204, 400, 401, 404, 408, 409, 429, 500, 502, 503, 504), { minLength: 1, maxLength: 8 }),
				async (limit, method, statuses) => {
					const { fetch, count } = scripted(statuses);
					const api = createClient({ retry: { limit, baseDelayMs: 0 }, fetch, budget: false, breaker: false });
					await api(`https://api.test/x`, { method }).catch(() => undefined);
					assert.ok(count() <= limit + 1, `${count()} requests with limit ${limit}`);
					if (!retried.has(statuses[0] ?? 200)) {
						assert.equal(count(), 1);
					}
				},
			),
			{ ...settings, numRuns: 100 },
		);
	});

	it('keeps every generated secret out of every rendering of an error', async () => {
		const secret = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/).map((value) => `S3cr${value}`);
		const secretParameter = fc.constantFrom(
			'api_key',
			'apikey',
			'token',
			'access_token',
			'client_secret',
			'password',
			'signature',
			'X-Amz-Signature',
			'key',
		);
		const secretHeader = fc.constantFrom(
			'Authorization',
			'Proxy-Authorization',
			'Cookie',
			'X-Api-Key',
			'X-Auth-Token',
			'Api-Key',
			'X-Session-Id',
		);
		await fc.assert(
			fc.asyncProperty(
				secret,
				secret,
				secret,
				secretParameter,
				secretHeader,
				fc.webPath(),
				async (apiKey, query, header, parameter, name, path) => {
					const { fetch } = scripted([500]);
					const api = createClient({
						apiKey,
						headers: { [name]: header },
						retry: { limit: 1, baseDelayMs: 0 },
						fetch,
						budget: false,
						breaker: false,
					});
					const url = `https://user:${query}@api.test${path.startsWith('/') ? path : `/${path}`}?${parameter}=${query}&page=2`;
					const error = await api(url.replace(/^https:\/\/user:[^@]+@/, 'https://'), { searchParams: { [parameter]: query } }).catch(
						(caught: unknown) => caught,
					);
					assert.ok(isSteadfetchError(error));
					const renderings = [
						error.message,
						error.stack ?? '',
						String(error),
						JSON.stringify(error),
						inspect(error, { showHidden: true, depth: 10 }),
						redactUrl(url),
					];
					for (const text of renderings) {
						for (const value of [apiKey, query, header]) {
							assert.ok(!text.includes(value), `a secret leaked into: ${text.slice(0, 200)}`);
						}
					}
				},
			),
			{ ...settings, numRuns: 60 },
		);
	});

	describe('keeps a secret of any shape, in any position, out of every rendering of the error', () => {
		// Secrets of every shape. All but the short ones are wrapped in a marker, so that the whole cannot occur by chance
		// (six spaces can), and so that a header keeps it whole (a header value's outer spaces are trimmed).
		const reserved = [...' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~', 'a', 'Z', '9', 'é', 'ß', 'ÿ'];
		const shapes = {
			alphanumeric: fc.stringMatching(/^[A-Za-z\d]{4,20}$/),
			reserved: fc.string({ unit: fc.constantFrom(...reserved), minLength: 4, maxLength: 24 }),
			unicode: fc.string({ unit: 'grapheme', minLength: 2, maxLength: 12 }),
			long: fc.string({ unit: fc.constantFrom(...reserved), minLength: 4000, maxLength: 4100 }),
		};
		const marked = fc
			.constantFrom(...(Object.keys(shapes) as (keyof typeof shapes)[]))
			.chain((shape) => shapes[shape].map((body) => ({ shape, secret: `Zq${body}Xj` })));
		const short = fc.stringMatching(/^[A-Za-z\d]{1,5}$/).map((secret) => ({ shape: 'short' as const, secret }));
		// Where a secret can stand: how the call sends it (`source`), and where it shows up (`position`).
		const freeText = ['path', 'query key', 'echoed body', 'echoed header', 'reason phrase', 'Location', 'cause'] as const;
		const named = ['user-info', 'query value', 'header', 'Location query'] as const;
		type Position = (typeof freeText)[number] | (typeof named)[number];
		const cases = fc.oneof(
			fc.record({
				value: marked,
				position: fc.constantFrom<Position>(...freeText, ...named),
				surface: fc.constantFrom('client', 'fetch'),
				source: fc.constantFrom('apiKey', 'header', 'query'),
			}),
			fc.record({
				value: short,
				position: fc.constantFrom<Position>(...named),
				surface: fc.constantFrom('client', 'fetch'),
				source: fc.constantFrom('apiKey', 'header', 'query'),
			}),
		);

		it('for every shape and position, through the client and the drop-in fetch', async () => {
			await fc.assert(
				fc.asyncProperty(cases, async ({ value: { shape, secret }, position, surface: chosen, source: wanted }) => {
					const headerable = shape !== 'unicode';
					// The drop-in fetch resolves with a redirect, as fetch does: only the client raises an error for it.
					const surface = position.startsWith('Location') ? 'client' : chosen;
					// A secret a header cannot carry is sent in the query; the fetch has no apiKey.
					const source = !headerable ? 'query' : surface === 'fetch' && wanted === 'apiKey' ? 'header' : wanted;
					const encoded = encodeURIComponent(secret);
					const path = position === 'path' ? `/keys/${encoded}` : '/x';
					const query = [
						...(source === 'query' ? [`access_token=${encoded}`] : []),
						...(position === 'query key' ? [`${encoded}=1`] : []),
						'page=2',
					].join('&');
					const origin = position === 'user-info' ? `https://user:${encoded}@api.test` : 'https://api.test';
					const url = `${origin}${path}?${query}`;
					const headers: Record<string, string> = source === 'header' ? { 'X-Auth-Token': secret } : {};
					// Only a secret the call sent can be recognised in the server's words.
					const echo = headerable ? secret : encoded;
					const reply = (): Response => {
						switch (position) {
							case 'echoed body':
								return Response.json({ got: secret, nested: [{ encoded }] }, { status: 400 });
							case 'echoed header':
								return new Response('no', { status: 400, headers: { 'x-echo': echo, 'x-echo-encoded': encoded } });
							case 'reason phrase':
								return new Response(null, { status: 499, statusText: headerable ? `Bad ${secret}` : `Bad ${encoded}` });
							case 'Location':
								return new Response(null, {
									status: 302,
									headers: { location: `/k/${encoded}`, 'content-location': `https://h.test/${encoded}` },
								});
							case 'Location query':
								return new Response(null, { status: 302, headers: { location: `/cb?access_token=${encoded}&state=s` } });
							case 'cause':
								throw new TypeError('fetch failed', { cause: new Error(`refused: ${url} ${secret}`) });
							default:
								return new Response('oops', { status: 500 });
						}
					};
					const given: unknown[] = [];
					const shared = {
						retry: { limit: 1, baseDelayMs: 0 },
						budget: false as const,
						breaker: false as const,
						fetch: async () => reply(),
						onRetry: ({ error }: { error: Error }) => given.push(error),
						onGiveUp: (error: Error) => given.push(error),
					};
					let error: unknown;
					try {
						if (surface === 'client') {
							const api = createClient({ ...shared, ...(source === 'apiKey' ? { apiKey: secret } : {}) });
							await api(url, { headers, redirect: 'manual' });
						} else {
							await createFetch({ ...shared, throwHttpErrors: true })(url, { headers, redirect: 'manual' });
						}
					} catch (caught) {
						error = caught;
					}
					assert.ok(error instanceof Error, 'the call failed');
					for (const thrown of [error, ...given]) {
						if (secret.length >= minSecretLength) {
							assertNoSecret(thrown, [secret]);
						} else if (isSteadfetchError(thrown)) {
							// A short secret is masked where its name marks it.
							const json = (thrown as SteadfetchError).toJSON();
							assert.ok(!json.request.url.includes(`access_token=${encoded}`));
							assert.notEqual(thrown.request.headers.get('x-auth-token'), secret);
							const location = (thrown as { response?: Response }).response?.headers.get('location') ?? '';
							assert.ok(!location.includes(`access_token=${encoded}`));
						} else {
							assert.ok(!String((thrown as Error).message).includes(`:${encoded}@`));
						}
					}
				}),
				{ ...settings, numRuns: 300 },
			);
		}).timeout(60_000);
	});

	it('accepts exactly the documented ranges of the retry options', () => {
		const accepts = (retry: object) => {
			try {
				normalizeRetryOptions(retry);
				return true;
			} catch (error) {
				assert.ok(error instanceof TypeError);
				return false;
			}
		};
		fc.assert(
			fc.property(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double(), fc.constant(Number.NaN)), (limit) => {
				assert.equal(accepts({ limit }), Number.isInteger(limit) && limit >= 0);
			}),
			settings,
		);
		fc.assert(
			fc.property(fc.oneof(fc.double({ min: -1e10, max: 1e10 }), fc.constant(Number.POSITIVE_INFINITY)), (value) => {
				assert.equal(accepts({ baseDelayMs: value }), value >= 0 && value <= 2_147_483_647);
				assert.equal(accepts({ maxDelayMs: value }), value >= 0 && value <= 2_147_483_647);
				assert.equal(accepts({ factor: value }), value >= 1 && value <= 1000);
			}),
			settings,
		);
		fc.assert(
			fc.property(fc.array(fc.integer({ min: -100, max: 1000 }), { maxLength: 5 }), (statusCodes) => {
				assert.equal(
					accepts({ statusCodes }),
					statusCodes.every((code) => code >= 100 && code <= 599),
				);
			}),
			settings,
		);
	});
});
