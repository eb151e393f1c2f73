import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Octokit } from '@octokit/core';
import { RequestError } from '@octokit/request-error';
import { ClientError, GraphQLClient } from 'graphql-request';
import OpenAI from 'openai';
import { createFetch, isHttpStatusError } from '../src/index.ts';
import { type Loopback, type LoopbackReply, withLoopback } from './support/loopback.ts';

/*
Each SDK is built as README.md and docs/fetch.md show it, to the character (`shown`), and only pointed at the loopback
server with its own base URL option (and given a test credential). The failures name a 1 ms wait (`retry-after-ms`),
so that the configuration stays as documented and the specs still run in milliseconds.
*/
const shown = {
	openai: 'new OpenAI({ fetch: createFetch({ idempotencyKey: true }), maxRetries: 0 })',
	graphql: 'new GraphQLClient(endpoint, { fetch: createFetch({ idempotencyKey: true }) })',
	octokit: 'new Octokit({ auth: token, request: { fetch: createFetch() } })',
};
const openaiAt = (server: Loopback) =>
	new OpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, fetch: createFetch({ idempotencyKey: true }), maxRetries: 0 });
const graphqlAt = (server: Loopback) => new GraphQLClient(`${server.url}/graphql`, { fetch: createFetch({ idempotencyKey: true }) });
const octokitAt = (server: Loopback) => new Octokit({ auth: 'ghp-test', baseUrl: server.url, request: { fetch: createFetch() } });

const failure = (status: number): LoopbackReply => ({
	status,
	headers: { 'retry-after-ms': '1' },
	body: JSON.stringify({ error: { message: `status ${status}`, type: 'server_error' }, message: `status ${status}` }),
});
const flaky = (body: string): LoopbackReply[] => [failure(500), failure(500), { status: 200, body }];

const completion = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [] });
const chat = (client: OpenAI) => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
const viewer = JSON.stringify({ data: { viewer: { login: 'octocat' } } });
const query = '{ viewer { login } }';
const repo = JSON.stringify({ id: 1, full_name: 'octo/hello' });
const getRepo = (client: Octokit) => client.request('GET /repos/{owner}/{repo}', { owner: 'octo', repo: 'hello' });

/** Every request carried the same UUID as its `Idempotency-Key`. */
function assertOneKey(server: Loopback): void {
	const keys = server.headers.map((headers) => headers['idempotency-key']);
	assert.match(String(keys[0]), /^[\da-f-]{36}$/);
	assert.ok(
		keys.every((key) => key === keys[0]),
		`keys: ${keys.join(', ')}`,
	);
}

describe('README.md and docs/fetch.md show the configurations these specs run', () => {
	for (const file of ['README.md', 'docs/fetch.md']) {
		it(`${file} builds the OpenAI SDK as specified here`, () => {
			assert.ok(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8').includes(shown.openai));
		});
	}
	it('docs/fetch.md builds graphql-request and Octokit as specified here', () => {
		const doc = readFileSync(new URL('../docs/fetch.md', import.meta.url), 'utf8');
		assert.ok(doc.includes(shown.graphql));
		assert.ok(doc.includes(shown.octokit));
	});
});

describe('a call of an SDK configured as documented recovers from 500, 500, 200 in three requests, whatever its method', () => {
	it('OpenAI: a chat completion (POST) succeeds, with one Idempotency-Key on all three requests and the body intact', async () => {
		await withLoopback(flaky(completion), async (server) => {
			const result = await chat(openaiAt(server));
			assert.equal(result.id, 'c1');
			assert.equal(server.count, 3);
			assertOneKey(server);
			assert.ok(server.headers.every((headers) => headers.authorization === 'Bearer sk-test'));
			const bodies = await Promise.all(server.bodies);
			assert.match(bodies[0] ?? '', /"content":"hi"/);
			assert.ok(bodies.every((body) => body === bodies[0]));
		});
	});

	it('graphql-request: a query (POST) succeeds, with one Idempotency-Key on all three requests', async () => {
		await withLoopback(flaky(viewer), async (server) => {
			const result = await graphqlAt(server).request<{ viewer: { login: string } }>(query);
			assert.deepEqual(result, { viewer: { login: 'octocat' } });
			assert.equal(server.count, 3);
			assertOneKey(server);
		});
	});

	it('Octokit: a GET succeeds, with no Idempotency-Key', async () => {
		await withLoopback(flaky(repo), async (server) => {
			const { data } = await getRepo(octokitAt(server));
			assert.equal(data.full_name, 'octo/hello');
			assert.equal(server.count, 3);
			assert.ok(server.headers.every((headers) => headers.authorization === 'token ghp-test'));
			assert.ok(server.headers.every((headers) => headers['idempotency-key'] === undefined));
		});
	});
});

describe("a 404 fails at once, with the SDK's own not-found error, after exactly one request", () => {
	it('OpenAI: NotFoundError', async () => {
		await withLoopback([failure(404), { status: 200, body: completion }], async (server) => {
			await assert.rejects(chat(openaiAt(server)), (caught: unknown) => caught instanceof OpenAI.NotFoundError && caught.status === 404);
			assert.equal(server.count, 1);
		});
	});

	it('graphql-request: ClientError (Code: 404)', async () => {
		await withLoopback([failure(404), { status: 200, body: viewer }], async (server) => {
			await assert.rejects(
				graphqlAt(server).request(query),
				(caught: unknown) => caught instanceof ClientError && caught.response.status === 404,
			);
			assert.equal(server.count, 1);
		});
	});

	it('Octokit: RequestError with status 404', async () => {
		await withLoopback([failure(404), { status: 200, body: repo }], async (server) => {
			await assert.rejects(getRepo(octokitAt(server)), (caught: unknown) => caught instanceof RequestError && caught.status === 404);
			assert.equal(server.count, 1);
		});
	});
});

describe('a call the guards refuse reaches the SDK as the status it stands for, marked as local, after no request', () => {
	// The API's window spent for two hours: past maxDelayMs, so the next call is refused at once.
	const spent = () => ({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 7200) });

	it('OpenAI: RateLimitError 429, not a connection error', async () => {
		await withLoopback([{ status: 200, body: completion, headers: spent() }], async (server) => {
			const client = new OpenAI({
				apiKey: 'sk-test',
				baseURL: `${server.url}/v1`,
				fetch: createFetch({ idempotencyKey: true }),
				maxRetries: 0,
			});
			await chat(client);
			await assert.rejects(
				chat(client),
				(caught: unknown) =>
					caught instanceof OpenAI.RateLimitError &&
					caught.status === 429 &&
					caught.headers?.get('x-steadfetch-refused') === 'rate-limited',
			);
			assert.equal(server.count, 1);
		});
	});

	it('graphql-request: its own ClientError with status 429', async () => {
		await withLoopback([{ status: 200, body: viewer, headers: spent() }], async (server) => {
			const client = new GraphQLClient(`${server.url}/graphql`, { fetch: createFetch({ idempotencyKey: true }) });
			await client.request(query);
			await assert.rejects(client.request(query), (caught: unknown) => caught instanceof ClientError && caught.response.status === 429);
			assert.equal(server.count, 1);
		});
	});

	it('Octokit: RequestError with status 429, not 500', async () => {
		await withLoopback([{ status: 200, body: repo, headers: spent() }], async (server) => {
			const client = new Octokit({ auth: 'ghp-test', baseUrl: server.url, request: { fetch: createFetch() } });
			await getRepo(client);
			await assert.rejects(getRepo(client), (caught: unknown) => caught instanceof RequestError && caught.status === 429);
			assert.equal(server.count, 1);
		});
	});
});

describe('without `idempotencyKey: true`, a POST of an SDK is sent once', () => {
	it("OpenAI with createFetch(): a chat completion meets a 500 and fails with the SDK's InternalServerError after one request", async () => {
		await withLoopback(flaky(completion), async (server) => {
			const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, fetch: createFetch(), maxRetries: 0 });
			await assert.rejects(chat(openai), (caught: unknown) => caught instanceof OpenAI.InternalServerError && caught.status === 500);
			assert.equal(server.count, 1);
			assert.equal(server.headers[0]?.['idempotency-key'], undefined, 'the SDK sets no key of its own');
		});
	});
});

describe('`throwHttpErrors: true` breaks an SDK: it reads the thrown error as a failed connection', () => {
	it('OpenAI reports a 404 as APIConnectionError, not NotFoundError', async () => {
		await withLoopback([failure(404), { status: 200, body: completion }], async (server) => {
			const openai = new OpenAI({
				apiKey: 'sk-test',
				baseURL: `${server.url}/v1`,
				fetch: createFetch({ throwHttpErrors: true }),
				maxRetries: 0,
			});
			await assert.rejects(chat(openai), (caught: unknown) => {
				assert.ok(caught instanceof OpenAI.APIConnectionError);
				assert.ok(!(caught instanceof OpenAI.NotFoundError));
				assert.equal(caught.message, 'Connection error.');
				assert.ok(isHttpStatusError(caught.cause, 404));
				return true;
			});
			assert.equal(server.count, 1);
		});
	});

	it("OpenAI's own retries then send the 404 again (maxRetries: 1, two requests)", async function () {
		// The SDK waits 375 to 500 ms before its retry, and has no option to shorten it.
		this.slow(1500);
		await withLoopback([failure(404), failure(404), { status: 200, body: completion }], async (server) => {
			const openai = new OpenAI({
				apiKey: 'sk-test',
				baseURL: `${server.url}/v1`,
				fetch: createFetch({ throwHttpErrors: true }),
				maxRetries: 1,
			});
			await assert.rejects(chat(openai), OpenAI.APIConnectionError);
			assert.equal(server.count, 2);
		});
	});
});
