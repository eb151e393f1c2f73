import assert from 'node:assert/strict';
import { isSteadfetchError, type RetryEvent } from '../src/index.ts';
import { clockedClient, FakeClock } from './support/clocked.ts';
import { origin, serve } from './support/server.ts';

// Every client here runs on a fake clock: waits are asserted as asked for, never timed on a busy machine.
const client = (retry: object = {}, options: object = {}) => {
	const delays: number[] = [];
	const clock = new FakeClock();
	const api = clockedClient(
		{
			baseUrl: `${origin}/v1/`,
			retry: { baseDelayMs: 1, maxDelayMs: 5000, ...retry },
			onRetry: (event: RetryEvent) => delays.push(event.delayMs),
			...options,
		},
		clock,
	);
	return { api, delays, clock };
};
// The fake clock starts on a whole second, so a date this far ahead is exact.
const httpDate = (clock: FakeClock, offsetMs: number) => new Date(clock.now() + offsetMs).toUTCString();

describe('honours Retry-After', () => {
	it('reads an HTTP-date with a leap second (23:59:60, RFC 9110) as a second after :59, as ky does', async () => {
		const clock = new FakeClock(Date.UTC(2026, 11, 31, 23, 59, 0));
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': 'Thu, 31 Dec 2026 23:59:60 GMT' } }, { status: 200 }]);
		const api = clockedClient({ baseUrl: `${origin}/v1/`, retry: { baseDelayMs: 1, maxDelayMs: 120_000 } }, clock);
		await api.get('items');
		assert.deepEqual(clock.waits, [60_000]);
		assert.equal(seen.count, 2);
	});

	it('retries a 413 in statusCodes only when it names a time, as ky does: 1 request without, 2 with', async () => {
		const without = serve('GET', '/v1/a', [{ status: 413 }, { status: 200 }]);
		const { api } = client({ statusCodes: [413, 503] });
		const error = await api.get('a').catch((caught: unknown) => caught);
		assert.ok(isSteadfetchError(error));
		assert.equal(error.status, 413);
		assert.equal(without.count, 1);
		const withWait = serve('GET', '/v1/b', [{ status: 413, headers: { 'retry-after': '1' } }, { status: 200 }]);
		await api.get('b');
		assert.equal(withWait.count, 2);
		// A header that cannot be read still says the server will take it later: the backoff, as in ky.
		const unreadable = serve('GET', '/v1/c', [{ status: 413, headers: { 'retry-after': 'soon' } }, { status: 200 }]);
		await api.get('c');
		assert.equal(unreadable.count, 2);
	});

	it('waits the seconds a 503 asks for, without jitter', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '1' } }, { status: 200 }]);
		const { api, delays, clock } = client();
		await api.get('items');
		assert.deepEqual(clock.waits, [1000], 'slept the second asked for');
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
		const { api, delays, clock } = client();
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': httpDate(clock, 2000) } }, { status: 200 }]);
		await api.get('items');
		assert.deepEqual(delays, [2000]);
		assert.deepEqual(clock.waits, [2000]);
		assert.equal(seen.count, 2);
	});

	it('retries at once for an HTTP-date in the past', async () => {
		const { api, delays, clock } = client();
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': httpDate(clock, -60_000) } }, { status: 200 }]);
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
		const { api, delays, clock } = client({ maxDelayMs: 1000 });
		const started = clock.now();
		await assert.rejects(api.get('items'), (error: unknown) => {
			assert.ok(isSteadfetchError(error));
			assert.equal(error.status, 429);
			assert.equal(error.stopReason, 'wait-over-cap');
			assert.equal(error.retryable, true);
			assert.equal(error.retryAt?.getTime(), started + 3_600_000);
			assert.match(error.message, /Retry after 2026-11-27T13:00:00\.000Z\.$/);
			return true;
		});
		assert.deepEqual(clock.waits, [], 'did not sleep');
		assert.deepEqual(delays, []);
		assert.equal(seen.count, 1);
	});

	it('caps an HTTP-date far in the future the same way', async () => {
		const { api, clock } = client({ maxDelayMs: 1000 });
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': httpDate(clock, 120_000) } }, { status: 200 }]);
		await assert.rejects(api.get('items'), { stopReason: 'wait-over-cap' });
		assert.equal(seen.count, 1);
	});

	it('does not sleep past totalTimeout', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 503, headers: { 'retry-after': '2' } }, { status: 200 }]);
		const { api, clock } = client({}, { totalTimeout: 1000 });
		const started = clock.now();
		await assert.rejects(api.get('items'), (error: unknown) => {
			assert.ok(isSteadfetchError(error));
			assert.equal(error.status, 503);
			assert.equal(error.stopReason, 'deadline');
			assert.equal(error.retryAt?.getTime(), started + 2000);
			return true;
		});
		assert.deepEqual(clock.waits, [], 'failed without waiting');
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
