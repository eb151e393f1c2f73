import assert from 'node:assert/strict';
import { BadRequestError, ClientError, createClient, NotFoundError, UnauthenticatedError } from '../src/index.ts';
import { origin, serve, times } from './support/server.ts';

const client = () => createClient({ baseUrl: `${origin}/v1/`, retry: { baseDelayMs: 1, limit: 5 } });

describe('fails fast on statuses that cannot recover', () => {
	for (const [status, ErrorClass] of [
		[400, BadRequestError],
		[401, UnauthenticatedError],
		[404, NotFoundError],
	] as const) {
		for (const method of ['GET', 'PUT', 'DELETE', 'POST']) {
			it(`sends exactly one request for a ${status} to ${method}`, async () => {
				const seen = serve(method, '/v1/items/1', times(3, { status }));
				await assert.rejects(client()('items/1', { method, headers: { 'idempotency-key': 'k' } }), ErrorClass);
				assert.equal(seen.count, 1);
			});
		}
	}

	for (const status of [402, 403, 405, 409, 410, 413, 422, 451]) {
		it(`sends exactly one request for a ${status}`, async () => {
			const seen = serve('GET', '/v1/items', times(3, { status }));
			await assert.rejects(client().get('items'), (error: unknown) => error instanceof ClientError && !(error as ClientError).retryable);
			assert.equal(seen.count, 1);
		});
	}

	it('does not retry a 404 even when it carries Retry-After', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 404, headers: { 'retry-after': '0' } }));
		await assert.rejects(client().get('items'), NotFoundError);
		assert.equal(seen.count, 1);
	});

	it('does not retry a 501 Not Implemented, which no retry can fix', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 501 }));
		await assert.rejects(client().get('items'), { name: 'ServerError', status: 501, retryable: false });
		assert.equal(seen.count, 1);
	});
});
