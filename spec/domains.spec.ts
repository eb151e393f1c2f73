import assert from 'node:assert/strict';
import { Lru } from '../src/engine/lru.ts';
import { createClient, isCircuitOpenError, isRefusal, isSteadfetchError } from '../src/index.ts';
import { clockedClient, clockedFetch, FakeClock } from './support/clocked.ts';
import { startLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

// Issue 24: a guard holds or refuses a call only on evidence about that call's own domain.

const fast = { baseDelayMs: 1, maxDelayMs: 30_000 };
const epochIn = (clock: FakeClock, ms: number) => String(Math.floor((clock.now() + ms) / 1000));
const github = (clock: FakeClock, resource: string, remaining: number, resetInMs: number) => ({
	'x-ratelimit-limit': resource === 'search' ? '30' : '5000',
	'x-ratelimit-remaining': String(remaining),
	'x-ratelimit-reset': epochIn(clock, resetInMs),
	'x-ratelimit-resource': resource,
});

describe('rate-limit windows belong to the bucket the response names', () => {
	it("holds no core call for GitHub's spent search bucket: the core call goes at once, the next search call waits for search's reset", async () => {
		const clock = new FakeClock();
		const search = serve('GET', '/search/issues', [
			{ status: 200, body: { total: 1 }, headers: github(clock, 'search', 0, 20_000) },
			{ status: 200, body: { total: 2 }, headers: github(clock, 'search', 29, 60_000) },
		]);
		const core = serve(
			'GET',
			'/repos/octo/hello/issues',
			times(3, { status: 200, body: { items: [] }, headers: github(clock, 'core', 4990, 3_600_000) }),
		);
		const api = clockedClient({ baseUrl: `${origin}/`, retry: fast }, clock);
		await api.get('search/issues');
		for (let call = 0; call < 3; call++) {
			await api.get('repos/octo/hello/issues');
		}
		assert.deepEqual(clock.waits, [], 'no core call waited');
		await api.get('search/issues');
		assert.deepEqual(clock.waits, [20_000]);
		assert.equal(search.count, 2);
		assert.equal(core.count, 3);
	});

	it('keeps a window no response names to the endpoint that answered', async () => {
		const clock = new FakeClock();
		const window = { 'ratelimit-remaining': '0', 'ratelimit-reset': '5' };
		const a = serve('GET', '/v1/a', [
			{ status: 200, headers: window },
			{ status: 200, headers: window },
		]);
		const b = serve('GET', '/v1/b', [{ status: 200 }]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		await api.get('a');
		await api.get('b');
		assert.deepEqual(clock.waits, []);
		await api.get('a');
		assert.deepEqual(clock.waits, [5000]);
		assert.equal(a.count, 2);
		assert.equal(b.count, 1);
	});

	it('shares a window among the requests to one endpoint whatever thing they name: /items/41 and /items/42', async () => {
		const clock = new FakeClock();
		serve('GET', '/v1/items/41', [{ status: 200, headers: { 'ratelimit-remaining': '0', 'ratelimit-reset': '5' } }]);
		const second = serve('GET', '/v1/items/42', [{ status: 200 }]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		await api.get('items/41');
		await api.get('items/42');
		assert.deepEqual(clock.waits, [5000]);
		assert.equal(second.count, 1);
	});
});

describe('rate-limit windows keep what the latest response said', () => {
	it('sends all 30 conditional polls whose 304s keep reporting 20 left', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/repos/octo/hello/events', times(30, { status: 304, headers: github(clock, 'core', 20, 3_600_000) }));
		const fetch = clockedFetch({ retry: fast }, clock);
		for (let poll = 0; poll < 30; poll++) {
			const response = await fetch(`${origin}/repos/octo/hello/events`, { headers: { 'if-none-match': '"abc"' } });
			assert.equal(response.status, 304);
		}
		assert.equal(seen.count, 30);
		assert.deepEqual(clock.waits, []);
	});
});

describe('rate-limit windows belong to the tenant that spent them', () => {
	const day = (key: string) => ({
		'ratelimit-policy': '"burst";q=100;w=60, "day";q=1000;w=86400',
		ratelimit: `"day";r=0;t=7200;pk=:${btoa(key)}:`,
	});

	it("lets bob's calls go while alice's day quota is spent, and refuses alice's without a request", async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/things', [
			{ status: 200, headers: day('alice') },
			{ status: 200, headers: { 'ratelimit-policy': '"day";q=1000;w=86400', ratelimit: `"day";r=500;t=7200;pk=:${btoa('bob')}:` } },
			{ status: 200 },
		]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast }, clock);
		await api.get('things', { headers: { authorization: 'Bearer alice-key' } });
		await api.get('things', { headers: { authorization: 'Bearer bob-key' } });
		await api.get('things', { headers: { authorization: 'Bearer bob-key' } });
		await assert.rejects(
			api.get('things', { headers: { authorization: 'Bearer alice-key' } }),
			(error: unknown) => isSteadfetchError(error) && error.stopReason === 'rate-limited' && error.status === 429,
		);
		assert.equal(seen.count, 3);
		assert.deepEqual(clock.waits, []);
	});

	it('keeps GitHub-style windows of two API keys of one client apart (`apiKey` per client, a key per call)', async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/things', [
			{ status: 200, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': epochIn(clock, 1_200_000) } },
			{ status: 200 },
		]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast, apiKey: 'alice-secret-key' }, clock);
		await api.get('things');
		await api.get('things', { headers: { authorization: 'Bearer bob-secret-key' } });
		await assert.rejects(api.get('things'), (error: unknown) => isSteadfetchError(error) && error.stopReason === 'rate-limited');
		assert.equal(seen.count, 2);
	});
});

describe('rateLimit.key names the domain the headers cannot', () => {
	const spent = { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '45s', 'x-ratelimit-remaining-tokens': '9000' };
	const modelOf = ({ body }: { body: unknown }) => (typeof body === 'string' ? (JSON.parse(body) as { model?: string }).model : undefined);
	const complete = (fetch: typeof globalThis.fetch, model: string) =>
		fetch(`${origin}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model }), headers: { authorization: 'Bearer sk-x' } });

	it("lets model B's calls go while model A's requests are spent (OpenAI's limits per model)", async () => {
		const clock = new FakeClock();
		const seen = serve('POST', '/v1/chat/completions', [{ status: 200, headers: spent }, ...times(2, { status: 200 })]);
		const fetch = clockedFetch({ retry: fast, rateLimit: { key: modelOf } }, clock);
		await complete(fetch, 'model-a');
		assert.equal((await complete(fetch, 'model-b')).status, 200);
		assert.equal((await complete(fetch, 'model-b')).status, 200);
		const refused = await complete(fetch, 'model-a');
		assert.equal(refused.status, 429);
		assert.equal(isRefusal(refused), true, "model A's own window refuses it: 45 s is past maxDelayMs");
		assert.equal(seen.count, 3);
	});

	it("keeps each model's window apart by default, by a JSON body's model: client and drop-in fetch alike", async () => {
		const clock = new FakeClock();
		const seen = serve('POST', '/v1/chat/completions', [
			{ status: 200, headers: spent },
			{ status: 200 },
			{ status: 200, headers: spent },
			{ status: 200 },
		]);
		const fetch = clockedFetch({ retry: fast }, clock);
		await complete(fetch, 'model-a');
		assert.equal((await complete(fetch, 'model-b')).status, 200);
		assert.equal(isRefusal(await complete(fetch, 'model-a')), true);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: fast, apiKey: 'sk-x' }, clock);
		await api.post('chat/completions', { json: { model: 'model-a' } });
		await api.post('chat/completions', { json: { model: 'model-b' } });
		await assert.rejects(
			api.post('chat/completions', { json: { model: 'model-a' } }),
			(error: unknown) => isSteadfetchError(error) && error.stopReason === 'rate-limited',
		);
		assert.equal(seen.count, 4);
	});

	it('holds every model to one window when the key names one domain for all', async () => {
		const clock = new FakeClock();
		const seen = serve('POST', '/v1/chat/completions', [{ status: 200, headers: spent }]);
		const fetch = clockedFetch({ retry: fast, rateLimit: { key: () => 'everything' } }, clock);
		await complete(fetch, 'model-a');
		assert.equal(isRefusal(await complete(fetch, 'model-b')), true);
		assert.equal(seen.count, 1);
	});

	it('ends the call with the exception of a key that throws, and refuses a key that returns no string', async () => {
		const clock = new FakeClock();
		const seen = serve('POST', '/v1/chat/completions', [{ status: 200, headers: spent }]);
		const boom = new Error('no model');
		let calls = 0;
		const fetch = clockedFetch(
			{
				retry: fast,
				rateLimit: {
					key: () => {
						calls++;
						if (calls > 1) {
							throw boom;
						}
						return 'a';
					},
				},
			},
			clock,
		);
		await complete(fetch, 'model-a');
		await assert.rejects(complete(fetch, 'model-a'), boom);
		assert.equal(seen.count, 1);
		const numeric = clockedFetch({ retry: fast, rateLimit: { key: (() => 42) as unknown as () => string } }, clock);
		await assert.rejects(complete(numeric, 'model-a'), /Expected `rateLimit.key\(\)` to return a string or undefined, got number/);
	});

	it('checks the option where it is given', () => {
		assert.throws(
			() => createClient({ rateLimit: 'yes' as unknown as boolean }),
			/Expected `rateLimit` to be true, false or an object, got "yes"/,
		);
		assert.throws(() => createClient({ rateLimit: { kee: () => 'a' } as never }), /rateLimit/);
		assert.throws(() => createClient({ rateLimit: { key: 'model' as never } }), /`rateLimit.key`/);
	});
});

describe('breakers belong to the domain whose failures they hear', () => {
	const breaker = { failureThreshold: 2, failureWindowMs: 0, openMs: 60_000 };

	it("opens a broken endpoint's circuit and never a healthy one's", async () => {
		const clock = new FakeClock();
		const broken = serve('GET', '/v1/broken', times(2, { status: 500 }));
		const healthy = serve('GET', '/v1/healthy', times(2, { status: 200 }));
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: { ...fast, limit: 0 }, budget: false, breaker }, clock);
		for (let call = 0; call < 2; call++) {
			await assert.rejects(api.get('broken'), { status: 500 });
		}
		await assert.rejects(api.get('broken'), (error: unknown) => isCircuitOpenError(error));
		await api.get('healthy');
		await api.get('healthy');
		assert.equal(broken.count, 2);
		assert.equal(healthy.count, 2);
	});

	it("opens the origin's circuit for every endpoint when its connection fails", async () => {
		const closed = await startLoopback([]);
		await closed.close();
		const events: unknown[] = [];
		const api = createClient({
			retry: { ...fast, limit: 0 },
			budget: false,
			breaker: { ...breaker, onStateChange: (event) => events.push(event) },
		});
		await assert.rejects(api.get(`${closed.url}/a`), { name: 'NetworkError' });
		await assert.rejects(api.get(`${closed.url}/b`), { name: 'NetworkError' });
		await assert.rejects(api.get(`${closed.url}/c`), (error: unknown) => isCircuitOpenError(error));
		assert.deepEqual(
			events.map((event) => ({ ...(event as object), retryAt: undefined })),
			[{ origin: closed.url, from: 'closed', to: 'open', retryAt: undefined }],
		);
	});

	it('names the endpoint in the breaker event of an endpoint', async () => {
		const clock = new FakeClock();
		serve('GET', '/v1/items/7', times(2, { status: 503 }));
		const events: { endpoint?: string }[] = [];
		const api = clockedClient(
			{
				baseUrl: `${origin}/v1/`,
				retry: { ...fast, limit: 0 },
				budget: false,
				breaker: { ...breaker, onStateChange: (event) => events.push(event) },
			},
			clock,
		);
		await assert.rejects(api.get('items/7'));
		await assert.rejects(api.get('items/7'));
		assert.deepEqual(
			events.map(({ endpoint }) => endpoint),
			['GET /v1/items/*'],
		);
	});
});

describe('retry budgets belong to the domain whose failures spend them', () => {
	it("spends a broken endpoint's budget, never the retries a healthy endpoint's blip needs", async () => {
		const clock = new FakeClock();
		const broken = serve('GET', '/v1/broken', times(3, { status: 503 }));
		const flaky = serve('GET', '/v1/flaky', [{ status: 503 }, { status: 200 }]);
		const api = clockedClient(
			{ baseUrl: `${origin}/v1/`, retry: { ...fast, limit: 1 }, budget: { capacity: 1, ratio: 0.01 }, breaker: false },
			clock,
		);
		await assert.rejects(api.get('broken'), { status: 503 });
		await assert.rejects(api.get('broken'), (error: unknown) => isSteadfetchError(error) && error.stopReason === 'budget');
		const response = await api.get('flaky');
		assert.equal(response.status, 200);
		assert.equal(broken.count, 3);
		assert.equal(flaky.count, 2);
	});
});

describe('the state kept for many origins, endpoints and windows degrades gracefully', () => {
	it('keeps most keys of a cycle one longer than it holds, where a strict LRU keeps none', () => {
		const random = new FakeClock().random;
		const lru = new Lru<number, number>(256, random);
		let hits = 0;
		let gets = 0;
		for (let round = 0; round < 20; round++) {
			for (let key = 0; key < 257; key++) {
				gets++;
				if (lru.get(key) === undefined) {
					lru.set(key, key);
				} else if (round > 0) {
					hits++;
				}
			}
		}
		assert.equal(lru.size, 256);
		assert.ok(hits / gets > 0.9, `hit rate ${(hits / gets).toFixed(3)}`);
	});

	it('keeps a key in steady use while a crawler passes through endless others', () => {
		const lru = new Lru<string, number>(256, new FakeClock().random);
		lru.set('api', 0);
		let kept = 0;
		for (let page = 0; page < 10_000; page++) {
			lru.set(`https://site-${page}.example`, page);
			if (lru.get('api') !== undefined) {
				kept++;
			}
		}
		assert.equal(kept, 10_000);
		assert.equal(lru.size, 256);
	});
});
