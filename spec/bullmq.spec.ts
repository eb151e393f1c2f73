import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Job, Queue, QueueEvents, type QueueEventsOptions, Worker } from 'bullmq';
import { QueueHolds } from '../src/adapters/bullmq/holds.ts';
import {
	closeWorker,
	createBackoffStrategy,
	createProcessor,
	createWorker,
	jobIdempotencyKey,
	liftHolds,
	type QueueJobFunction,
	type QueueJobOptions,
	queueAction,
	WorkerClosingError,
} from '../src/adapters/bullmq/index.ts';
import { createClient, type InternalServerError } from '../src/index.ts';
import { useRedis } from './support/redis.ts';

/** What the loopback API answers: a status and headers per request to a path, in order; 200 past the script. */
type Script = Record<string, readonly { status: number; headers?: Record<string, string> }[]>;

/** A loopback API that answers from a script and notes every request: its path, method, key and when it arrived. */
interface Api {
	readonly url: string;
	readonly seen: { path: string; at: number; method: string; key: string | undefined; status: number }[];
	close(): Promise<void>;
}

async function startApi(script: Script, answer?: (index: number) => number): Promise<Api> {
	const seen: Api['seen'] = [];
	const server: Server = createServer((request, response) => {
		const path = request.url ?? '';
		const index = seen.filter((entry) => entry.path === path).length;
		const reply = answer ? { status: answer(seen.length) } : (script[path]?.[index] ?? { status: 200 });
		const key = request.headers['idempotency-key'];
		seen.push({ path, at: Date.now(), method: request.method ?? '', key: typeof key === 'string' ? key : undefined, status: reply.status });
		response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
		response.end(reply.status < 400 ? JSON.stringify({ ok: path }) : '');
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		seen,
		async close() {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

const fast = { baseDelayMs: 1, maxDelayMs: 20 };

/** Wait until `check` holds (a bounded loop: 5 s). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
	for (const started = Date.now(); !(await check()); await new Promise((resolve) => setTimeout(resolve, 5))) {
		assert.ok(Date.now() - started < 5000, 'timed out');
	}
}

/** Wait until `total` jobs of the queue have ended (a bounded loop), and say how. */
async function settled(jobs: Queue, total: number, withinMs: number): Promise<{ completed: number; failed: number }> {
	for (const started = Date.now(); ; await new Promise((resolve) => setTimeout(resolve, 20))) {
		const { completed = 0, failed = 0 } = await jobs.getJobCounts('completed', 'failed');
		if (completed + failed >= total || Date.now() - started > withinMs) {
			return { completed, failed };
		}
	}
}
const count = (api: Api, path: string): number => api.seen.filter((entry) => entry.path === path).length;

describe('steadfetch/bullmq on a real Redis', function () {
	this.timeout(15_000);
	const redis = useRedis(this);
	// Everything a spec opens, closed after it whatever happens: workers first (they hold jobs), then queues and events.
	let opened: { close(): Promise<unknown> }[] = [];
	let api: Api | undefined;
	let queueName = '';

	const connection = () => ({ host: redis.current.host, port: redis.current.port, maxRetriesPerRequest: null });
	const open = <T extends { close(): Promise<unknown> }>(thing: T): T => {
		opened.push(thing);
		return thing;
	};
	const queue = (): Queue => open(new Queue(queueName, { connection: connection() }));
	const events = async (): Promise<QueueEvents> => {
		const options: QueueEventsOptions = { connection: connection() };
		const queueEvents = open(new QueueEvents(queueName, options));
		await queueEvents.waitUntilReady();
		return queueEvents;
	};
	const worker = <R>(fn: QueueJobFunction<unknown, R>, options: QueueJobOptions = { retry: { limit: 1, ...fast } }, autorun = true) =>
		open(createWorker(queueName, fn, { connection: connection(), autorun, concurrency: 1 }, options));
	const fetchItem = (id: string): QueueJobFunction<unknown, unknown> => {
		const client = createClient({ baseUrl: `${api?.url}/v1/`, retry: fast });
		return ({ client: bind }) => bind(client).get(`items/${id}`).json();
	};

	// What users write with the drop-in fetch: the job throws its own error on a failing response.
	const fetchOrThrow =
		(path: string): QueueJobFunction<unknown, unknown> =>
		async ({ fetch }) => {
			const response = await fetch(`${api?.url}${path}`);
			if (!response.ok) {
				throw new Error(`${path} answered ${response.status}`);
			}
			return response.json();
		};

	beforeEach(() => {
		queueName = `spec-${Math.random().toString(36).slice(2)}`;
	});

	afterEach(async () => {
		const workers = opened.filter((thing) => thing instanceof Worker);
		const rest = opened.filter((thing) => !(thing instanceof Worker));
		opened = [];
		await Promise.all(workers.map((thing) => thing.close(true)));
		await Promise.all(rest.map((thing) => thing.close()));
		await api?.close();
		api = undefined;
	});

	describe('a fail-fast error fails the job at once', () => {
		it('sends exactly one request for a 404 and fails with UnrecoverableError, the advice in failedReason', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 404 }, { status: 404 }, { status: 404 }] });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchItem('a'));
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /Solution: Use the correct URL/);
			const failed = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(count(api, '/v1/items/a'), 1);
			assert.equal(await failed.getState(), 'failed');
			assert.equal(failed.attemptsMade, 1);
			assert.match(
				failed.failedReason,
				/^404 GET http:\/\/127\.0\.0\.1:\d+\/v1\/items\/a: The requested resource doesn't exist\. Solution: /,
			);
			assert.match(failed.stacktrace?.at(-1) ?? '', /^UnrecoverableError: 404 GET/);
			const { logs } = await jobs.getJobLogs(job.id as string);
			assert.equal(logs.length, 1);
			const logged = JSON.parse(logs[0] as string);
			assert.equal(logged.name, 'NotFoundError');
			assert.equal(logged.status, 404);
			assert.equal(logged.advice.solution, 'Use the correct URL (check for typos and our API documentation carefully).');
			assert.equal(logged.attempts, 1);
		});

		it('sends exactly one request for a 404 that job.fetch hands back and the job throws on, and fails at once', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 404 }, { status: 404 }, { status: 404 }] });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchOrThrow('/v1/items/a'));
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /\/v1\/items\/a answered 404/);
			const failed = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(count(api, '/v1/items/a'), 1);
			assert.equal(failed.attemptsMade, 1);
			// The job's own words are the reason; the log has the response as the client would have thrown it, with the advice.
			assert.equal(failed.failedReason, '/v1/items/a answered 404');
			assert.match(failed.stacktrace?.at(-1) ?? '', /^UnrecoverableError: \/v1\/items\/a answered 404/);
			const { logs } = await jobs.getJobLogs(job.id as string);
			assert.equal(logs.length, 1);
			const logged = JSON.parse(logs[0] as string);
			assert.equal(logged.name, 'NotFoundError');
			assert.equal(logged.advice.solution, 'Use the correct URL (check for typos and our API documentation carefully).');
		});

		it('acts on the last request only: a 404 the job handled, then a success, leaves the job’s own error to the queue’s retries', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 404 }, { status: 404 }] });
			const jobs = queue();
			const queueEvents = await events();
			worker(async ({ fetch }) => {
				const missing = await fetch(`${api?.url}/v1/items/a`);
				const other = await fetch(`${api?.url}/v1/items/b`);
				throw new Error(`database busy after ${missing.status} and ${other.status}`);
			});
			const job = await jobs.add('fetch', {}, { attempts: 2, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /database busy after 404 and 200/);
			assert.equal(count(api, '/v1/items/a'), 2);
			assert.equal(count(api, '/v1/items/b'), 2);
			assert.equal(((await jobs.getJob(job.id as string)) as Job).attemptsMade, 2);
		});

		it('fails at once, with no request, on a bug (a TypeError that is no network failure)', async () => {
			const jobs = queue();
			const queueEvents = await events();
			let runs = 0;
			worker(() => {
				runs++;
				throw new TypeError('settings.map is not a function');
			});
			const job = await jobs.add('bug', {}, { attempts: 3 });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /settings\.map is not a function/);
			assert.equal(runs, 1);
			assert.equal(((await jobs.getJob(job.id as string)) as Job).attemptsMade, 1);
		});
	});

	describe('transient errors are the queue’s retries, within the stated bound', () => {
		it('recovers from 500, 500, 200 with 3 requests: one in-run retry, then one queue retry', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 500 }, { status: 500 }, { status: 200 }] });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchItem('a'));
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			assert.deepEqual(await job.waitUntilFinished(queueEvents, 5000), { ok: '/v1/items/a' });
			const done = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(count(api, '/v1/items/a'), 3);
			// (k + L) × A with k = 1 request per run, L = 1, A = 3 attempts: 6.
			assert.ok(count(api, '/v1/items/a') <= (1 + 1) * 3);
			assert.equal(done.attemptsMade, 2);
		});

		it('sends exactly (k + L) × A requests when the API never recovers: 6 for k = 1, L = 1, A = 3 (outage circuit off)', async () => {
			api = await startApi({ '/v1/items/a': Array.from({ length: 20 }, () => ({ status: 500 })) });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchItem('a'), { retry: { limit: 1, ...fast }, outage: false });
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /^Error: 500 GET .*\(2 attempts\)/);
			const failed = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(count(api, '/v1/items/a'), 6);
			assert.equal(failed.attemptsMade, 3);
			// Every failed run is in the log, each the error's toJSON() of that run: 2 requests, the in-run allowance spent.
			const { logs } = await jobs.getJobLogs(job.id as string);
			assert.deepEqual(
				logs.map((line) => [JSON.parse(line).status, JSON.parse(line).attempts, JSON.parse(line).stopReason]),
				[
					[500, 2, 'allowance'],
					[500, 2, 'allowance'],
					[500, 2, 'allowance'],
				],
			);
		});

		it('bounds job.fetch the same way: 4 requests for L = 1, A = 2 against an API that always answers 500', async () => {
			api = await startApi({ '/v1/items/a': Array.from({ length: 20 }, () => ({ status: 500 })) });
			const jobs = queue();
			const queueEvents = await events();
			worker(
				async ({ fetch }) => {
					// The drop-in fetch resolves with the last failing response, as fetch does: the job decides.
					const response = await fetch(`${api?.url}/v1/items/a`);
					if (!response.ok) {
						throw new Error(`items answered ${response.status}`);
					}
					return response.json();
				},
				{ retry: { limit: 1, ...fast }, outage: false },
			);
			const job = await jobs.add('fetch', {}, { attempts: 2, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /items answered 500/);
			assert.equal(count(api, '/v1/items/a'), 4);
		});

		it('counts the R term: exactly (k + L) × (A + R) = 8 requests for k = 1, L = 1, A = 2 and R = 2 rate-limited runs', async () => {
			// Each rate-limited run spends its whole allowance first: a 500, then the in-run retry meets a 429 that asks for
			// a wait. Both runs go back uncharged; then the API never recovers, and the A charged runs send k + L each.
			const limited = { status: 429, headers: { 'retry-after-ms': '500' } };
			api = await startApi({ '/v1/items/a': [{ status: 500 }, limited, { status: 500 }, limited, ...Array(10).fill({ status: 500 })] });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchItem('a'), { retry: { limit: 1, ...fast }, outage: false });
			const job = await jobs.add('fetch', {}, { attempts: 2, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /^Error: 500 GET .*\(2 attempts\)/);
			assert.deepEqual(
				api.seen.map(({ status }) => status),
				[500, 429, 500, 429, 500, 500, 500, 500],
			);
			assert.equal(count(api, '/v1/items/a'), (1 + 1) * (2 + 2));
			const failed = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(failed.attemptsMade, 2, 'A: the rate-limited runs are not charged');
			assert.equal(failed.attemptsStarted, 4, 'A + R runs');
		});

		it('with L = 0, sends A requests: one per attempt of the queue', async () => {
			api = await startApi({ '/v1/items/a': Array.from({ length: 20 }, () => ({ status: 503 })) });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchItem('a'), { retry: { limit: 0, ...fast } });
			const job = await jobs.add('fetch', {}, { attempts: 4, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /503 GET/);
			assert.equal(count(api, '/v1/items/a'), 4);
		});
	});

	describe('one Idempotency-Key per job, the same on every run on every worker', () => {
		it('sends the job’s key with every POST of both runs (worker A, then worker B) and the key with -2 on the second call', async () => {
			api = await startApi({ '/v1/items': [{ status: 500 }, { status: 500 }, { status: 201 }], '/v1/items/a': [{ status: 200 }] });
			const jobs = queue();
			const queueEvents = await events();
			const ranOn: string[] = [];
			// A client that makes its own keys: in a run, the job's key wins.
			const api1 = createClient({ baseUrl: `${api.url}/v1/`, retry: fast, idempotencyKey: true });
			const job$ =
				(label: string): QueueJobFunction<unknown, unknown> =>
				async ({ client, fetch }) => {
					ranOn.push(label);
					await client(api1).post('items', { json: { name: 'a' } });
					const response = await fetch(`${api?.url}/v1/items/a`, { method: 'PATCH', body: '{}' });
					return response.status;
				};
			const first = worker(job$('A'));
			// A fixed backoff long enough to hand the second run to another worker.
			const job = await jobs.add('create', {}, { attempts: 3, backoff: { type: 'fixed', delay: 400 } });
			for (let state = await job.getState(); state !== 'delayed'; state = await job.getState()) {
				assert.ok(state === 'waiting' || state === 'active', `the job is ${state}`);
				await new Promise((resolve) => setTimeout(resolve, 10));
			}
			// Closed, not paused: a paused worker's blocking fetch may still take the job once its delay is over.
			await first.close();
			worker(job$('B'));
			assert.equal(await job.waitUntilFinished(queueEvents, 5000), 200);

			assert.deepEqual(ranOn, ['A', 'B']);
			const key = await jobIdempotencyKey(`bull:${queueName}`, job.id);
			assert.match(key, /^steadfetch-[0-9a-f]{32}$/);
			assert.deepEqual(
				api.seen.map(({ method, path, key: sent }) => `${method} ${path} ${sent}`),
				[`POST /v1/items ${key}`, `POST /v1/items ${key}`, `POST /v1/items ${key}`, `PATCH /v1/items/a ${key}-2`],
			);
			// Run 1 failed (charged), run 2 completed.
			assert.equal(((await jobs.getJob(job.id as string)) as Job).attemptsMade, 2);
		});

		it('keys a PATCH through client() however its method is written (`Patch`: ky 2.1 leaves its case as given, 2.2 upper-cases it)', async () => {
			const jobs = queue();
			const queueEvents = await events();
			// The requests as the client hands them to fetch (Node's own server answers 400 to a method not in capitals).
			const sent: Request[] = [];
			const plain = createClient({
				baseUrl: 'https://api.example.test/v1/',
				retry: fast,
				fetch: async (input) => {
					sent.push(input as Request);
					return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
				},
			});
			worker(async ({ client }) => (await client(plain)('items/a', { method: 'Patch', json: {} })).status);
			const job = await jobs.add('update', {});
			assert.equal(await job.waitUntilFinished(queueEvents, 5000), 200);
			const key = await jobIdempotencyKey(`bull:${queueName}`, job.id);
			assert.deepEqual(
				sent.map((request) => `${request.method.toUpperCase()} ${request.headers.get('idempotency-key')}`),
				[`PATCH ${key}`],
			);
		});

		it('derives the key from the queue and the job’s id alone: the first 16 bytes of SHA-256 of both', async () => {
			const key = (queue: string, id: string) => jobIdempotencyKey(queue, id);
			assert.equal(await key('bull:q', '1'), await key('bull:q', '1'));
			assert.notEqual(await key('bull:q', '1'), await key('bull:q', '2'));
			assert.notEqual(await key('bull:q', '1'), await key('bull:r', '1'));
			const expected = createHash('sha256').update('bull:q\n1').digest('hex').slice(0, 32);
			assert.equal(await key('bull:q', '1'), `steadfetch-${expected}`);
		});
	});

	describe('an outage holds its API’s requests: one probe per probing interval', () => {
		const a = 'http://a.test';
		const b = 'http://b.test:8080';

		it('keeps its state in Redis per origin: a probe per interval, doubled by each failed probe up to maxProbeMs, closed by an answer', async () => {
			const jobs = queue();
			const circuit = new QueueHolds(jobs, { probeMs: 1000, maxProbeMs: 3000 });
			assert.deepEqual(await circuit.admit(a), { kind: 'run' });
			await circuit.open(a);
			assert.deepEqual(await circuit.admit(a), { kind: 'probe' });
			// A run held back comes back once the probe's interval is over and the probe has had probeMs to answer.
			const held = await circuit.admit(a);
			assert.ok(held.kind === 'wait' && held.waitMs > 1900 && held.waitMs <= 2000, JSON.stringify(held));
			assert.deepEqual(await circuit.admit(b), { kind: 'run' }, 'another origin is not held');
			// Each failed probe in a row doubles the next interval: 2000, then 3000 (the cap). A probe that says nothing of
			// the API (it sent nothing) only lets the next run probe.
			const redisClient = await jobs.getBackend().client;
			const epoch = await redisClient.hget(jobs.toKey('meta'), 'steadfetch:epoch');
			for (const interval of [2000, 3000, 3000]) {
				await circuit.probeFailed(a);
				await circuit.release(a);
				assert.deepEqual(await circuit.admit(a), { kind: 'probe' });
				const probeTtl = Number(await redisClient.runCommand('pttl', [jobs.toKey(`steadfetch:${epoch}:o:${a}:probe`)]));
				assert.ok(probeTtl > interval - 100 && probeTtl <= interval, `${probeTtl} for ${interval}`);
				assert.equal(await circuit.heldFor(a), -1, 'held while the circuit is open');
				const other = await circuit.admit(a);
				assert.ok(other.kind === 'wait' && other.waitMs > interval + 900 && other.waitMs <= interval + 1000, JSON.stringify(other));
			}
			await circuit.close(a);
			assert.deepEqual(await circuit.admit(a), { kind: 'run' });
			assert.equal(await circuit.heldFor(a), 0);
		});

		it('never cuts a longer pause short, holds only its own origin, and leaves BullMQ’s own rate limit alone', async () => {
			const jobs = queue();
			const circuit = new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 100 });
			await circuit.pause(a, 5000);
			await circuit.pause(a, 100);
			const kept = await circuit.heldFor(a);
			assert.ok(kept > 4000 && kept <= 5000, String(kept));
			const held = await circuit.admit(a);
			assert.ok(held.kind === 'wait' && held.waitMs > 4000 && held.waitMs <= 5000, JSON.stringify(held));
			assert.deepEqual(await circuit.admit(b), { kind: 'run' });
			assert.equal(await jobs.getRateLimitTtl(Number.MAX_SAFE_INTEGER), 0, 'the queue itself goes on handing out jobs');
		});

		it('lifts every origin’s holds through liftHolds, and leaves nothing held to a new queue of the same name after obliterate', async () => {
			const jobs = queue();
			const circuit = new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 100 });
			await circuit.pause(a, 600_000);
			await circuit.open(b);
			assert.ok((await circuit.heldFor(a)) > 500_000);
			assert.equal(await circuit.heldFor(b), -1);
			await liftHolds(jobs);
			assert.equal(await circuit.heldFor(a), 0);
			assert.equal(await circuit.heldFor(b), 0);
			await circuit.pause(a, 600_000);
			await jobs.obliterate({ force: true });
			const fresh = new QueueHolds(queue(), { probeMs: 100, maxProbeMs: 100 });
			assert.equal(await fresh.heldFor(a), 0, 'a new queue of the same name is not paused');
		});

		it('against an API that never recovers, sends k + L on the first run, then one probe per run: 4 requests for A = 3', async () => {
			api = await startApi({ '/v1/items/a': Array.from({ length: 20 }, () => ({ status: 500 })) });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchItem('a'));
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /^Error: 500 GET /);
			assert.equal(count(api, '/v1/items/a'), 4);
			const { logs } = await jobs.getJobLogs(job.id as string);
			assert.deepEqual(
				logs.map((line) => [JSON.parse(line).status, JSON.parse(line).attempts]),
				[
					[500, 2],
					[500, 1],
					[500, 1],
				],
			);
			// The two probes come a probing interval (100 ms, Redis' PX) after the outage opened and after each other: at
			// least 200 ms after the first run's last request, less 50 ms from a probe's admission to its request.
			const [, second, , fourth] = api.seen.map(({ at }) => at) as [number, number, number, number];
			assert.ok(fourth - second >= 150, `${fourth - second} ms`);
		});

		it('holds back a run’s retry once another run has opened the circuit: no second request, the job back uncharged', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 500 }] });
			const jobs = queue();
			const queueEvents = await events();
			// A client whose retry waits a whole second: time enough for another worker to open the circuit.
			const slow = createClient({ baseUrl: `${api.url}/v1/`, retry: { baseDelayMs: 1000, maxDelayMs: 1000, jitter: false } });
			worker(({ client }) => client(slow).get('items/a').json());
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			await until(() => api?.seen.length === 1);
			// What another worker's failed run does: the API's circuit opens.
			await new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 1000 }).open(api.url);
			assert.deepEqual(await job.waitUntilFinished(queueEvents, 5000), { ok: '/v1/items/a' });
			// The held run sent its first request only; the job came back as the probe, which found the API answering.
			assert.deepEqual(
				api.seen.map(({ status }) => status),
				[500, 200],
			);
			const done = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(done.attemptsMade, 1, 'the held run is not charged');
			assert.deepEqual(await new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 1000 }).admit(api.url), { kind: 'run' });
		});

		it('holds a run the client’s own breaker refused (no request) as the queue’s circuit would: uncharged, until the breaker’s probe', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 500 }, { status: 500 }] });
			const jobs = queue();
			const queueEvents = await events();
			// A breaker that opens on two failures in a row, for 300 ms; the run's allowance covers the second.
			const client = createClient({
				baseUrl: `${api.url}/v1/`,
				retry: fast,
				breaker: { failureThreshold: 2, failureWindowMs: 0, openMs: 300 },
			});
			worker(({ client: bind }) => bind(client).get('items/a').json(), { retry: { limit: 1, ...fast }, outage: false });
			const first = await jobs.add('get', {}, { attempts: 2, backoff: { type: 'fixed', delay: 10 } });
			const second = await jobs.add('get', {}, { attempts: 1 });
			assert.deepEqual(await first.waitUntilFinished(queueEvents, 5000), { ok: '/v1/items/a' });
			assert.deepEqual(await second.waitUntilFinished(queueEvents, 5000), { ok: '/v1/items/a' });
			// Two failures, then the breaker's probe and the other job: no request was refused at a job's expense.
			assert.deepEqual(
				api.seen.map(({ status }) => status),
				[500, 500, 200, 200],
			);
			assert.equal(((await jobs.getJob(second.id as string)) as Job).attemptsMade, 1, 'a refused run is not charged');
		});

		it('holds a fleet of 3 workers × 2 to one probe per 100 ms: 20 failed requests, 30 jobs, exactly 50 requests', async () => {
			const total = 30;
			const failures = 20;
			const slots = 3 * 2;
			// Up for 10 requests, then 500 for the next 20, then up again: the outage is counted in requests, so that the
			// totals are exact on any machine; the pacing of the failures is what the circuit adds.
			api = await startApi({}, (index) => (index >= 10 && index < 10 + failures ? 500 : 200));
			const client = createClient({ baseUrl: `${api.url}/v1/`, retry: fast });
			for (let index = 0; index < 3; index++) {
				open(
					createWorker(
						queueName,
						async ({ client: bind, job }) => (await bind(client).post(`items/${job.id}`, { json: {} })).status,
						{ connection: connection(), concurrency: 2 },
						// A steady probe every 100 ms (by default the interval doubles while the outage lasts).
						{ retry: { limit: 1, ...fast }, outage: { probeMs: 100, maxProbeMs: 100 } },
					),
				);
			}
			const jobs = queue();
			await jobs.addBulk(
				Array.from({ length: total }, () => ({ name: 'create', data: {}, opts: { attempts: 25, backoff: { type: 'custom' } } })),
			);
			assert.deepEqual(await settled(jobs, total, 10_000), { completed: total, failed: 0 });

			assert.equal(api.seen.length, total + failures);
			assert.equal(new Set(api.seen.filter(({ status }) => status < 400).map(({ path }) => path)).size, total);
			// At most two requests (first and in-run retry) of each run in flight when the outage began go out before the
			// circuit opens; every later failure is a probe, one per 100 ms for the whole fleet (Redis' PX): any n + 1 probes
			// span at least n × 100 ms, less the time from a probe's admission to its request reaching the API. That time is
			// the machine's: 150 ms allows a busy CI machine (a 50 ms allowance once failed at 36 ms between two probes), and
			// still fails a fleet without the circuit, whose 20 failures all land within a few milliseconds.
			const failed = api.seen.filter(({ status }) => status === 500).map(({ at }) => at);
			const probes = failed.slice(2 * slots);
			for (let first = 0; first < probes.length; first++) {
				for (let last = first + 1; last < probes.length; last++) {
					const span = (probes[last] as number) - (probes[first] as number);
					assert.ok(span >= (last - first) * 100 - 150, `probes ${first} to ${last}: ${span} ms`);
				}
			}
		});
	});

	describe('nothing a server sends or a run does holds the queue past its bounds (issue 26)', () => {
		it('fails the job at once, with the API’s retryAt, when the wait is past maxPauseMs, and pauses nothing', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 429, headers: { 'retry-after': '86400' } }] });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchItem('a'));
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /Retry after .*past maxPauseMs \(600000 ms\): the job fails\.$/);
			assert.equal(count(api, '/v1/items/a'), 1);
			assert.equal(await new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 100 }).heldFor(api.url), 0);
		});

		it('pauses the queue in Redis before the job sees the 429', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }] });
			const jobs = queue();
			const queueEvents = await events();
			const heldWhenSeen: number[] = [];
			worker(async ({ fetch }) => {
				const response = await fetch(`${api?.url}/v1/items/a`);
				heldWhenSeen.push(await new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 100 }).heldFor(api?.url ?? ''));
				if (!response.ok) {
					throw new Error(`answered ${response.status}`);
				}
				return response.status;
			});
			const job = await jobs.add('fetch', {}, { attempts: 2, backoff: { type: 'custom' } });
			assert.equal(await job.waitUntilFinished(queueEvents, 5000), 200);
			assert.ok((heldWhenSeen[0] ?? 0) > 1000, `held ${heldWhenSeen[0]} ms when the job saw the 429`);
			assert.equal(count(api, '/v1/items/a'), 2);
		});

		it('asks the holds before a run’s first request: a pause set after the run started sends nothing, uncharged', async () => {
			api = await startApi({});
			const jobs = queue();
			const queueEvents = await events();
			const holds = new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 100 });
			let open: () => void = () => undefined;
			const gate = new Promise<void>((resolve) => {
				open = resolve;
			});
			let runs = 0;
			worker(async ({ fetch }) => {
				runs++;
				await gate;
				return (await fetch(`${api?.url}/v1/items/a`)).status;
			});
			const job = await jobs.add('fetch', {}, { attempts: 1 });
			await until(() => runs === 1);
			await holds.pause(api.url, 300);
			const pausedAt = Date.now();
			open();
			assert.equal(await job.waitUntilFinished(queueEvents, 5000), 200);
			assert.equal(count(api, '/v1/items/a'), 1);
			assert.ok((api.seen[0]?.at ?? 0) - pausedAt >= 250, 'the request waited for the pause');
			const done = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(done.attemptsMade, 1, 'the held run is not charged');
			assert.equal(runs, 2);
		});

		it('closes the outage circuit only on an answer: a probe that sends nothing, or throws before sending, leaves it open', async () => {
			api = await startApi({});
			const jobs = queue();
			const queueEvents = await events();
			const holds = new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 100 });
			await holds.open(api.url);
			const plans: Record<string, QueueJobFunction<unknown, unknown>> = {
				none: () => 'no request',
				bug: ({ fetch }) => fetch(`http://user:pass@127.0.0.1:${new URL(api?.url ?? '').port}/v1/items/bug`),
				call: async ({ fetch }) => (await fetch(`${api?.url}/v1/items/a`)).status,
			};
			worker(({ job, ...context }) => (plans[job.name] as QueueJobFunction<unknown, unknown>)({ job, ...context }), {
				retry: { limit: 1, ...fast },
				outage: { probeMs: 100, maxProbeMs: 100 },
			});
			const none = await jobs.add('none', {});
			assert.equal(await none.waitUntilFinished(queueEvents, 5000), 'no request');
			assert.equal(await holds.heldFor(api.url), -1, 'a probe that sent nothing leaves the circuit open');
			const bug = await jobs.add('bug', {});
			await assert.rejects(bug.waitUntilFinished(queueEvents, 5000), /credentials/);
			assert.equal(await holds.heldFor(api.url), -1, 'a probe that threw before its request leaves the circuit open');
			const call = await jobs.add('call', {});
			assert.equal(await call.waitUntilFinished(queueEvents, 5000), 200);
			assert.equal(await holds.heldFor(api.url), 0, 'the answer closed it');
			assert.equal(api.seen.length, 1);
		});

		it('aborts a run past graceMs with a WorkerClosingError the job can test, and sends the job back uncharged', async () => {
			const jobs = queue();
			const reasons: unknown[] = [];
			const slow = worker(
				({ signal }) =>
					new Promise((_resolve, reject) => {
						signal?.addEventListener('abort', () => {
							reasons.push(signal.reason);
							reject(signal.reason);
						});
					}),
			);
			const job = await jobs.add('slow', {}, { attempts: 2 });
			await until(async () => (await job.getState()) === 'active');
			await closeWorker(slow, { graceMs: 50 });
			assert.equal(reasons.length, 1);
			assert.ok(reasons[0] instanceof WorkerClosingError);
			assert.equal((reasons[0] as Error).name, 'WorkerClosingError');
			const back = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(await back.getState(), 'waiting');
			assert.equal(back.attemptsMade, 0);
		});
	});

	describe('a wait the API asked for holds that API’s requests, uncharged', () => {
		it('holds every worker until Retry-After: 1 has passed, and leaves attemptsMade unchanged', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }] });
			const jobs = queue();
			const queueEvents = await events();
			const ranOn: string[] = [];
			const labelled =
				(label: string): QueueJobFunction<unknown, unknown> =>
				(context) => {
					ranOn.push(`${label}:${(context.job.data as { id: string }).id}`);
					// A client that would sleep a 1 s Retry-After itself: in a run, the queue's pause wins.
					const client = createClient({ baseUrl: `${api?.url}/v1/`, retry: { baseDelayMs: 1, maxDelayMs: 5000 } });
					return context
						.client(client)
						.get(`items/${(context.job.data as { id: string }).id}`)
						.json();
				};
			const first = worker(labelled('A'));
			const one = await jobs.add('fetch', { id: 'a' }, { attempts: 2, backoff: { type: 'custom' } });
			// The 429 arrives, worker A pauses the API in Redis and sends the job to the delayed set until the reset.
			for (let state = await one.getState(); state !== 'delayed' || count(api, '/v1/items/a') < 1; state = await one.getState()) {
				assert.ok(state === 'waiting' || state === 'active', `the rate-limited job is ${state}`);
				await new Promise((resolve) => setTimeout(resolve, 10));
			}
			const limitedAt = api.seen[0]?.at ?? 0;
			assert.ok((await new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 100 }).heldFor(api.url)) > 500, 'the pause lives in Redis');
			await first.close();
			// Another worker (another machine, for all it knows) and another job: both wait for the reset.
			const second = worker(labelled('B'), undefined, false);
			void second.run();
			const two = await jobs.add('fetch', { id: 'b' }, { attempts: 2, backoff: { type: 'custom' } });
			await Promise.all([one.waitUntilFinished(queueEvents, 5000), two.waitUntilFinished(queueEvents, 5000)]);

			assert.equal(api.seen.length, 3);
			assert.equal(count(api, '/v1/items/a'), 2);
			assert.equal(count(api, '/v1/items/b'), 1);
			for (const { path, at } of api.seen.slice(1)) {
				// Retry-After: 1 is 1000 ms from the 429; Redis' PX and the clocks leave a few milliseconds of slack.
				assert.ok(at - limitedAt >= 950, `${path} was sent ${at - limitedAt} ms after the 429`);
			}
			// Job b started during the pause and was held before its request: it ran again after the reset.
			assert.deepEqual([...new Set(ranOn.slice(1))].sort(), ['B:a', 'B:b']);
			const done = (await jobs.getJob(one.id as string)) as Job;
			assert.equal(done.attemptsMade, 1, 'the rate-limited run is not charged');
			assert.equal(done.attemptsStarted, 2);
		});

		it('pauses the queue for a 429 that job.fetch hands back and the job throws on: one request, then the reset, uncharged', async () => {
			api = await startApi({ '/v1/items/a': [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }] });
			const jobs = queue();
			const queueEvents = await events();
			worker(fetchOrThrow('/v1/items/a'));
			const job = await jobs.add('fetch', {}, { attempts: 3, backoff: { type: 'custom' } });
			assert.deepEqual(await job.waitUntilFinished(queueEvents, 5000), { ok: '/v1/items/a' });
			assert.deepEqual(
				api.seen.map(({ status }) => status),
				[429, 200],
			);
			const [limited, next] = api.seen.map(({ at }) => at) as [number, number];
			// Retry-After: 1 is 1000 ms from the 429; Redis' PX and the clocks leave a few milliseconds of slack.
			assert.ok(next - limited >= 950, `sent again ${next - limited} ms after the 429`);
			const done = (await jobs.getJob(job.id as string)) as Job;
			assert.equal(done.attemptsMade, 1, 'the rate-limited run is not charged');
			assert.equal(done.attemptsStarted, 2);
		});
	});

	describe('holds per origin: one API’s pause or outage never holds the jobs that call another', () => {
		let other: Api | undefined;
		afterEach(async () => {
			await other?.close();
			other = undefined;
		});
		// A job that GETs items/<data.id> from the API its data names.
		const fetchFrom = (): QueueJobFunction<unknown, unknown> => {
			const clients = new Map<string, ReturnType<typeof createClient>>();
			return ({ client: bind, job }) => {
				const { base, id } = job.data as { base: string; id: string };
				const client = clients.get(base) ?? createClient({ baseUrl: `${base}/v1/`, retry: fast });
				clients.set(base, client);
				return bind(client).get(`items/${id}`).json();
			};
		};

		it('lets another API’s jobs run while one API’s Retry-After: 2 lasts, and holds that API’s jobs to the reset, uncharged', async () => {
			api = await startApi({ '/v1/items/a0': [{ status: 429, headers: { 'retry-after': '2' } }] });
			other = await startApi({});
			const jobs = queue();
			open(createWorker(queueName, fetchFrom(), { connection: connection(), concurrency: 2 }, { retry: { limit: 1, ...fast } }));
			const limited = await jobs.add('a', { base: api.url, id: 'a0' }, { attempts: 2, backoff: { type: 'custom' } });
			await until(() => api?.seen.length === 1);
			const rest = await jobs.addBulk([
				...Array.from({ length: 3 }, (_, index) => ({ name: 'a', data: { base: api?.url, id: `a${index + 1}` } })),
				...Array.from({ length: 5 }, (_, index) => ({ name: 'b', data: { base: other?.url, id: `b${index}` } })),
			]);
			assert.deepEqual(await settled(jobs, 9, 6000), { completed: 9, failed: 0 });

			const limitedAt = api.seen[0]?.at ?? 0;
			// The other API's five jobs went on at once; this API's four (the limited one again, three new) waited the reset.
			assert.equal(other.seen.length, 5);
			for (const { path, at } of other.seen) {
				assert.ok(at - limitedAt < 1500, `${path} waited ${at - limitedAt} ms`);
			}
			assert.equal(api.seen.length, 5);
			for (const { path, at } of api.seen.slice(1)) {
				assert.ok(at - limitedAt >= 1950, `${path} was sent ${at - limitedAt} ms after the 429`);
			}
			for (const job of [limited, ...rest]) {
				assert.equal(((await jobs.getJob(job.id as string)) as Job).attemptsMade, 1, `${job.name} ${job.id} charged once`);
			}
		});

		it('lets another API’s jobs run while one API’s outage circuit is open, and probes that API alone', async () => {
			api = await startApi({}, () => 500);
			other = await startApi({});
			const jobs = queue();
			const holds = new QueueHolds(jobs, { probeMs: 100, maxProbeMs: 1000 });
			open(
				createWorker(
					queueName,
					fetchFrom(),
					{ connection: connection(), concurrency: 2 },
					{
						retry: { limit: 1, ...fast },
						outage: { probeMs: 1000, maxProbeMs: 1000 },
					},
				),
			);
			const down = await jobs.add('a', { base: api.url, id: 'a0' }, { attempts: 5, backoff: { type: 'fixed', delay: 10 } });
			await until(async () => (await holds.heldFor(api?.url ?? '')) === -1);
			const openedAt = Date.now();
			await jobs.addBulk(Array.from({ length: 5 }, (_, index) => ({ name: 'b', data: { base: other?.url, id: `b${index}` } })));
			await until(async () => (await jobs.getJobCounts('completed')).completed === 5);
			assert.equal(other.seen.length, 5);
			assert.equal(await holds.heldFor(api.url), -1, 'the broken API’s circuit is still open');
			assert.equal(await holds.heldFor(other.url), 0);
			// The broken API got the first run's request and its in-run retry, then one probe a second at most.
			const probes = 1 + Math.floor((Date.now() - openedAt) / 1000);
			assert.ok(api.seen.length <= 2 + probes, `${api.seen.length} requests to the broken API, ${probes} probes allowed`);
			assert.ok(['delayed', 'active'].includes(await down.getState()), 'the broken API’s job waits for it');
		});
	});

	describe('createProcessor: the same processor for a Worker you build', () => {
		it('fails a 404 at once after one request with the advice, and holds a 429’s job uncharged until the reset', async () => {
			api = await startApi({
				'/v1/items/gone': [{ status: 404 }],
				'/v1/items/busy': [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }],
			});
			const jobs = queue();
			const queueEvents = await events();
			const client = createClient({ baseUrl: `${api.url}/v1/`, retry: fast });
			const processor = createProcessor(jobs, ({ client: bind, job }) => bind(client).get(`items/${job.data}`).json(), {
				retry: { limit: 1, ...fast },
			});
			open(new Worker(queueName, processor, { connection: connection(), settings: { backoffStrategy: createBackoffStrategy(fast) } }));
			const gone = await jobs.add('get', 'gone', { attempts: 3, backoff: { type: 'custom' } });
			await assert.rejects(gone.waitUntilFinished(queueEvents, 5000), /^Error: 404 GET .*The requested resource doesn't exist/);
			assert.equal(count(api, '/v1/items/gone'), 1);
			const busy = await jobs.add('get', 'busy', { attempts: 3, backoff: { type: 'custom' } });
			assert.deepEqual(await busy.waitUntilFinished(queueEvents, 5000), { ok: '/v1/items/busy' });
			const [limited, next] = api.seen.filter(({ path }) => path === '/v1/items/busy').map(({ at }) => at) as [number, number];
			assert.ok(next - limited >= 950, `sent again ${next - limited} ms after the 429`);
			assert.equal(((await jobs.getJob(busy.id as string)) as Job).attemptsMade, 1, 'the rate-limited run is not charged');
		});

		it('fails a job of another queue at once, naming both queues, with no request', async () => {
			api = await startApi({});
			const jobs = queue();
			const elsewhere = open(new Queue(`${queueName}-other`, { connection: connection() }));
			const queueEvents = await events();
			const processor = createProcessor(elsewhere, async ({ fetch }) => (await fetch(`${api?.url}/x`)).status);
			open(new Worker(queueName, processor, { connection: connection() }));
			const job = await jobs.add('get', {}, { attempts: 3 });
			await assert.rejects(job.waitUntilFinished(queueEvents, 5000), /is for the queue bull:spec-.*-other, and got a job of bull:spec-/);
			assert.equal(api.seen.length, 0);
			assert.equal(((await jobs.getJob(job.id as string)) as Job).attemptsMade, 1);
		});
	});
});

describe('steadfetch/bullmq without Redis', () => {
	const error = async (status: number, headers: Record<string, string> = {}): Promise<unknown> => {
		const api = await startApi({ '/x': [{ status, headers }] });
		try {
			await createClient({ retry: { limit: 0 } }).get(`${api.url}/x`);
		} catch (thrown) {
			return thrown;
		} finally {
			await api.close();
		}
		throw new Error('expected a failure');
	};

	describe('queueAction sorts failures for the queue', () => {
		it('fails on a permanent status and on a bug; retries the rest', async () => {
			assert.deepEqual(queueAction(await error(404)), { action: 'fail' });
			assert.deepEqual(queueAction(new TypeError('x is not a function')), { action: 'fail' });
			assert.deepEqual(queueAction(await error(500)), { action: 'retry' });
			assert.deepEqual(queueAction(new Error('database busy')), { action: 'retry' });
		});

		it('pauses only on a 429 or 503 whose response asked for a wait', async () => {
			const limited = await error(429, { 'retry-after': '2' });
			const action = queueAction(limited);
			assert.equal(action.action, 'pause');
			assert.ok(action.action === 'pause' && action.waitMs > 1900 && action.waitMs <= 2000);
			assert.deepEqual(queueAction(await error(429)), { action: 'retry' });
			assert.deepEqual(queueAction(await error(500, { 'retry-after': '2' })), { action: 'retry' });
		});
	});

	describe('createBackoffStrategy', () => {
		it('applies the jittered backoff, capped at maxDelayMs', () => {
			const strategy = createBackoffStrategy({ baseDelayMs: 100, factor: 2, maxDelayMs: 300 });
			for (let attempt = 1; attempt <= 5; attempt++) {
				const delay = strategy(attempt, 'custom', new Error('busy')) as number;
				assert.ok(delay >= 0 && delay <= Math.min(300, 100 * 2 ** (attempt - 1)), `attempt ${attempt}: ${delay}`);
			}
		});

		it('never runs before the error’s retryAt', async () => {
			const failure = (await error(503, { 'retry-after': '5' })) as InternalServerError;
			const strategy = createBackoffStrategy({ baseDelayMs: 1, maxDelayMs: 10 });
			const delay = strategy(1, 'custom', failure) as number;
			assert.ok(delay >= 4900 && delay <= 5000, String(delay));
		});
	});

	describe('createWorker checks its options', () => {
		it('checks `outage` and `maxPauseMs`: whole milliseconds no probe interval of which outlasts the longest pause', () => {
			const make = (options: unknown) => () =>
				createWorker('q', () => 1, { connection: { host: '127.0.0.1', port: 1 }, autorun: false }, options as never);
			assert.throws(make({ outage: 0 }), /^TypeError: Expected `outage` to be an object or false, got 0\.$/);
			assert.throws(
				make({ outage: { probeMs: 0.5 } }),
				/^TypeError: Expected `outage\.probeMs` to be a number from 1 to 600000, got 0\.5\.$/,
			);
			assert.throws(make({ outage: { probeMs: -1 } }), /^TypeError: Expected `outage\.probeMs` to be a number from 1 to 600000, got -1\.$/);
			assert.throws(
				make({ outage: { probeMs: 1.5 } }),
				/^TypeError: Expected `outage\.probeMs` to be a whole number of milliseconds from 1 to 600000, got 1\.5\.$/,
			);
			assert.throws(
				make({ outage: { probeMs: 1e12 } }),
				/^TypeError: Expected `outage\.probeMs` to be a number from 1 to 600000, got 1000000000000\.$/,
			);
			assert.throws(make({ outage: { maxProbeMs: 1e308 } }), /`outage\.maxProbeMs`/);
			assert.throws(make({ outage: { prob: 1 } }), /^TypeError: Unknown option `outage\.prob`\.$/);
			assert.throws(
				make({ outage: { probeMs: 200, maxProbeMs: 100 } }),
				/^RangeError: Expected `outage\.maxProbeMs` to be at least `outage\.probeMs` \(200\), got 100\.$/,
			);
			assert.throws(make({ maxPauseMs: 0 }), /^TypeError: Expected `maxPauseMs` to be a number from 1 to 2147483647, got 0\.$/);
			assert.throws(make({ maxPauseMs: Number.POSITIVE_INFINITY }), /`maxPauseMs`/);
			assert.throws(
				make({ maxPauseMs: 50, outage: { probeMs: 100 } }),
				/^TypeError: Expected `outage\.probeMs` to be a number from 1 to 50, got 100\.$/,
			);
			void make({ maxPauseMs: 50 })().close(true);
		});

		it('throws a TypeError for a job that is no function, options that are no object, and a graceMs no timer holds', async () => {
			const connection = { host: '127.0.0.1', port: 1 };
			assert.throws(
				() => createWorker('q', 'job' as never, { connection, autorun: false }),
				/^TypeError: Expected the job to be a function, got string\.$/,
			);
			assert.throws(
				() => createWorker('q', () => 1, { connection, autorun: false }, null as never),
				/^TypeError: Expected the options of `createWorker` to be an object, got null\.$/,
			);
			const idle = createWorker('q', () => 1, { connection, autorun: false });
			for (const graceMs of [-1, Number.POSITIVE_INFINITY, 2 ** 31]) {
				await assert.rejects(
					closeWorker(idle, { graceMs }),
					new RegExp(`^TypeError: Expected \`graceMs\` to be a number from 0 to 2147483647, got ${graceMs}\\.$`),
				);
			}
			await idle.close(true);
		});

		it('throws a TypeError when liftHolds is given no queue', async () => {
			for (const given of [null, 42, {}]) {
				await assert.rejects(
					liftHolds(given as never),
					/^TypeError: Expected `liftHolds` to be given a BullMQ Queue or Worker, got (null|number|object)\.$/,
				);
			}
		});

		it('checks createProcessor as createWorker: the queue, the job function and each option, by name', () => {
			const host = { toKey: (type: string) => `bull:q:${type}`, getBackend: () => ({ client: new Promise<never>(() => undefined) }) };
			const queueLike = host as unknown as Queue;
			assert.throws(
				() => createProcessor({} as Queue, () => 1),
				/^TypeError: Expected `createProcessor` to be given a BullMQ Queue or Worker, got object\.$/,
			);
			assert.throws(() => createProcessor(queueLike, 42 as never), /^TypeError: Expected the job to be a function, got number\.$/);
			assert.throws(
				() => createProcessor(queueLike, () => 1, { limiter: {} } as never),
				/^TypeError: Unknown option `limiter` of `createProcessor`; BullMQ's own options go to the Worker\.$/,
			);
			assert.throws(() => createProcessor(queueLike, () => 1, { maxPauseMs: 0.5 }), /maxPauseMs/);
			assert.throws(
				() => createProcessor(queueLike, () => 1, null as never),
				/^TypeError: Expected the options of `createProcessor` to be an object, got null\.$/,
			);
		});

		it('throws a TypeError naming an unknown option', () => {
			assert.throws(
				() => createWorker('q', () => 1, { connection: { host: '127.0.0.1', port: 1 }, autorun: false }, { attempts: 3 } as never),
				/Unknown option `attempts` of `createWorker`/,
			);
		});
	});

	describe('the main entry', () => {
		it('never loads bullmq or a Redis client, directly or through its modules', () => {
			const src = fileURLToPath(new URL('../src/', import.meta.url));
			const seen = new Set<string>();
			const visit = (file: string): void => {
				if (seen.has(file)) {
					return;
				}
				seen.add(file);
				for (const [, target = ''] of readFileSync(join(src, file), 'utf8').matchAll(/from '([^']+)'/g)) {
					assert.ok(!/^(?:bullmq|ioredis|redis)$|adapters\//.test(target), `${file} imports ${target}`);
					if (target.startsWith('./') || target.startsWith('../')) {
						visit(join(file, '..', target));
					}
				}
			};
			visit('index.ts');
			assert.ok(seen.size > 10);
		});
	});
});
