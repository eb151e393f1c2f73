import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import ky, {
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
	createFetch,
	FetchNetworkError,
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
import { assertNoSecret } from './support/renderings.ts';
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
		assert.match(
			error.message,
			/^Network Error GET http:\/\/127\.0\.0\.1:\d+\/x\?token=\*\*\*: No response was received\. UND_ERR_SOCKET: the connection closed\. Solution: /,
		);
	});

	it("keeps the runtime's TypeError a TypeError in the redacted cause, as ky's cause is: 1 request each", async () => {
		const causes: unknown[] = [];
		for (const api of [ky, createClient({ retry: 0 })]) {
			const server = await startLoopback([{ reset: true }]);
			const error = await api.get(`${server.url}/x?token=abc`, { retry: 0 }).catch((caught: unknown) => caught);
			await server.close();
			assert.equal(server.count, 1);
			causes.push((error as Error).cause);
		}
		assert.deepEqual(
			causes.map((cause) => [cause instanceof TypeError, (cause as Error).name, (cause as Error).message]),
			[
				[true, 'TypeError', 'fetch failed'],
				[true, 'TypeError', 'fetch failed'],
			],
		);
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
			`404 GET ${origin}/v1/users/42: The requested resource doesn't exist. The server said: "no such user". Solution: Use the correct URL (check for typos and our API documentation carefully).`,
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

// Issue 27: the server's own reason in the message, as Stripe's and OpenAI's SDKs put it there; bodies as the APIs send them.
describe("says in the message what the server said went wrong, bounded and redacted, the docs' advice kept", () => {
	const json = 'application/json; charset=utf-8';
	const problemJson = 'application/problem+json';
	// One call through the client against a real server answering `body` with `status`; the error and the requests it saw.
	const answered = async (status: number, type: string, body: string, options: Parameters<typeof createClient>[0] = {}) => {
		const server = await startLoopback([{ status, body, headers: { 'content-type': type } }]);
		try {
			const error = await failure(createClient({ retry: 0, ...options }).get(`${server.url}/v1/x`));
			return { error, count: server.count, url: `${server.url}/v1/x` };
		} finally {
			await server.close();
		}
	};

	it("quotes Stripe's error.message between the docs' description and solution", async () => {
		const body = JSON.stringify({
			error: {
				code: 'resource_missing',
				doc_url: 'https://stripe.com/docs/error-codes/resource-missing',
				message: "No such customer: 'cus_x'",
				param: 'id',
				request_log_url: 'https://dashboard.stripe.com/test/logs/req_x?t=1',
				type: 'invalid_request_error',
			},
		});
		const { error, count, url } = await answered(404, json, body);
		assert.equal(
			error.message,
			`404 GET ${url}: The requested resource doesn't exist. The server said: "No such customer: 'cus_x'". Solution: Use the correct URL (check for typos and our API documentation carefully).`,
		);
		assert.equal(error.problem, undefined);
		assert.equal(count, 1);
	});

	it("quotes OpenAI's error.message", async () => {
		const body = JSON.stringify({
			error: {
				message: 'The model `gpt-9` does not exist or you do not have access to it.',
				type: 'invalid_request_error',
				param: null,
				code: 'model_not_found',
			},
		});
		const { error, count } = await answered(404, json, body);
		assert.match(error.message, / The server said: "The model `gpt-9` does not exist or you do not have access to it\." Solution: /);
		assert.equal(count, 1);
	});

	it("cuts a reason past 200 characters with an ellipsis and masks the call's key in it (OpenAI's 401)", async () => {
		const apiKey = `sk-proj-${'Q'.repeat(40)}abcd`;
		const said = `Incorrect API key provided: ${apiKey}. You can find your API key at https://platform.openai.com/account/api-keys.`;
		const body = JSON.stringify({ error: { message: said, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
		const { error, count } = await answered(401, json, body, { apiKey });
		const quoted = /The server said: "([^"]*)"/.exec(error.message)?.[1] ?? '';
		assert.equal(quoted, 'Incorrect API key provided: ***. You can find your API key at https://platform.openai.com/account/api-keys.');
		assertNoSecret(error, [apiKey]);
		const long = await answered(401, json, JSON.stringify({ error: { message: `Too long: ${'x'.repeat(300)}` } }));
		const cut = /The server said: "([^"]*)"/.exec(long.error.message)?.[1] ?? '';
		assert.equal(cut.length, 200);
		assert.ok(cut.endsWith('x…'));
		// A cut never splits a character made of two UTF-16 units.
		const emoji = await answered(401, json, JSON.stringify({ error: { message: `${'x'.repeat(198)}😀😀😀` } }));
		assert.ok(emoji.error.message.includes(` The server said: "${'x'.repeat(198)}…" `), emoji.error.message);
		assert.ok(long.error.message.endsWith('Solution: Double-check the API key and make sure you input the correct one.'));
		assert.deepEqual([count, long.count, emoji.count], [1, 1, 1]);
	});

	it("leaves out a reason that only repeats the status's title (GitHub's 404), and quotes GitHub's message otherwise", async () => {
		const notFound = await answered(
			404,
			json,
			'{"message":"Not Found","documentation_url":"https://docs.github.com/rest/repos/repos#get-a-repository","status":"404"}',
		);
		assert.equal(
			notFound.error.message,
			`404 GET ${notFound.url}: The requested resource doesn't exist. Solution: Use the correct URL (check for typos and our API documentation carefully).`,
		);
		const invalid = await answered(
			422,
			json,
			'{"message":"Validation Failed","errors":[{"resource":"Issue","code":"missing_field","field":"title"}],"documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue","status":"422"}',
		);
		assert.match(
			invalid.error.message,
			/: The request was refused\. The server said: "Validation Failed \(title: missing_field\)"\. Solution: /,
		);
		// GitHub's `status` is a string: not problem details.
		assert.equal(invalid.error.problem, undefined);
		assert.deepEqual([notFound.count, invalid.count], [1, 1]);
	});

	it("exposes RFC 9457's out-of-credit problem as `problem`, extensions included, and quotes its detail", async () => {
		const body = {
			type: 'https://example.com/probs/out-of-credit',
			title: 'You do not have enough credit.',
			detail: 'Your current balance is 30, but that costs 50.',
			instance: '/account/12345/msgs/abc',
			balance: 30,
			accounts: ['/account/12345', '/account/67890'],
		};
		const { error, count } = await answered(403, problemJson, JSON.stringify(body));
		assert.deepEqual(error.problem, body);
		assert.ok(Object.isFrozen(error.problem));
		assert.match(
			error.message,
			/: The request was refused\. The server said: "Your current balance is 30, but that costs 50\." Solution: /,
		);
		const logged = JSON.parse(JSON.stringify(error));
		assert.deepEqual(logged.problem, body);
		assert.deepEqual(Object.keys(logged).slice(0, 9), [
			'name',
			'message',
			'status',
			'title',
			'description',
			'advice',
			'request',
			'problem',
			'data',
		]);
		assert.equal(count, 1);
	});

	it("quotes RFC 9457's validation problem by its title and its first error", async () => {
		const body = {
			type: 'https://example.net/validation-error',
			title: 'Your request is not valid.',
			errors: [
				{ detail: 'must be a positive integer', pointer: '#/age' },
				{ detail: "must be 'green', 'red' or 'blue'", pointer: '#/profile/color' },
			],
		};
		const { error, count } = await answered(422, problemJson, JSON.stringify(body));
		assert.deepEqual(error.problem, body);
		assert.match(error.message, / The server said: "Your request is not valid\. \(#\/age: must be a positive integer, \+1 more\)"\. /);
		assert.equal(count, 1);
	});

	it('reads problem details sent as application/json when their status is the response status', async () => {
		const body = { type: 'about:blank', title: 'Not Found', status: 404, detail: 'No user 42.', instance: '/users/42' };
		const { error, count } = await answered(404, 'application/json', JSON.stringify(body));
		assert.deepEqual(error.problem, body);
		assert.match(error.message, / The server said: "No user 42\." Solution: /);
		const other = await answered(404, 'application/json', JSON.stringify({ ...body, status: 400 }));
		assert.equal(other.error.problem, undefined);
		assert.deepEqual([count, other.count], [1, 1]);
	});

	it('ignores a standard member of the wrong type, as RFC 9457 says, and keeps __proto__ as data', async () => {
		const body = '{"title":"Bad","status":"400","detail":7,"__proto__":{"polluted":true}}';
		const { error, count } = await answered(400, problemJson, body);
		assert.deepEqual(Object.keys(error.problem ?? {}), ['title', '__proto__']);
		assert.equal(error.problem?.status, undefined);
		assert.equal(({} as { polluted?: boolean }).polluted, undefined);
		assert.equal((error.problem as { polluted?: boolean }).polluted, undefined);
		assert.match(error.message, / The server said: "Bad"\. /);
		assert.equal(count, 1);
	});

	it('keeps only the standard members of a problem too large for `data`', async () => {
		const body = { title: 'Too many errors.', detail: 'See errors.', errors: Array.from({ length: 2000 }, (_, index) => `error ${index}`) };
		const { error, count } = await answered(422, problemJson, JSON.stringify(body));
		assert.deepEqual(error.problem, { title: 'Too many errors.', detail: 'See errors.' });
		assert.equal(typeof error.data, 'string');
		assert.match(error.message, / The server said: "See errors\. \(error 0, \+1999 more\)"\. /);
		assert.equal(count, 1);
	});

	it('reads the common shapes: error as a string, error_description, detail, errors[0] alone', async () => {
		const cases: [string, string][] = [
			['{"error":"no such user"}', 'no such user'],
			['{"error":"invalid_grant","error_description":"The refresh token has expired."}', 'The refresh token has expired.'],
			['{"detail":"Authentication credentials were not provided."}', 'Authentication credentials were not provided.'],
			['{"errors":[{"message":"Cannot query field \\"nope\\" on type \\"Query\\"."}]}', 'Cannot query field "nope" on type "Query".'],
			['{"errors":["name is required","age is required"]}', 'name is required, +1 more'],
		];
		for (const [body, said] of cases) {
			const { error, count } = await answered(400, json, body);
			assert.ok(error.message.includes(` The server said: "${said}"`), error.message);
			assert.equal(count, 1);
		}
	});

	it('takes the first line of a text/plain body, and nothing of an HTML page or a body it cannot read', async () => {
		const text = await answered(400, 'text/plain; charset=utf-8', '\nmissing q\nstack trace line\n');
		assert.match(text.error.message, / The server said: "missing q"\. Solution: /);
		for (const [type, body] of [
			['text/html', '<html><body><h1>400 Bad Request</h1></body></html>'],
			['application/json', '{"message": "not quite json'],
			['application/json', '{"count": 3}'],
			['application/json', '{"message": ""}'],
		]) {
			const { error, count } = await answered(400, type ?? '', body ?? '');
			assert.ok(!error.message.includes('The server said'), error.message);
			assert.equal(count, 1);
		}
		assert.equal(text.count, 1);
	});

	it('puts the reason on one line, without control characters, and masks a secret spread over lines', async () => {
		const apiKey = 'sk-live-TWO  SPACES';
		const body = JSON.stringify({ message: `first\r\nsecond\t\u001b[31mred\u202Eevil\u2028key: sk-live-TWO\n SPACES` });
		const { error, count } = await answered(400, json, body, { apiKey });
		assert.match(error.message, / The server said: "first second \[31mred evil key: sk-live-TWO SPACES"\. /);
		for (const unprintable of ['\r', '\n', '\t', '\u001b', '\u202e', '\u2028']) {
			assert.ok(!error.message.includes(unprintable), JSON.stringify(unprintable));
		}
		assertNoSecret(error, [apiKey]);
		assert.equal(count, 1);
	});

	it('says the same through the throwing drop-in fetch', async () => {
		const server = await startLoopback([
			{ status: 404, body: JSON.stringify({ error: { message: "No such customer: 'cus_x'" } }), headers: { 'content-type': json } },
		]);
		const error = await failure(createFetch({ retry: 0, throwHttpErrors: true })(`${server.url}/v1/x`));
		await server.close();
		assert.match(error.message, / The server said: "No such customer: 'cus_x'"\. Solution: /);
		assert.equal(server.count, 1);
	});
});

// Issue 27: on Node the code is on the cause of fetch's `TypeError: fetch failed`; steadfetch brings it to the top.
describe('names what happened when no response arrived: `code`, in the message and in toJSON()', () => {
	const closedPort = async (): Promise<string> => {
		const server = await startLoopback([]);
		await server.close();
		return server.url;
	};
	// A fetch that rejects as a runtime does, counting the attempts.
	const rejecting = (error: () => unknown) => {
		const counted = { count: 0 };
		const fetch = async (): Promise<Response> => {
			counted.count++;
			throw error();
		};
		return { counted, fetch };
	};

	it('gives ECONNREFUSED for a closed port, after limit + 1 attempts', async () => {
		const url = await closedPort();
		const error = await failure(createClient({ retry: { limit: 1, baseDelayMs: 1 }, breaker: false }).get(`${url}/x`));
		assert.ok(error instanceof NetworkError);
		assert.equal(error.code, 'ECONNREFUSED');
		assert.match(error.message, /: No response was received\. ECONNREFUSED: the connection was refused\. Solution: /);
		assert.equal(error.toJSON().code, 'ECONNREFUSED');
		assert.equal(JSON.parse(JSON.stringify(error)).code, 'ECONNREFUSED');
		assert.equal(error.attempts, 2);
		assert.deepEqual(
			error.history.map((record) => record.failure),
			['network', 'network'],
		);
	});

	it('gives UND_ERR_SOCKET for a connection the server destroys, at the top of the drop-in fetch TypeError too', async () => {
		const server = await startLoopback([{ reset: true }]);
		const error = await createFetch({ retry: 0 })(`${server.url}/x`).catch((caught: unknown) => caught);
		await server.close();
		assert.ok(error instanceof FetchNetworkError);
		assert.ok(error instanceof TypeError);
		assert.ok(isNetworkError(error));
		assert.equal(error.message, 'fetch failed');
		assert.equal(error.code, 'UND_ERR_SOCKET');
		assert.match(error.summary, /: No response was received\. UND_ERR_SOCKET: the connection closed\. Solution: /);
		assert.equal(error.toJSON().code, 'UND_ERR_SOCKET');
		assert.equal(server.count, 1);
	});

	it('gives the code of a body cut off while read', async () => {
		const server = await startLoopback([{ cut: 200 }]);
		const error = await createClient({ retry: 0 })
			.get(`${server.url}/items`)
			.json()
			.catch((caught: unknown) => caught);
		await server.close();
		assert.ok(isNetworkError(error));
		assert.equal(error.code, 'UND_ERR_SOCKET');
		assert.equal(server.count, 1);
	});

	it("reads the code where each runtime puts it: on the error (Bun), its cause (Node), an AggregateError's entries", async () => {
		const shapes: [string, () => unknown][] = [
			[
				'ECONNRESET',
				() => Object.assign(new TypeError('ECONNRESET: The socket connection was closed unexpectedly.'), { code: 'ECONNRESET' }),
			],
			[
				'ENOTFOUND',
				() => new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), { code: 'ENOTFOUND' }) }),
			],
			[
				'ETIMEDOUT',
				() =>
					new TypeError('fetch failed', {
						cause: new AggregateError([Object.assign(new Error('connect ETIMEDOUT 10.0.0.1:443'), { code: 'ETIMEDOUT' })], 'connect'),
					}),
			],
		];
		for (const [code, shape] of shapes) {
			const { counted, fetch } = rejecting(shape);
			const error = await failure(createClient({ retry: 0, fetch, breaker: false }).get('https://api.example.test/x'));
			assert.equal(error.code, code);
			assert.ok(error.message.includes(` ${code}: `), error.message);
			assert.equal(counted.count, 1);
		}
	});

	it('says what a certificate code means, and names a code it has no words for', async () => {
		for (const [code, said] of [
			['DEPTH_ZERO_SELF_SIGNED_CERT', 'DEPTH_ZERO_SELF_SIGNED_CERT: the TLS handshake failed.'],
			['UND_ERR_SOMETHING_NEW', 'Error code UND_ERR_SOMETHING_NEW.'],
		] as const) {
			const { counted, fetch } = rejecting(() => new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code }) }));
			const error = await failure(createClient({ retry: 0, fetch, breaker: false }).get('https://api.example.test/x'));
			assert.ok(error.message.includes(`: No response was received. ${said} Solution: `), error.message);
			assert.equal(counted.count, 1);
		}
	});

	it('leaves code undefined where the runtime names none (Deno, browsers), and ignores what is no error code', async () => {
		const shapes: (() => unknown)[] = [
			() => new TypeError('Failed to fetch'),
			() => new TypeError('fetch failed', { cause: new Error('error sending request: dns error: failed to lookup address') }),
			() => Object.assign(new TypeError('fetch failed'), { code: 19 }),
			() => Object.assign(new TypeError('fetch failed'), { code: 'connect refused, key sk-live-CODE-KEY' }),
			() =>
				Object.defineProperty(new TypeError('fetch failed'), 'code', {
					get() {
						throw new Error('a getter that throws');
					},
				}),
		];
		for (const shape of shapes) {
			const { counted, fetch } = rejecting(shape);
			const error = await failure(
				createClient({ apiKey: 'sk-live-CODE-KEY', retry: 0, fetch, breaker: false }).get('https://api.example.test/x'),
			);
			assert.equal(error.code, undefined);
			assert.match(error.message, /: No response was received\. Solution: /);
			assert.ok(!('code' in error.toJSON()));
			assertNoSecret(error, ['sk-live-CODE-KEY']);
			assert.equal(counted.count, 1);
		}
	});

	it('has no code for a response, a timeout or an open circuit', async () => {
		const seen = serve('GET', '/v1/x', [{ status: 500 }]);
		const error = await failure(client({ retry: 0 }).get('x'));
		assert.equal(error.code, undefined);
		assert.ok(!('code' in error.toJSON()));
		assert.equal(seen.count, 1);
	});
});
