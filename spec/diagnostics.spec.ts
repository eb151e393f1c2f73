import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Engine } from '../src/engine/call.ts';
import { channelNames } from '../src/engine/diagnostics.ts';
import { createClient, createFetch, isRefusal } from '../src/index.ts';
import { normalizeFetchOptions } from '../src/options/normalize.ts';
import { FakeClock } from './support/clock.ts';
import { withLoopback } from './support/loopback.ts';
import { formsOf } from './support/renderings.ts';
import { origin, serve, times } from './support/server.ts';

// Every message of every steadfetch channel, in order, while `run` runs.
async function listen(run: () => Promise<unknown>): Promise<{ name: string; message: Record<string, unknown> }[]> {
	const seen: { name: string; message: Record<string, unknown> }[] = [];
	const listeners = Object.values(channelNames).map(
		(name) => [name, (message: unknown) => seen.push({ name, message: message as Record<string, unknown> })] as const,
	);
	for (const [name, listener] of listeners) {
		subscribe(name, listener);
	}
	try {
		await run().catch(() => undefined);
	} finally {
		for (const [name, listener] of listeners) {
			unsubscribe(name, listener);
		}
	}
	return seen;
}
const fast = { baseDelayMs: 1, maxDelayMs: 5 };

describe('publishes every attempt and decision on diagnostics_channel', () => {
	it('tells three attempts, two retries and the call end of a call that recovers from two 500s', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 500 }, { status: 503 }, { status: 200, body: {} }]);
		const messages = await listen(() =>
			createClient({ baseUrl: `${origin}/v1/`, retry: fast })
				.get('items')
				.json(),
		);
		assert.deepEqual(
			messages.map(({ name, message }) => `${name.replace('steadfetch:', '')} ${message.attempt ?? ''}${message.status ?? ''}`.trim()),
			[
				'call:start',
				'attempt:start 1',
				'attempt:end 1500',
				'retry 2',
				'attempt:start 2',
				'attempt:end 2503',
				'retry 3',
				'attempt:start 3',
				'attempt:end 3200',
				'call:end 200',
			],
		);
		const retry = messages.find(({ name }) => name === channelNames.retry)?.message;
		assert.deepEqual(
			{ ...retry, delayMs: typeof retry?.delayMs },
			{
				call: messages[0]?.message.call,
				origin,
				method: 'GET',
				url: `${origin}/v1/items`,
				attempt: 2,
				delayMs: 'number',
				after: 500,
			},
		);
		assert.equal(seen.count, 3);
	});

	it('ties the messages of one call together with one frozen object, another for the next call', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 500 }, { status: 200, body: {} }, { status: 200, body: {} }]);
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast });
		const messages = await listen(async () => {
			await api.get('items').json();
			await api.get('items').json();
		});
		const calls = [...new Set(messages.filter(({ name }) => name !== channelNames.breaker).map(({ message }) => message.call))];
		assert.equal(calls.length, 2);
		assert.ok(calls.every((call) => Object.isFrozen(call) && typeof (call as { id: unknown }).id === 'number'));
		assert.deepEqual(
			messages.filter(({ message }) => message.call === calls[0]).map(({ name }) => name.replace('steadfetch:', '')),
			['call:start', 'attempt:start', 'attempt:end', 'retry', 'attempt:start', 'attempt:end', 'call:end'],
		);
		assert.equal(seen.count, 3);
	});

	it('tells the start of a call that a rate-limit wait holds back before its first attempt', async () => {
		const clock = new FakeClock();
		const engine = new Engine(normalizeFetchOptions({ budget: false, breaker: false }), clock, 'fetch');
		const request = () => new Request(`${origin}/x`);
		const first = engine.call();
		const reset = String((clock.now() + 1000) / 1000);
		first.settle(first.begin(`${origin}/x`, request), 200, new Headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }));
		const messages = await listen(async () => {
			await engine.call().pace(`${origin}/x`, request);
		});
		assert.deepEqual(
			messages.map(({ name }) => name.replace('steadfetch:', '')),
			['call:start', 'pacing'],
		);
		// The request's place, as every later message of the call says it: not an empty one from before it was known.
		const [start, pacing] = messages.map(({ message }) => message);
		assert.deepEqual({ ...start }, { call: pacing?.call, origin, method: 'GET', url: `${origin}/x` });
		assert.deepEqual(clock.waits, [1000]);
	});

	// The abort comes from a subscriber, at a known step: no timer decides where the call is when it ends.
	it('tells the end of a call aborted at an attempt or during a backoff, once, on the client and the drop-in fetch', async () => {
		for (const surface of ['client', 'fetch'] as const) {
			for (const when of ['attempt', 'backoff'] as const) {
				const controller = new AbortController();
				const seen = serve('GET', '/v1/x', [{ status: 503 }]);
				const retry = when === 'backoff' ? { baseDelayMs: 60_000, maxDelayMs: 60_000 } : fast;
				const abortAt = (message: unknown) => {
					const { attempt } = message as { attempt: number };
					if (attempt === 2) {
						controller.abort();
					}
				};
				const channel = when === 'attempt' ? channelNames.attemptStart : channelNames.retry;
				subscribe(channel, abortAt);
				const messages = await listen(() =>
					surface === 'client'
						? createClient({ retry }).get(`${origin}/v1/x`, { signal: controller.signal })
						: createFetch({ retry })(`${origin}/v1/x`, { signal: controller.signal }),
				).finally(() => unsubscribe(channel, abortAt));
				const ends = messages.filter(({ name }) => name === channelNames.callEnd).map(({ message }) => message);
				assert.deepEqual(
					ends.map(({ ok, error, attempts }) => ({ ok, error, attempts })),
					[{ ok: false, error: 'AbortError', attempts: when === 'attempt' ? 2 : 1 }],
					`${surface}, aborted at the ${when}`,
				);
				assert.equal(seen.count, 1, `${surface}, aborted at the ${when}`);
			}
		}
	});

	it('tells a withheld retry and its reason, and the call end with the stop reason', async () => {
		const seen = serve('GET', '/v1/x', times(3, { status: 500 }));
		const api = createClient({ baseUrl: `${origin}/v1/`, retry: fast, budget: { capacity: 1 }, breaker: false });
		await api.get('x').catch(() => undefined);
		const messages = await listen(() => api.get('x'));
		const withheld = messages.find(({ name }) => name === channelNames.retryWithheld)?.message;
		assert.equal(withheld?.reason, 'budget');
		const end = messages.find(({ name }) => name === channelNames.callEnd)?.message;
		assert.deepEqual(
			[end?.ok, end?.errorType, end?.error, end?.status, end?.stopReason],
			[false, '500', 'InternalServerError', 500, 'budget'],
		);
		assert.equal(seen.count, 3);
	});

	it('tells the end of a drop-in fetch call that resolves with a failing response, with no onGiveUp', async () => {
		serve('GET', '/x', [{ status: 404 }]);
		const messages = await listen(() => createFetch()(`${origin}/x`));
		const end = messages.find(({ name }) => name === channelNames.callEnd)?.message;
		assert.deepEqual([end?.ok, end?.error, end?.status], [false, 'NotFoundError', 404]);
	});

	it('tells the end of a call once when onRetry or onGiveUp throws, on the client and the drop-in fetch', async () => {
		const boom = (): never => {
			throw new RangeError('callback failed');
		};
		for (const [label, make, path] of [
			['client, onRetry', () => createClient({ retry: fast, onRetry: boom }).get(`${origin}/y1`), '/y1'],
			['fetch, onRetry', () => createFetch({ retry: fast, onRetry: boom })(`${origin}/y2`), '/y2'],
			['client, onGiveUp', () => createClient({ retry: { ...fast, limit: 0 }, onGiveUp: boom }).get(`${origin}/y3`), '/y3'],
			['fetch, onGiveUp', () => createFetch({ retry: { ...fast, limit: 0 }, onGiveUp: boom })(`${origin}/y4`), '/y4'],
		] as const) {
			const seen = serve('GET', path, times(2, { status: 500 }));
			let thrown: unknown;
			const messages = await listen(() => make().catch((error: unknown) => (thrown = error)));
			const ends = messages.filter(({ name }) => name === channelNames.callEnd).map(({ message }) => [message.ok, message.error]);
			assert.ok(thrown instanceof RangeError, `${label}: the call ends with the callback's exception`);
			assert.deepEqual(ends, [[false, label.endsWith('onRetry') ? 'RangeError' : 'InternalServerError']], label);
			assert.equal(seen.count, 1, label);
		}
	});

	it('tells breaker changes of state', async () => {
		serve('GET', '/v1/x', times(2, { status: 502 }));
		const api = createClient({
			baseUrl: `${origin}/v1/`,
			retry: { limit: 0 },
			budget: false,
			breaker: { failureThreshold: 2, failureWindowMs: 0 },
		});
		const messages = await listen(async () => {
			await api.get('x').catch(() => undefined);
			await api.get('x').catch(() => undefined);
		});
		const change = messages.find(({ name }) => name === channelNames.breaker)?.message;
		assert.deepEqual([change?.origin, change?.from, change?.to], [origin, 'closed', 'open']);
	});

	it('never shows a secret: the URL is redacted', async () => {
		serve('GET', '/v1/x?api_key=SECRET123456', [{ status: 200, body: {} }]);
		const messages = await listen(() => createClient({ retry: fast }).get(`${origin}/v1/x?api_key=SECRET123456`).json());
		assert.ok(messages.length >= 3);
		assert.doesNotMatch(JSON.stringify(messages), /SECRET123456/);
	});

	it('masks every credential the call sent where it reappears in the URL, as its error does, on both surfaces', async () => {
		const token = 'tok-live-7f3a9c2b11';
		const key = 'key-live-55d0e1a2';
		const url = `${origin}/v1/api_keys/${key}?state=${token}`;
		const seen = serve('GET', `/v1/api_keys/${key}?state=${token}`, times(4, { status: 404 }));
		const errors: unknown[] = [];
		const messages = await listen(async () => {
			const headers = { Authorization: `Bearer ${token}`, 'X-Api-Key': key };
			errors.push(
				await createClient({ retry: fast, headers: { Authorization: `Bearer ${token}` } })
					.get(url, { headers: { 'X-Api-Key': key } })
					.catch((error: unknown) => error),
			);
			errors.push(
				await createClient({ retry: fast })
					.extend({ headers })
					.get(url)
					.catch((error: unknown) => error),
			);
			await createFetch()(url, { headers });
			errors.push(await createFetch({ throwHttpErrors: true })(new Request(url, { headers })).catch((error: unknown) => error));
		});
		const urls = new Set(messages.map(({ message }) => message.url));
		assert.deepEqual([...urls], [`${origin}/v1/api_keys/***?state=***`]);
		assert.deepEqual(
			errors.map((error) => (error as { request: Request }).request.url),
			Array.from({ length: 3 }, () => `${origin}/v1/api_keys/***?state=***`),
		);
		const text = JSON.stringify(messages);
		for (const form of [...formsOf(token), ...formsOf(key)]) {
			assert.ok(!text.includes(form), form);
		}
		assert.equal(seen.count, 4);
	});

	it('keeps user-info out of the URL, masked as the error masks it', async () => {
		const messages = await listen(() => createFetch()('https://user:PA55WORD99@api.example.test/v1/x'));
		assert.deepEqual([...new Set(messages.map(({ message }) => message.url))], ['https://***@api.example.test/v1/x']);
	});

	it("tells a success whose body is cut off while read as the call's one end, a failure", async () => {
		await withLoopback([{ cut: 200 }], async (server) => {
			const messages = await listen(() => createClient({ retry: 0 }).get(`${server.url}/x`).json());
			const ends = messages.filter(({ name }) => name === channelNames.callEnd).map(({ message }) => message);
			assert.deepEqual(
				ends.map(({ ok, errorType, error, status }) => ({ ok, errorType, error, status })),
				[{ ok: false, errorType: 'network', error: 'NetworkError', status: 200 }],
			);
			assert.equal(server.count, 1);
		});
	});

	it("ends a call whose body a shortcut reads only when the read does: its end comes after the body's", async () => {
		serve('GET', '/x', [{ status: 200, body: { id: 1 } }]);
		let read = false;
		const messages = await listen(async () => {
			await createClient()
				.get(`${origin}/x`)
				.json()
				.then(() => {
					read = true;
				});
		});
		const end = messages.find(({ name }) => name === channelNames.callEnd)?.message;
		assert.deepEqual([end?.ok, end?.status], [true, 200]);
		assert.ok(read);
	});

	it('tells the end of a call once when an afterResponse hook throws, with the attempt it answered', async () => {
		serve('GET', '/x', [{ status: 200, body: {} }]);
		const hook = (): never => {
			throw new Error('hook failed');
		};
		const messages = await listen(() => createClient({ hooks: { afterResponse: [hook] } }).get(`${origin}/x`));
		assert.deepEqual(
			messages.map(({ name, message }) => [name.replace('steadfetch:', ''), message.status, message.errorType].filter(Boolean).join(' ')),
			['call:start', 'attempt:start', 'attempt:end 200', 'call:end _OTHER'],
		);
	});

	it('tells an attempt the fetch refused before sending as not sent, and its call _OTHER', async () => {
		const messages = await listen(() => createFetch()('https://user:PA55WORD99@api.example.test/v1/x'));
		const end = messages.find(({ name }) => name === channelNames.attemptEnd)?.message;
		assert.deepEqual([end?.sent, end?.errorType, end?.status, end?.failure], [false, '_OTHER', undefined, undefined]);
		const callEnd = messages.find(({ name }) => name === channelNames.callEnd)?.message;
		assert.deepEqual([callEnd?.errorType, callEnd?.error], ['_OTHER', 'TypeError']);
	});

	it("tells a network failure of the drop-in fetch errorType network, though it rejects with fetch's TypeError", async () => {
		await withLoopback([{ reset: true }], async (server) => {
			const messages = await listen(() => createFetch({ retry: 0 })(`${server.url}/x`));
			const end = messages.find(({ name }) => name === channelNames.callEnd)?.message;
			assert.deepEqual([end?.errorType, end?.error], ['network', 'TypeError']);
		});
	});

	it('tells a call a guard refused as refused, without the status of the local Response that stands for it', async () => {
		const reset = String(Math.ceil(Date.now() / 1000) + 3600);
		serve('GET', '/r', [{ status: 200, body: {}, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } }]);
		const fetch = createFetch({ retry: fast });
		await fetch(`${origin}/r`);
		let response: Response | undefined;
		const messages = await listen(async () => {
			response = await fetch(`${origin}/r`);
		});
		assert.ok(response && isRefusal(response));
		const end = messages.find(({ name }) => name === channelNames.callEnd)?.message;
		assert.deepEqual(
			[end?.ok, end?.errorType, end?.status, end?.stopReason, end?.attempts],
			[false, 'rate-limited', undefined, 'rate-limited', 0],
		);
	});

	it('names what ended a call by the class of failure, never by the name of what was thrown', async () => {
		serve('GET', '/x', [{ status: 503 }]);
		const controller = new AbortController();
		const reason = Object.assign(new Error('cancelled'), { name: 'Cancelled:tenant-4711' });
		const api = createClient({ retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 }, onRetry: () => controller.abort(reason) });
		const messages = await listen(() => api.get(`${origin}/x`, { signal: controller.signal }));
		const end = messages.find(({ name }) => name === channelNames.callEnd)?.message;
		assert.deepEqual([end?.errorType, end?.error], ['aborted', 'Cancelled:tenant-4711']);
	});

	it("keeps a subscriber's exception from becoming an uncaught one: the call goes on, the others hear it, a warning once", async () => {
		const throwing = (): never => {
			throw new RangeError('logger down');
		};
		const warnings: Error[] = [];
		const warn = (warning: Error) => warnings.push(warning);
		const uncaught: unknown[] = [];
		const record = (error: unknown) => uncaught.push(error);
		// Node throws a subscriber's exception again on the next tick; mocha's own listener would fail the spec.
		const mochas = process.listeners('uncaughtException');
		process.removeAllListeners('uncaughtException');
		process.on('uncaughtException', record);
		process.on('warning', warn);
		subscribe(channelNames.attemptStart, throwing);
		const seen = serve('GET', '/x', times(3, { status: 200, body: {} }));
		let messages: { name: string; message: Record<string, unknown> }[] = [];
		try {
			messages = await listen(async () => {
				await createClient().get(`${origin}/x`).json();
				await createClient().get(`${origin}/x`).json();
				await createFetch()(`${origin}/x`);
			});
			await new Promise((resolve) => setImmediate(resolve));
		} finally {
			unsubscribe(channelNames.attemptStart, throwing);
			process.off('uncaughtException', record);
			for (const listener of mochas) {
				process.on('uncaughtException', listener);
			}
			process.off('warning', warn);
		}
		assert.deepEqual(uncaught, []);
		assert.equal(
			messages.filter(({ name }) => name === channelNames.attemptStart).length,
			3,
			'the subscribers after it hear every message',
		);
		const ours = warnings.filter((warning) => (warning as { code?: string }).code === 'STEADFETCH_SUBSCRIBER_THREW');
		assert.equal(ours.length, 1, 'once per subscriber');
		assert.match(ours[0]?.message ?? '', /steadfetch:attempt:start threw \(RangeError: logger down\)/);
		assert.equal(seen.count, 3);
	});

	it('builds no message while nobody subscribes: the request is not even looked at', async () => {
		const engine = new Engine(normalizeFetchOptions({ budget: false, breaker: false, rateLimit: false }), new FakeClock(), 'fetch');
		let looked = 0;
		const request = () => {
			looked++;
			return new Request(`${origin}/x`);
		};
		const run = () => {
			const call = engine.call();
			call.settle(call.begin(`${origin}/x`, request), 200);
		};
		run();
		assert.equal(looked, 0);
		await listen(async () => run());
		assert.ok(looked > 0, 'a subscriber gets the redacted URL');
	});
});
