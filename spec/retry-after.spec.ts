import assert from 'node:assert/strict';
import { createClient, isSteadfetchError, type RetryEvent } from '../src/index.ts';
import { origin, serve } from './support/server.ts';

const client = (retry: object = {}, options: object = {}) => {
	const delays: number[] = [];
	const api = createClient({
		baseUrl: `${origin}/v1/`,
		retry: { baseDelayMs: 1, maxDelayMs: 5000, ...retry },
		onRetry: (event: RetryEvent) => delays.push(event.delayMs),
		...options,
	});
	return { api, delays };
};
const httpDate = (offsetMs: number) => new Date(Date.now() + offsetMs).toUTCString();

describe('honours Retry-After', () => {
	it('waits the seconds a 503 asks for, without jitter', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '1' } }, { status: 200 }]);
		const { api, delays } = client();
		const started = performance.now();
		await api.get('items');
		assert.ok(performance.now() - started >= 990, 'slept about a second');
		assert.deepEqual(delays, [1000]);
		assert.equal(seen.count, 2);
	});

	it('honours Retry-After on a 500 and a 429 too', async () => {
		const seen = serve('GET', '/v1/items', [
			{ status: 500, headers: { 'retry-after': '0' } },
			{ status: 429, headers: { 'retry-after-ms': '30' } },
			{ status: 200 },
		]);
		const { api, delays } = client();
		await api.get('items');
		assert.deepEqual(delays, [0, 30]);
		assert.equal(seen.count, 3);
	});

	it('reads an HTTP-date', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': httpDate(1500) } }, { status: 200 }]);
		const { api, delays } = client();
		await api.get('items');
		// The date has whole seconds: the wait is the rest of that second and one more.
		assert.ok((delays[0] ?? 0) > 400 && (delays[0] ?? 0) <= 1500, `waited ${delays[0]} ms`);
		assert.equal(seen.count, 2);
	});

	it('retries at once for an HTTP-date in the past', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': httpDate(-60_000) } }, { status: 200 }]);
		const { api, delays } = client();
		await api.get('items');
		assert.deepEqual(delays, [0]);
		assert.equal(seen.count, 2);
	});

	it('prefers retry-after-ms to Retry-After', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 429, headers: { 'retry-after-ms': '15', 'retry-after': '3' } }, { status: 200 }]);
		const { api, delays } = client();
		await api.get('items');
		assert.deepEqual(delays, [15]);
		assert.equal(seen.count, 2);
	});

	it('falls back to backoff for a malformed Retry-After', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': 'soon' } }, { status: 200 }]);
		const { api, delays } = client({ baseDelayMs: 7, jitter: false });
		await api.get('items');
		assert.deepEqual(delays, [7]);
		assert.equal(seen.count, 2);
	});
});

describe('fails at once when the server asks for a wait the call cannot afford', () => {
	it('does not sleep when Retry-After exceeds maxDelayMs, and says when to retry', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 429, headers: { 'retry-after': '3600' } }, { status: 200 }]);
		const { api, delays } = client({ maxDelayMs: 1000 });
		const started = Date.now();
		await assert.rejects(api.get('items'), (error: unknown) => {
			assert.ok(isSteadfetchError(error));
			assert.equal(error.status, 429);
			assert.equal(error.stopReason, 'wait-over-cap');
			assert.equal(error.retryable, true);
			const retryAt = error.retryAt?.getTime() ?? 0;
			assert.ok(Math.abs(retryAt - (started + 3_600_000)) < 2000);
			assert.match(error.message, /Retry after \d{4}-\d\d-\d\dT/);
			return true;
		});
		assert.ok(Date.now() - started < 500);
		assert.deepEqual(delays, []);
		assert.equal(seen.count, 1);
	});

	it('caps an HTTP-date far in the future the same way', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': httpDate(120_000) } }, { status: 200 }]);
		const { api } = client({ maxDelayMs: 1000 });
		await assert.rejects(api.get('items'), { stopReason: 'wait-over-cap' });
		assert.equal(seen.count, 1);
	});

	it('does not sleep past totalTimeout', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '2' } }, { status: 200 }]);
		const { api } = client({}, { totalTimeout: 1000 });
		const started = Date.now();
		await assert.rejects(api.get('items'), (error: unknown) => {
			assert.ok(isSteadfetchError(error));
			assert.equal(error.status, 503);
			assert.equal(error.stopReason, 'deadline');
			assert.ok((error.retryAt?.getTime() ?? 0) >= started + 1900);
			return true;
		});
		assert.ok(Date.now() - started < 500, 'failed without waiting');
		assert.equal(seen.count, 1);
	});

	it('gives an absurd Retry-After a retryAt a Date can hold', async () => {
		serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '99999999999999999999' } }]);
		const { api } = client();
		await assert.rejects(api.get('items'), (error: unknown) => {
			assert.ok(isSteadfetchError(error));
			assert.ok(Number.isFinite(error.retryAt?.getTime()));
			assert.doesNotThrow(() => JSON.stringify(error));
			return true;
		});
	});
});
