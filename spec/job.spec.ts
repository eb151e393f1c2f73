import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient, isSteadfetchError, NotFoundError, queueDecision, type RetryEvent, retryJob } from '../src/index.ts';
import { runJob } from '../src/surfaces/job.ts';
import { clockedClient, FakeClock } from './support/clocked.ts';
import { origin, serve, times } from './support/server.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 20 };
const api = (retry: object = fast) => createClient({ baseUrl: `${origin}/v1/`, retry });

describe('retries a job as a whole, with the client classification', () => {
	it('stops at once on a 404, after one request', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 404 }));
		let runs = 0;
		const job = retryJob(
			async (job) => {
				runs++;
				return job.client(api()).get('items').json();
			},
			{ retry: fast },
		);
		await assert.rejects(job, NotFoundError);
		assert.equal(runs, 1);
		assert.equal(seen.count, 1);
	});

	it('recovers when its request recovers, and returns the result', async () => {
		const seen = serve('GET', '/v1/items', [{ status: 500 }, { status: 503 }, { status: 200, body: { n: 3 } }]);
		const result = await retryJob((job) => job.client(api()).get('items').json(), { retry: { ...fast, limit: 4 } });
		assert.deepEqual(result, { n: 3 });
		assert.equal(seen.count, 3);
	});

	it('retries work that fails on its own, then succeeds', async () => {
		let runs = 0;
		const result = await retryJob(
			() => {
				runs++;
				if (runs < 3) {
					throw new Error('database busy');
				}
				return 'done';
			},
			{ retry: fast },
		);
		assert.equal(result, 'done');
		assert.equal(runs, 3);
	});

	it('does not retry a TypeError that is a bug', async () => {
		let runs = 0;
		await assert.rejects(
			retryJob(
				() => {
					runs++;
					throw new TypeError('x is not a function');
				},
				{ retry: fast },
			),
			TypeError,
		);
		assert.equal(runs, 1);
	});

	it('passes the attempt number and what is left of the allowance', async () => {
		const seen: [number, number][] = [];
		await retryJob(
			(job) => {
				seen.push([job.attempt, job.retriesLeft]);
				if (job.attempt < 3) {
					throw new Error('again');
				}
			},
			{ retry: fast },
		);
		assert.deepEqual(seen, [
			[1, 2],
			[2, 1],
			[3, 0],
		]);
	});
});

describe('does not multiply retries across layers', () => {
	for (const [jobLimit, clientLimit] of [
		[2, 2],
		[4, 2],
		[10, 2],
		[3, 0],
	] as const) {
		it(`sends at most ${jobLimit} + 1 requests for a job (limit ${jobLimit}) whose client (limit ${clientLimit}) always meets 500`, async () => {
			const seen = serve('GET', '/v1/items', times(40, { status: 500 }));
			const error = await retryJob((job) => job.client(api({ ...fast, limit: clientLimit })).get('items'), {
				retry: { ...fast, limit: jobLimit },
			}).catch((caught: unknown) => caught);
			assert.equal(seen.count, jobLimit + 1);
			assert.ok(isSteadfetchError(error));
			assert.equal(error.attempts, jobLimit + 1, 'the error counts every request of the job');
			assert.equal(error.history.length, jobLimit + 1);
			assert.ok(error.history.slice(0, -1).every((record) => typeof record.delayMs === 'number'));
		});
	}

	it('would send (limit + 1) × (client limit + 1) requests without the job context, budget and breaker: the storm it prevents', async () => {
		const seen = serve('GET', '/v1/items', times(40, { status: 500 }));
		const client = createClient({ baseUrl: `${origin}/v1/`, retry: { ...fast, limit: 2 }, budget: false, breaker: false });
		await assert.rejects(retryJob(() => client.get('items'), { retry: { ...fast, limit: 4 } }));
		assert.equal(seen.count, 15);
	});

	it("is cut short by the client's circuit breaker even without the job context", async () => {
		const seen = serve('GET', '/v1/items', times(40, { status: 500 }));
		// A window of 0: the streak here lasts milliseconds, where the default breaker waits for a second of failures.
		const client = createClient({ baseUrl: `${origin}/v1/`, retry: { ...fast, limit: 2 }, breaker: { failureWindowMs: 0 } });
		await assert.rejects(
			retryJob(() => client.get('items'), { retry: { ...fast, limit: 4 } }),
			{ name: 'InternalServerError', stopReason: 'circuit-open' },
		);
		assert.equal(seen.count, 10, 'ten failures in a row open the circuit');
	});

	it('numbers every attempt of calls that run side by side in one job', async () => {
		const seen = serve('GET', '/v1/a', times(20, { status: 500 }));
		const other = serve('GET', '/v1/b', times(20, { status: 503 }));
		const error = await retryJob(
			async (job) => {
				const client = job.client(api({ ...fast, limit: 2 }));
				const [first] = await Promise.allSettled([client.get('a'), client.get('b')]);
				throw (first as PromiseRejectedResult).reason;
			},
			{ retry: { ...fast, limit: 3 } },
		).catch((caught: unknown) => caught);
		assert.ok(isSteadfetchError(error));
		const total = seen.count + other.count;
		assert.ok(total <= 2 * (3 + 1), `${total} requests`);
		assert.equal(error.attempts, total);
		assert.deepEqual(
			error.history.map((record) => record.attempt).sort((x, y) => x - y),
			Array.from({ length: total }, (_, index) => index + 1),
		);
	});

	it('spends the same allowance through job.fetch', async () => {
		const seen = serve('GET', '/v1/items', times(40, { status: 502 }));
		const response = await retryJob((job) => job.fetch(`${origin}/v1/items`), { retry: { ...fast, limit: 3 } });
		assert.equal(response.status, 502);
		assert.equal(seen.count, 4);
	});
});

describe('waits as the server asks', () => {
	it('waits at least the Retry-After the error carries', async () => {
		const events: RetryEvent<Error>[] = [];
		const seen = serve('GET', '/v1/items', [
			{ status: 503, headers: { 'retry-after-ms': '80' } },
			{ status: 200, body: { ok: 1 } },
		]);
		const clock = new FakeClock();
		await runJob(
			(job) =>
				job
					.client(clockedClient({ baseUrl: `${origin}/v1/`, retry: { ...fast, limit: 0 } }, clock))
					.get('items')
					.json(),
			{ retry: { ...fast, maxDelayMs: 1000 }, onRetry: (event) => events.push(event) },
			clock,
		);
		// The job's backoff after its first pass is at most 1 ms: the wait is the server's.
		assert.deepEqual(clock.waits, [80]);
		assert.equal(events.length, 1);
		assert.equal(events[0]?.delayMs, 80);
		assert.ok(isSteadfetchError(events[0]?.error));
		assert.equal(events[0]?.attempt, 2);
		assert.equal(seen.count, 2);
	});

	it("names the job's maxRetryTime, not totalTimeout, when its deadline stops a retry", async () => {
		const clock = new FakeClock();
		const seen = serve('GET', '/v1/items', times(2, { status: 503, headers: { 'retry-after': '2' } }));
		const error = await runJob(
			(job) => job.client(clockedClient({ baseUrl: `${origin}/v1/`, retry: { ...fast, maxDelayMs: 5000 } }, clock)).get('items'),
			{ retry: fast, maxRetryTime: 1000 },
			clock,
		).catch((caught: unknown) => caught);
		assert.ok(isSteadfetchError(error));
		assert.equal(error.stopReason, 'deadline');
		assert.match(error.message, /Not retried: the wait would run past maxRetryTime\. Retry after /);
		assert.deepEqual(clock.waits, []);
		assert.equal(seen.count, 1);
	});

	it('fails at once, with retryAt, when the server asks for more than maxDelayMs', async () => {
		const seen = serve('GET', '/v1/items', times(3, { status: 429, headers: { 'retry-after': '600' } }));
		const error = await retryJob((job) => job.client(api()).get('items'), { retry: fast }).catch((caught: unknown) => caught);
		assert.equal(seen.count, 1);
		const decision = queueDecision(error);
		assert.equal(decision.permanent, false);
		assert.ok(!decision.permanent && decision.retryAt && decision.retryAt.getTime() > Date.now() + 590_000);
	});
});

describe("bounds a job's requests by the nearer of maxRetryTime and the client's own totalTimeout, and names it", () => {
	// Waits of 400 ms on the spec's clock: requests at 0, 400 and 800 ms, then a retry at 1200 would pass a 1000 ms deadline.
	const steady = { limit: 10, baseDelayMs: 400, factor: 1, maxDelayMs: 1000, jitter: false };
	const cases = [
		{
			title: "the client's own totalTimeout inside a longer maxRetryTime",
			client: 1000,
			call: undefined,
			job: 6000,
			named: 'totalTimeout',
		},
		{ title: "a call's own totalTimeout inside a longer maxRetryTime", client: undefined, call: 1000, job: 6000, named: 'totalTimeout' },
		{
			title: "the client's own totalTimeout in a job without maxRetryTime",
			client: 1000,
			call: undefined,
			job: undefined,
			named: 'totalTimeout',
		},
		{ title: "maxRetryTime inside a longer totalTimeout of the client's", client: 6000, call: undefined, job: 1000, named: 'maxRetryTime' },
	] as const;
	for (const { title, client, call, job: maxRetryTime, named } of cases) {
		it(`stops after 3 requests at 1000 ms for ${title}, naming ${named}`, async () => {
			const clock = new FakeClock();
			const seen = serve('GET', '/v1/items', times(40, { status: 500 }));
			const bound = clockedClient({ baseUrl: `${origin}/v1/`, retry: steady, ...(client ? { totalTimeout: client } : {}) }, clock);
			const error = await runJob(
				(job) => job.client(bound).get('items', call ? { totalTimeout: call } : {}),
				{ retry: { ...fast, limit: 20 }, ...(maxRetryTime ? { maxRetryTime } : {}) },
				clock,
			).catch((caught: unknown) => caught);
			assert.ok(isSteadfetchError(error));
			assert.equal(seen.count, 3);
			assert.deepEqual(clock.waits, [400, 400]);
			assert.equal(error.stopReason, 'deadline');
			assert.match(error.message, new RegExp(`Not retried: the wait would run past ${named}\\. `));
		});
	}
});

describe('stops when asked', () => {
	// Aborts and deadlines run on real timers here: what is measured is that a 10 s wait or a 3 s response is cut short,
	// so the bounds leave a busy machine ten times the time the cut takes.
	it('rejects with the signal reason during a wait, promptly', async () => {
		const controller = new AbortController();
		const reason = new Error('SIGTERM');
		let runs = 0;
		setTimeout(() => controller.abort(reason), 50);
		const started = performance.now();
		await assert.rejects(
			retryJob(
				() => {
					runs++;
					throw new Error('busy');
				},
				{ signal: controller.signal, retry: { baseDelayMs: 10_000, jitter: false } },
			),
			(error) => error === reason,
		);
		assert.ok(performance.now() - started < 1000);
		assert.equal(runs, 1);
	});

	it('aborts a request in flight through job.client', async () => {
		const seen = serve('GET', '/v1/slow', [{ status: 200, delayMs: 3000 }]);
		const controller = new AbortController();
		setTimeout(() => controller.abort(), 50);
		await assert.rejects(
			retryJob((job) => job.client(api()).get('slow'), { signal: controller.signal }),
			(error: unknown) => (error as Error).name === 'AbortError',
		);
		assert.equal(seen.count, 1);
	});

	it("aborts a request in flight through job.fetch, beside the call's own signal", async () => {
		const seen = serve('GET', '/v1/slow', [{ status: 200, delayMs: 3000 }]);
		const controller = new AbortController();
		const reason = new Error('SIGTERM');
		setTimeout(() => controller.abort(reason), 50);
		const own = new AbortController();
		let request: Promise<Response> | undefined;
		await assert.rejects(
			retryJob(
				(job) => {
					request = job.fetch(`${origin}/v1/slow`, { signal: own.signal });
					return request;
				},
				{ signal: controller.signal },
			),
			(error) => error === reason,
		);
		// The job rejects as its signal aborts whatever its function does: the request itself must end too, not 3 s later.
		await assert.rejects(request as Promise<Response>, (error) => error === reason);
		assert.equal(seen.count, 1);
	});

	it('bounds the job and its requests by maxRetryTime', async () => {
		const seen = serve('GET', '/v1/slow', times(3, { status: 200, delayMs: 3000 }));
		const started = performance.now();
		const error = await retryJob((job) => job.client(api()).get('slow'), { maxRetryTime: 200, retry: fast }).catch(
			(caught: unknown) => caught,
		);
		assert.ok(performance.now() - started < 1500);
		assert.equal((error as Error).name, 'TimeoutError');
		assert.equal(seen.count, 1);
	});

	const entry = JSON.stringify(fileURLToPath(new URL('../src/index.ts', import.meta.url)));
	const run = (script: string) => spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });

	it('keeps a script alive until its job ends: result printed, exit code 0', () => {
		const child = run(`import { retryJob } from ${entry};
let runs = 0;
const result = await retryJob(() => { if (++runs < 3) throw new Error('busy'); return 'done after ' + runs; }, { retry: { baseDelayMs: 200, jitter: false } });
console.log(result);`);
		assert.equal(child.stderr, '');
		assert.equal(child.stdout, 'done after 3\n');
		assert.equal(child.status, 0);
	});

	it('keeps a script alive until its job fails, through main().then(...)', () => {
		const child = run(`import { retryJob } from ${entry};
const main = () => retryJob(() => { throw new Error('always'); }, { retry: { limit: 1, baseDelayMs: 200, jitter: false } });
main().then(() => console.log('no'), (error) => console.log('gave up:', error.message));`);
		assert.equal(child.stdout, 'gave up: always\n');
		assert.equal(child.status, 0);
	});

	it('lets the process exit during a wait with unref: true', () => {
		const started = performance.now();
		const child = run(`import { retryJob } from ${entry};
retryJob(() => { throw new Error('always'); }, { unref: true, retry: { limit: 5, baseDelayMs: 60000, jitter: false } }).catch(() => {});`);
		assert.equal(child.status, 0, child.stderr);
		// A bound ten times what the exit takes: the process did not wait the minute.
		assert.ok(performance.now() - started < 10_000, 'the process exited instead of waiting a minute');
	});

	// A loopback API inside the child, which never keeps it alive itself (unref'd, every connection closed), then a job
	// against it; the child prints each request the API answers, and how the job ended.
	const jobAgainst = (replies: string, job: string, options: string) => `import { createServer } from 'node:http';
import { createClient, retryJob } from ${entry};
const replies = ${replies};
let count = 0;
const server = createServer((request, response) => {
	const reply = replies[count++] ?? { status: 500 };
	console.log('request ' + count);
	response.writeHead(reply.status, { connection: 'close', ...reply.headers });
	response.end();
});
server.listen(0, '127.0.0.1', () => {
	server.unref();
	const url = 'http://127.0.0.1:' + server.address().port + '/items';
	retryJob(${job}, ${options}).then((response) => console.log('ended', response.status), (error) => console.log('ended', error.message));
});`;
	const waits = [
		{ wait: "the job's client sleeps a 503's Retry-After: 20", job: '(job) => job.client(createClient()).get(url)' },
		{ wait: "the job's fetch sleeps a 503's Retry-After: 20", job: '(job) => job.fetch(url)' },
	];
	for (const { wait, job } of waits) {
		it(`lets the process exit with unref: true while ${wait}`, () => {
			const started = performance.now();
			const child = run(jobAgainst(`[{ status: 503, headers: { 'retry-after': '20' } }]`, job, '{ unref: true }'));
			assert.equal(child.stderr, '');
			// One request, then the wait: the process exited in it, the job neither retried nor ended.
			assert.equal(child.stdout, 'request 1\n');
			assert.equal(child.status, 0);
			assert.ok(performance.now() - started < 10_000, 'the process exited instead of waiting 20 s');
		});
	}

	it("lets the process exit with unref: true while the job's client waits for the rate-limit reset a response announced", () => {
		const child = run(
			jobAgainst(
				`[{ status: 200, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 20) } }]`,
				'async (job) => { const api = job.client(createClient()); await api.get(url); return api.get(url); }',
				'{ unref: true }',
			),
		);
		assert.equal(child.stderr, '');
		assert.equal(child.stdout, 'request 1\n');
		assert.equal(child.status, 0);
	});

	it("keeps the process alive by default while the job's client sleeps a Retry-After, and runs the job to its end", () => {
		const child = run(
			jobAgainst(
				`[{ status: 503, headers: { 'retry-after-ms': '300' } }, { status: 200 }]`,
				'(job) => job.client(createClient()).get(url)',
				'{}',
			),
		);
		assert.equal(child.stderr, '');
		assert.equal(child.stdout, 'request 1\nrequest 2\nended 200\n');
		assert.equal(child.status, 0);
	});
});

describe('maps errors for job queues', () => {
	it('marks a fail-fast error permanent', async () => {
		serve('GET', '/v1/x', [{ status: 400 }]);
		const error = await api()
			.get('x')
			.catch((caught: unknown) => caught);
		assert.deepEqual(queueDecision(error), { permanent: true });
	});

	it('gives a transient error a retry time', async () => {
		serve('GET', '/v1/x', times(3, { status: 500 }));
		const error = await api()
			.get('x')
			.catch((caught: unknown) => caught);
		const decision = queueDecision(error);
		assert.ok(!decision.permanent && decision.retryAt instanceof Date);
	});

	it('treats other errors as transient without a time, and bugs as permanent', () => {
		assert.deepEqual(queueDecision(new Error('disk full')), { permanent: false, retryAt: undefined });
		assert.deepEqual(queueDecision(new TypeError('undefined is not a function')), { permanent: true });
	});
});

describe('validates its options', () => {
	for (const [options, pattern] of [
		[{ retry: { limit: -1 } }, /`retry\.limit`/],
		[{ maxRetryTime: 0 }, /`maxRetryTime`/],
		[{ onRetry: 'log' }, /`onRetry` to be a function/],
		[{ onGiveUp: 1 }, /`onGiveUp` to be a function/],
		[{ signal: {} }, /`signal` to be an AbortSignal/],
		[{ unref: 'yes' }, /`unref` to be a boolean/],
		[{ fetch: globalThis.fetch }, /^Expected `fetch` to be a fetch made by createFetch/],
		[{ timeout: 1000 }, /^Unknown option `timeout` for retryJob: it takes `retry`, `signal`, `maxRetryTime`/],
	] as const) {
		it(`rejects ${JSON.stringify(options)} before running the job`, async () => {
			let runs = 0;
			await assert.rejects(
				retryJob(() => {
					runs++;
				}, options as never),
				(error: unknown) => error instanceof TypeError && pattern.test(error.message),
			);
			assert.equal(runs, 0);
		});
	}

	it('rejects a job that is not a function', async () => {
		await assert.rejects(retryJob('sync' as never), /Expected the job to be a function/);
	});
});
