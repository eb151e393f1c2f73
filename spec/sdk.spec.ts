import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createFetch, type FetchOptions } from '../src/index.ts';
import { withLoopback } from './support/loopback.ts';

const model = JSON.stringify({ id: 'demo-model', object: 'model', created: 0, owned_by: 'steadfetch' });
const failure = (status: number, message: string) => ({ status, body: JSON.stringify({ error: { message, type: 'server_error' } }) });
// The SDK's own retries are off: every retry the server sees is steadfetch's.
const sdk = (url: string, options: FetchOptions = {}) =>
	new OpenAI({ apiKey: 'sk-test', baseURL: `${url}/v1`, maxRetries: 0, fetch: createFetch({ retry: { baseDelayMs: 1 }, ...options }) });

describe('works as the custom fetch of a real SDK (openai)', () => {
	it('recovers from two 500s with three requests', async () => {
		await withLoopback([failure(500, 'boom'), failure(500, 'boom'), { status: 200, body: model }], async (server) => {
			const result = await sdk(server.url).models.retrieve('demo-model');
			assert.equal(result.id, 'demo-model');
			assert.equal(server.count, 3);
			assert.ok(server.headers.every((headers) => headers.authorization === 'Bearer sk-test'));
		});
	});

	it("shows the SDK's own NotFoundError for a 404, after exactly one request", async () => {
		await withLoopback([failure(404, 'no such model'), { status: 200, body: model }], async (server) => {
			await assert.rejects(
				sdk(server.url).models.retrieve('nope'),
				(caught: unknown) => caught instanceof OpenAI.NotFoundError && caught.status === 404,
			);
			assert.equal(server.count, 1);
		});
	});

	it('retries a POST with the Idempotency-Key steadfetch adds, body intact', async () => {
		const completion = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: 'm', choices: [] });
		await withLoopback([{ status: 503 }, { status: 200, body: completion }], async (server) => {
			const result = await sdk(server.url, { idempotencyKey: true }).chat.completions.create({
				model: 'm',
				messages: [{ role: 'user', content: 'hi' }],
			});
			assert.equal(result.id, 'c1');
			assert.equal(server.count, 2);
			const bodies = await Promise.all(server.bodies);
			assert.equal(bodies[0], bodies[1]);
			assert.match(bodies[0] ?? '', /"content":"hi"/);
			assert.match(String(server.headers[0]?.['idempotency-key']), /^[\da-f-]{36}$/);
			assert.equal(server.headers[0]?.['idempotency-key'], server.headers[1]?.['idempotency-key']);
		});
	});
});
