import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import {
	type BeforeErrorHook,
	type BeforeRequestHook,
	HTTPError,
	NetworkError as KyNetworkError,
	TimeoutError as KyTimeoutError,
	replaceOption,
} from 'ky';
import {
	BadRequestError,
	ClientError,
	createClient,
	HttpStatusError,
	InternalServerError,
	isHttpStatusError,
	isNetworkError,
	isSteadfetchError,
	isTimeoutError,
	NetworkError,
	NotFoundError,
	ServerError,
	type SteadfetchError,
	TimeoutError,
	UnauthenticatedError,
} from '../src/index.ts';
import { startLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

const client = (options: Parameters<typeof createClient>[0] = {}) =>
	createClient({ baseUrl: `${origin}/v1/`, retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...options });
const failure = async (promise: Promise<unknown>): Promise<SteadfetchError> => {
	try {
		await promise;
	} catch (error) {
		assert.ok(isSteadfetchError(error), `not a steadfetch error: ${error}`);
		return error;
	}
	throw new Error('expected the call to fail');
};

describe('picks an error class per status', () => {
	for (const [status, ErrorClass, Parent, name] of [
		[400, BadRequestError, ClientError, 'BadRequestError'],
		[401, UnauthenticatedError, ClientError, 'UnauthenticatedError'],
		[404, NotFoundError, ClientError, 'NotFoundError'],
		[500, InternalServerError, ServerError, 'InternalServerError'],
		[403, ClientError, HttpStatusError, 'ClientError'],
		[503, ServerError, HttpStatusError, 'ServerError'],
	] as const) {
		it(`raises ${name} for ${status}, still an instance of ky's HTTPError`, async () => {
			const seen = serve('GET', '/v1/x', times(3, { status }));
			const error = await failure(client({ retry: 0 }).get('x'));
			assert.ok(error instanceof ErrorClass);
			assert.ok(error instanceof Parent);
			assert.ok(error instanceof HTTPError);
			assert.equal(error.name, name);
			assert.equal(error.status, status);
			assert.equal((error as HTTPError).response.status, status);
			assert.equal(seen.count, 1);
		});
	}

	it("raises NetworkError, an instance of ky's NetworkError, with a redacted cause", async () => {
		const server = await startLoopback([{ reset: true }]);
		const error = await failure(createClient({ retry: 0 }).get(`${server.url}/x?token=abc`));
		await server.close();
		assert.ok(error instanceof NetworkError);
		assert.ok(error instanceof KyNetworkError);
		assert.equal(error.name, 'NetworkError');
		assert.equal(error.status, undefined);
		assert.equal(error.title, 'Network Error');
		assert.equal(error.retryable, true);
		assert.ok(error.cause instanceof Error);
		assert.equal((error.cause as Error).message, 'fetch failed');
		assert.match(error.message, /^Network Error GET http:\/\/127\.0\.0\.1:\d+\/x\?token=\*\*\*: No response was received\. Solution: /);
	});

	it('raises NetworkError, with its own advice, when the body of a success is cut off while read', async () => {
		const server = await startLoopback([{ cut: 200 }]);
		const gaveUp: unknown[] = [];
		const error = await createClient({ retry: 0, onGiveUp: (failure) => gaveUp.push(failure) })
			.get(`${server.url}/items?token=abc`)
			.json()
			.catch((caught: unknown) => caught);
		await server.close();
		assert.ok(error instanceof NetworkError);
		assert.ok(isNetworkError(error));
		assert.equal(error.title, 'Body Cut Off');
		assert.match(
			error.message,
			/^Body Cut Off GET http:\/\/127\.0\.0\.1:\d+\/items\?token=\*\*\*: The response arrived, but the connection broke/,
		);
		assert.deepEqual(
			error.history.map((record) => record.status),
			[200],
		);
		assert.equal((error.cause as Error).message, 'terminated');
		assert.deepEqual(gaveUp, [error]);
	});

	it("raises TimeoutError, an instance of ky's TimeoutError", async () => {
		serve('GET', '/v1/slow', [{ status: 200, delayMs: 300 }]);
		const error = await failure(client({ timeout: 50, retry: 0 }).get('slow'));
		assert.ok(error instanceof TimeoutError);
		assert.ok(error instanceof KyTimeoutError);
		assert.equal(error.name, 'TimeoutError');
		assert.equal(error.title, 'Timeout');
		assert.equal(error.history[0]?.failure, 'timeout');
	});
});

describe('carries the fields a person needs', () => {
	it('gives a 404 its title, description, advice, request, body and history', async () => {
		const seen = serve('GET', '/v1/users/42', [
			{ status: 404, body: { error: 'no such user' }, headers: { 'content-type': 'application/json' } },
		]);
		const error = await failure(client().get('users/42'));
		assert.equal(seen.count, 1);
		assert.equal(error.title, 'Not Found');
		assert.equal(error.description, "The requested resource doesn't exist.");
		assert.deepEqual(error.advice, {
			cause: 'This error occurs because you provided the wrong URL or the ID you requested is not associated with your account.',
			solution: 'Use the correct URL (check for typos and our API documentation carefully).',
		});
		assert.equal(error.request.method, 'GET');
		assert.equal(error.request.url, `${origin}/v1/users/42`);
		assert.deepEqual(error.data, { error: 'no such user' });
		assert.equal(error.attempts, 1);
		assert.equal(error.history.length, 1);
		assert.equal(error.history[0]?.status, 404);
		assert.equal(error.retryable, false);
		assert.equal(error.retryAt, undefined);
		assert.equal(
			error.message,
			`404 GET ${origin}/v1/users/42: The requested resource doesn't exist. Solution: Use the correct URL (check for typos and our API documentation carefully).`,
		);
	});

	it('records every attempt of a 500 with its delay, and a retry time', async () => {
		serve('GET', '/v1/items', times(3, { status: 500, body: 'oops' }));
		const error = await failure(client().get('items'));
		assert.equal(error.attempts, 3);
		assert.deepEqual(
			error.history.map(({ attempt, status }) => [attempt, status]),
			[
				[1, 500],
				[2, 500],
				[3, 500],
			],
		);
		assert.ok(error.history.slice(0, 2).every((record) => typeof record.delayMs === 'number' && record.delayMs <= 5));
		assert.equal(error.history[2]?.delayMs, undefined);
		assert.ok(error.history.every((record) => record.durationMs >= 0));
		assert.equal(error.retryable, true);
		assert.equal(error.stopReason, 'limit');
		assert.ok(error.retryAt instanceof Date);
		assert.equal(error.data, 'oops');
		assert.match(
			error.message,
			/^500 GET https:\/\/api\.example\.test\/v1\/items \(3 attempts\): Something went wrong on our side\. Solution: You can retry later/,
		);
	});

	it('keeps the server reason phrase as title for a status the docs do not name, and advice for its class', async () => {
		serve('GET', '/v1/x', [{ status: 418 }]);
		const error = await failure(client().get('x'));
		assert.equal(error.title, "I'm a Teapot");
		assert.equal(error.description, 'The request was refused.');
		assert.match(error.advice.solution, /fix the request/);
	});

	it('uses the general advice for a 503', async () => {
		serve('GET', '/v1/x', times(3, { status: 503 }));
		const error = await failure(client().get('x'));
		assert.equal(error.title, 'Service Unavailable');
		assert.match(error.advice.cause, /overloaded/);
	});

	it('keeps a large body only as a bounded excerpt', async () => {
		const body = JSON.stringify({ items: Array.from({ length: 5000 }, (_, index) => ({ index, text: 'x'.repeat(10) })) });
		serve('GET', '/v1/x', [{ status: 400, body, headers: { 'content-type': 'application/json' } }]);
		const error = await failure(client().get('x'));
		assert.equal(typeof error.data, 'string');
		assert.ok((error.data as string).length < 8300);
		assert.ok((error.data as string).startsWith('{"items":[{"index":0'));
	});

	it('keeps an error body sent as JSON that is not valid JSON, as text', async () => {
		const seen = serve('GET', '/v1/x', [{ status: 400, body: '{"error": "bad', headers: { 'content-type': 'application/json' } }]);
		const error = await failure(client().get('x'));
		assert.equal(error.data, '{"error": "bad');
		assert.equal(seen.count, 1);
	});

	it('still fails to parse a success that is not valid JSON, as ky does', async () => {
		serve('GET', '/v1/x', [{ status: 200, body: '{"items": [', headers: { 'content-type': 'application/json' } }]);
		await assert.rejects(client().get('x').json(), SyntaxError);
	});

	it('keeps the body a parseJson option makes of an error, and its failure on a success', async () => {
		serve('GET', '/v1/x', [
			{ status: 404, body: '{"n": 1}', headers: { 'content-type': 'application/json' } },
			{ status: 200, body: 'not json', headers: { 'content-type': 'application/json' } },
		]);
		const api = client({ parseJson: (text) => ({ parsed: JSON.parse(text) }) });
		assert.deepEqual((await failure(api.get('x'))).data, { parsed: { n: 1 } });
		await assert.rejects(api.get('x').json(), SyntaxError);
	});

	it('gives toJSON a log-ready object', async () => {
		serve('GET', '/v1/x', [{ status: 401, body: { error: 'bad key' }, headers: { 'content-type': 'application/json' } }]);
		const error = await failure(client().get('x'));
		const json = JSON.parse(JSON.stringify(error));
		assert.deepEqual(Object.keys(json), [
			'name',
			'message',
			'status',
			'title',
			'description',
			'advice',
			'request',
			'data',
			'attempts',
			'history',
			'retryable',
		]);
		assert.equal(json.name, 'UnauthenticatedError');
		assert.deepEqual(json.request, { method: 'GET', url: `${origin}/v1/x` });
		assert.deepEqual(json.advice, {
			cause: 'This error occurs when you put in an invalid API key.',
			solution: 'Double-check the API key and make sure you input the correct one.',
		});
	});

	it('rebuilds the stack from its own message', async () => {
		serve('GET', '/v1/x', [{ status: 404 }]);
		const error = await failure(client().get('x'));
		assert.ok(error.stack?.startsWith(`NotFoundError: ${error.message}\n`));
	});
});

describe('recognises its errors by brand', () => {
	it('tells each kind apart', async () => {
		serve('GET', '/v1/x', [{ status: 404 }]);
		const error = await failure(client().get('x'));
		assert.ok(isHttpStatusError(error));
		assert.ok(isHttpStatusError(error, 404));
		assert.ok(!isHttpStatusError(error, 500));
		assert.ok(!isNetworkError(error));
		assert.ok(!isTimeoutError(error));
		assert.ok(!isSteadfetchError(new Error('plain')));
		assert.ok(!isSteadfetchError(null));
		assert.ok(!isSteadfetchError('404'));
	});

	it('recognises an error from another realm, where instanceof fails', () => {
		const foreign = runInNewContext(
			"const e = new Error('x'); Object.defineProperty(e, Symbol.for('steadfetch.error'), {value: 'network'}); e",
		);
		assert.ok(!(foreign instanceof Error));
		assert.ok(isSteadfetchError(foreign));
		assert.ok(isNetworkError(foreign));
	});
});

describe('passes through what is not an HTTP, network or timeout failure', () => {
	it('rethrows an error from a user hook unchanged', async () => {
		const seen = serve('GET', '/v1/x', [{ status: 200 }]);
		const own = new Error('hook failed');
		await assert.rejects(
			client({
				hooks: {
					afterResponse: [
						() => {
							throw own;
						},
					],
				},
			}).get('x'),
			(error) => error === own,
		);
		assert.equal(seen.count, 1);
	});

	it('lets a user beforeError hook see and replace the enriched error', async () => {
		serve('GET', '/v1/x', [{ status: 404 }]);
		const seenByHook: unknown[] = [];
		await assert.rejects(
			client({
				hooks: {
					beforeError: [
						({ error }) => {
							seenByHook.push(error);
							return new Error('replaced');
						},
					],
				},
			}).get('x'),
			{ message: 'replaced' },
		);
		assert.ok(seenByHook[0] instanceof NotFoundError);
	});
});

describe("keeps the enriched error and the Idempotency-Key when a call or extend() clears or replaces ky's hooks", () => {
	// ky drops an instance's hooks of a kind given as undefined, and every hook for `hooks: undefined` or replaceOption().
	// The loop, not a hook, enriches the error and sets the key: what a call does to ky's hooks cannot drop either.
	const limited = (options: Parameters<typeof createClient>[0] = {}) =>
		client({ retry: { limit: 1, baseDelayMs: 1, maxDelayMs: 1 }, ...options });
	const atLimit = () => serve('GET', '/v1/x', times(2, { status: 503 }));
	const enriched = (error: unknown) => error instanceof ServerError && error.stopReason === 'limit';
	const theirs = () => {
		const seen: unknown[] = [];
		const hook: BeforeErrorHook = ({ error }) => {
			seen.push(error);
			return error;
		};
		return { seen, hook };
	};

	it('still raises the enriched error after extend() cleared the beforeError hooks, and runs none of the cleared ones', async () => {
		const seen = atLimit();
		const old = theirs();
		const api = limited({ hooks: { beforeError: [old.hook] } }).extend({ hooks: { beforeError: undefined } as never });
		const error = await failure(api.get('x'));
		assert.ok(enriched(error));
		assert.equal(old.seen.length, 0);
		assert.equal(seen.count, 2);
	});

	it('still raises the enriched error for a call given hooks: undefined', async () => {
		const seen = atLimit();
		const error = await failure(limited().get('x', { hooks: undefined as never }));
		assert.ok(enriched(error));
		assert.equal(seen.count, 2);
	});

	it("hands a call's replacing beforeError hook the enriched error, and skips the instance's", async () => {
		const seen = atLimit();
		const old = theirs();
		const own = theirs();
		const error = await failure(
			limited({ hooks: { beforeError: [old.hook] } }).get('x', { hooks: replaceOption({ beforeError: [own.hook] }) as never }),
		);
		assert.ok(enriched(error));
		assert.equal(own.seen.length, 1);
		assert.ok(enriched(own.seen[0]));
		assert.equal(old.seen.length, 0);
		assert.equal(seen.count, 2);
	});

	it('still sends one Idempotency-Key per call after extend() cleared the beforeRequest hooks', async () => {
		const seen = serve('POST', '/v1/x', [{ status: 500 }, { status: 201, body: { id: 1 } }]);
		let cleared = 0;
		const hook: BeforeRequestHook = () => {
			cleared++;
		};
		const api = client({ idempotencyKey: true, hooks: { beforeRequest: [hook] } }).extend({
			hooks: { beforeRequest: undefined } as never,
		});
		assert.deepEqual(await api.post('x', { json: { a: 1 } }).json(), { id: 1 });
		const keys = seen.headers.map((headers) => headers['idempotency-key']);
		assert.equal(seen.count, 2);
		assert.equal(typeof keys[0], 'string');
		assert.equal(keys[1], keys[0]);
		assert.equal(cleared, 0);
	});

	it('leaves hooks that clear nothing of its own to merge as ky merges them', async () => {
		const seen = atLimit();
		const old = theirs();
		const added = theirs();
		const api = limited({ hooks: { beforeError: [old.hook] } }).extend({
			hooks: { afterResponse: undefined, beforeError: [added.hook] } as never,
		});
		const error = await failure(api.get('x'));
		assert.ok(enriched(error));
		assert.deepEqual([old.seen.length, added.seen.length], [1, 1]);
		assert.ok(enriched(old.seen[0]));
		assert.equal(seen.count, 2);
	});
});
