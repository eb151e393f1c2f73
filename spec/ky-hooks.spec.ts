import assert from 'node:assert/strict';
import ky, { type Hooks, isForceRetryError, isHTTPError, type Options as KyOptions } from 'ky';
import { createClient } from '../src/index.ts';
import { withLoopback } from './support/loopback.ts';
import { origin } from './support/server.ts';

/*
ky's hooks with ky's arguments and timing, side by side with ky: the same hooks against the same script on a loopback
server, through ky itself and through createClient (budget, breaker and pacing off, as ky has none). The loop runs the
retry-time hooks (`afterResponse` on each response, `beforeRetry` before each retry); ky runs `init`, `beforeRequest`
and `beforeError`.
*/

const kyAlike = { budget: false, breaker: false, rateLimit: false } as const;
const retry = { limit: 2, backoffLimit: 1 } as const;

interface Run {
	readonly requests: number;
	readonly calls: readonly string[];
	readonly ending: unknown;
	readonly authorizations: readonly (string | undefined)[];
}

/** Run the same call through ky and through a client, with hooks made afresh for each, and tell what each saw. */
async function both(
	replies: Parameters<typeof withLoopback>[0],
	hooks: (calls: string[]) => Hooks,
	options: KyOptions = {},
): Promise<{ ky: Run; steadfetch: Run }> {
	const run = async (make: (hooked: KyOptions) => Promise<unknown>): Promise<Run> => {
		let result: Run | undefined;
		await withLoopback(replies, async (server) => {
			const calls: string[] = [];
			let ending: unknown;
			try {
				const response = await make({ ...options, prefix: server.url, hooks: hooks(calls) });
				ending = response === undefined ? 'undefined' : (response as Response).status;
			} catch (error) {
				ending = isHTTPError(error) ? `HTTPError ${error.response.status}` : (error as Error).name;
			}
			result = {
				requests: server.count,
				calls,
				ending,
				authorizations: server.headers.map((headers) => headers.authorization),
			};
		});
		return result as Run;
	};
	return {
		ky: await run((hooked) => ky.get('x', { retry, ...hooked })),
		steadfetch: await run((hooked) => createClient({ ...kyAlike, retry }).get('x', hooked)),
	};
}

describe("runs ky's hooks with ky's arguments and timing", () => {
	it('runs afterResponse on each response and beforeRetry before each retry, with their retryCount', async () => {
		const result = await both([{ status: 500 }, { status: 503 }, { status: 200, body: '{}' }], (calls) => ({
			beforeRequest: [({ retryCount }) => void calls.push(`beforeRequest ${retryCount}`)],
			afterResponse: [({ response, retryCount }) => void calls.push(`afterResponse ${response.status} ${retryCount}`)],
			beforeRetry: [({ retryCount, error }) => void calls.push(`beforeRetry ${retryCount} ${isHTTPError(error)}`)],
		}));
		assert.deepEqual(result.ky.calls, [
			'beforeRequest 0',
			'afterResponse 500 0',
			'beforeRetry 1 true',
			'afterResponse 503 1',
			'beforeRetry 2 true',
			'afterResponse 200 2',
		]);
		assert.deepEqual(result.steadfetch, result.ky);
		assert.equal(result.ky.requests, 3);
	});

	it("refreshes a token in beforeRetry on a 401 given in statusCodes (the readme's recipe): 2 requests, the second with the new token", async () => {
		const result = await both(
			[{ status: 401 }, { status: 200, body: '{}' }],
			() => ({
				beforeRetry: [({ request }) => void request.headers.set('Authorization', 'Bearer fresh')],
			}),
			{ headers: { Authorization: 'Bearer stale' }, retry: { ...retry, statusCodes: [401] } },
		);
		assert.deepEqual(result.ky.authorizations, ['Bearer stale', 'Bearer fresh']);
		assert.deepEqual(result.steadfetch, result.ky);
	});

	it('forces a retry of a 200 with ky.retry() from afterResponse, seen by beforeRetry as a ForceRetryError: 2 requests', async () => {
		const result = await both(
			[
				{ status: 200, body: '{"status":"pending"}' },
				{ status: 200, body: '{"status":"done"}' },
			],
			(calls) => ({
				afterResponse: [
					async ({ response }) => {
						const body = (await response.json()) as { status: string };
						calls.push(`afterResponse ${body.status}`);
						return body.status === 'pending' ? ky.retry({ delay: 1, code: 'PENDING' }) : undefined;
					},
				],
				beforeRetry: [({ error }) => void calls.push(`beforeRetry ${isForceRetryError(error)} ${error.message}`)],
			}),
		);
		assert.deepEqual(result.ky.calls, ['afterResponse pending', 'beforeRetry true Forced retry: PENDING', 'afterResponse done']);
		assert.deepEqual(result.steadfetch, result.ky);
		assert.equal(result.ky.requests, 2);
	});

	it('stops at the limit when afterResponse forces every time, with the ForceRetryError: 3 requests', async () => {
		const result = await both(
			[
				{ status: 200, body: '{}' },
				{ status: 200, body: '{}' },
				{ status: 200, body: '{}' },
			],
			() => ({ afterResponse: [() => ky.retry({ delay: 1 })] }),
		);
		assert.deepEqual(result.ky, { requests: 3, calls: [], ending: 'ForceRetryError', authorizations: [undefined, undefined, undefined] });
		assert.deepEqual(result.steadfetch, result.ky);
	});

	it('resolves with no response when beforeRetry returns ky.stop: 1 request', async () => {
		const result = await both([{ status: 500 }, { status: 200 }], () => ({ beforeRetry: [() => ky.stop] }));
		assert.equal(result.ky.ending, 'undefined');
		assert.equal(result.ky.requests, 1);
		assert.deepEqual(result.steadfetch, result.ky);
	});

	it('ends with the Response beforeRetry returns instead of retrying: 1 request', async () => {
		const result = await both([{ status: 500 }, { status: 200 }], () => ({
			beforeRetry: [() => new Response('{}', { status: 202 })],
		}));
		assert.deepEqual([result.ky.ending, result.ky.requests], [202, 1]);
		assert.deepEqual(result.steadfetch, result.ky);
	});

	it('ends with what beforeRetry throws: 1 request', async () => {
		const result = await both([{ status: 500 }, { status: 200 }], () => ({
			beforeRetry: [
				() => {
					throw new RangeError('no more');
				},
			],
		}));
		assert.deepEqual([result.ky.ending, result.ky.requests], ['RangeError', 1]);
		assert.deepEqual(result.steadfetch, result.ky);
	});

	it('ends with what afterResponse throws, and cancels the response and its copy: 1 request', async () => {
		// The responses fetch made and the copies the hook saw, through ky and through the client: none left unread.
		const received: Response[] = [];
		const seen: Response[] = [];
		const capture: typeof fetch = async (input, init) => {
			const response = await globalThis.fetch(input, init);
			received.push(response);
			return response;
		};
		const result = await both(
			[{ status: 200, body: '{"ok":true}' }],
			() => ({
				afterResponse: [
					({ response }) => {
						seen.push(response);
						throw new RangeError('rejected by the hook');
					},
				],
			}),
			{ fetch: capture },
		);
		assert.deepEqual([result.ky.ending, result.ky.requests], ['RangeError', 1]);
		assert.deepEqual(result.steadfetch, result.ky);
		assert.deepEqual(
			[...received, ...seen].map((response) => response.bodyUsed),
			[true, true, true, true],
		);
	});

	it('uses the Response afterResponse returns in place of the one received', async () => {
		const result = await both([{ status: 500 }], () => ({
			afterResponse: [() => new Response('{}', { status: 200 })],
		}));
		assert.deepEqual([result.ky.ending, result.ky.requests], [200, 1]);
		assert.deepEqual(result.steadfetch, result.ky);
	});

	it('keeps the error of a failing response whose body an afterResponse hook is reading: 1 request', async () => {
		const result = await both([{ status: 404, body: '{"error":"gone"}' }], () => ({
			afterResponse: [
				({ response }) => {
					response.body?.getReader();
					return response;
				},
			],
		}));
		assert.deepEqual([result.ky.ending, result.ky.requests], ['HTTPError 404', 1]);
		assert.deepEqual(result.steadfetch, result.ky);
	});

	it('takes a Response-like object from a custom fetch through afterResponse hooks, as ky does', async () => {
		const calls: string[] = [];
		// Another realm's Response, or a polyfill's: not instanceof this realm's, tagged as one.
		class Alike {
			readonly [Symbol.toStringTag] = 'Response';
			readonly status = 200;
			readonly ok = true;
			readonly statusText = 'OK';
			readonly type = 'basic';
			readonly headers = new Headers({ 'content-type': 'application/json' });
			readonly body = null;
			clone() {
				return new Alike();
			}
			async text() {
				return '{"ok":true}';
			}
		}
		const alike = new Alike();
		const api = createClient({ ...kyAlike, retry, fetch: async () => alike as unknown as Response });
		const response = await api.get(`${origin}/x`, {
			hooks: { afterResponse: [({ response: seen }) => void calls.push(String(seen.status))] },
		});
		assert.equal(response.status, 200);
		assert.deepEqual(calls, ['200']);
	});

	it('drops inherited retry-time hooks given as undefined by extend(), and appends the others', async () => {
		const calls: string[] = [];
		const base = createClient({ ...kyAlike, retry }).extend({
			hooks: { afterResponse: [() => void calls.push('base after')], beforeRetry: [() => void calls.push('base retry')] },
		});
		const extended = base.extend({ hooks: { afterResponse: undefined as never, beforeRetry: [() => void calls.push('own retry')] } });
		await withLoopback([{ status: 500 }, { status: 200, body: '{}' }], async (server) => {
			await extended.get(`${server.url}/x`);
			assert.equal(server.count, 2);
		});
		assert.deepEqual(calls, ['base retry', 'own retry']);
	});

	it("hands the retry-time hooks ky's normalized options of the call, context included", async () => {
		const contexts: unknown[] = [];
		await withLoopback([{ status: 500 }, { status: 200, body: '{}' }], async (server) => {
			await createClient({ ...kyAlike, retry }).get(`${server.url}/x`, {
				context: { tenant: 't1' },
				hooks: {
					afterResponse: [({ options }) => void contexts.push(options.context)],
					beforeRetry: [({ options }) => void contexts.push(options.context)],
				},
			});
		});
		assert.deepEqual(contexts, [{ tenant: 't1' }, { tenant: 't1' }, { tenant: 't1' }]);
	});
});
