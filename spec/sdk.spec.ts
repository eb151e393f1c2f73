import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createFetch } from '../src/index.ts';
import { startLoopback } from './support/loopback.ts';

const model = JSON.stringify({ id: 'demo-model', object: 'model', created: 0, owned_by: 'steadfetch' });
const error = (message: string) => JSON.stringify({ error: { message, type: 'server_error' } });

// A real SDK, with its own retries off, handed our fetch: it sees recovered responses and keeps its own error types.
describe('works as the custom fetch of a real SDK (openai)', () => {
	it('recovers from two 500s with three requests', async () => {
		const server = await startLoopback([
			{ status: 500, body: error('boom') },
			{ status: 500, body: error('boom') },
			{ status: 200, body: model },
		]);
		try {
			const openai = new OpenAI({
				apiKey: 'sk-test',
				baseURL: `${server.url}/v1`,
				maxRetries: 0,
				fetch: createFetch({ retry: { baseDelayMs: 1 } }),
			});
			const result = await openai.models.retrieve('demo-model');
			assert.equal(result.id, 'demo-model');
			assert.equal(server.count, 3);
			assert.ok(server.headers.every((headers) => headers.authorization === 'Bearer sk-test'));
		} finally {
			await server.close();
		}
	});

	it("shows the SDK's own NotFoundError for a 404, after exactly one request", async () => {
		const server = await startLoopback([
			{ status: 404, body: JSON.stringify({ error: { message: 'no such model', type: 'invalid_request_error' } }) },
			{ status: 200, body: model },
		]);
		try {
			const openai = new OpenAI({
				apiKey: 'sk-test',
				baseURL: `${server.url}/v1`,
				maxRetries: 0,
				fetch: createFetch({ retry: { baseDelayMs: 1 } }),
			});
			await assert.rejects(
				openai.models.retrieve('nope'),
				(caught: unknown) => caught instanceof OpenAI.NotFoundError && caught.status === 404,
			);
			assert.equal(server.count, 1);
		} finally {
			await server.close();
		}
	});

	it('retries a POST the SDK sends with its own Idempotency-Key, body intact', async () => {
		const completion = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [] });
		const server = await startLoopback([{ status: 503 }, { status: 200, body: completion }]);
		try {
			const openai = new OpenAI({
				apiKey: 'sk-test',
				baseURL: `${server.url}/v1`,
				maxRetries: 0,
				fetch: createFetch({ idempotencyKey: true, retry: { baseDelayMs: 1 } }),
			});
			const result = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
			assert.equal(result.id, 'c1');
			assert.equal(server.count, 2);
			const bodies = await Promise.all(server.bodies);
			assert.equal(bodies[0], bodies[1]);
			assert.match(bodies[0] ?? '', /"content":"hi"/);
			assert.equal(server.headers[0]?.['idempotency-key'], server.headers[1]?.['idempotency-key']);
		} finally {
			await server.close();
		}
	});
});
