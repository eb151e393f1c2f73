import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Job, Queue, type WorkerOptions } from 'bullmq';
import { createWorker, jobIdempotencyKey } from '../src/adapters/bullmq/index.ts';
import { createClient } from '../src/index.ts';
import type { QueueWorkerMessage, QueueWorkerSettings } from './support/queue-worker.ts';
import { useRedis } from './support/redis.ts';

const script = fileURLToPath(new URL('./support/queue-worker.ts', import.meta.url));

/** A loopback API whose n-th request waits `holdMs[n]` (0 past the list) before its 201; it notes each request's life. */
interface SlowApi {
	readonly url: string;
	readonly seen: { key: string | undefined; arrived: number; ended: number | undefined; answered: boolean }[];
	close(): Promise<void>;
}

async function startSlowApi(holdMs: readonly number[]): Promise<SlowApi> {
	const seen: SlowApi['seen'] = [];
	const timers = new Set<NodeJS.Timeout>();
	const server: Server = createServer((request, response) => {
		const key = request.headers['idempotency-key'];
		const entry = {
			key: typeof key === 'string' ? key : undefined,
			arrived: Date.now(),
			ended: undefined as number | undefined,
			answered: false,
		};
		const hold = holdMs[seen.length] ?? 0;
		seen.push(entry);
		request.resume();
		response.once('close', () => {
			entry.ended = Date.now();
		});
		const timer = setTimeout(() => {
			timers.delete(timer);
			entry.answered = !response.destroyed;
			response.writeHead(201, { 'content-type': 'application/json' }).end('{}');
		}, hold);
		timers.add(timer);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		seen,
		async close() {
			for (const timer of timers) {
				clearTimeout(timer);
			}
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

// A worker of this process that does what the forked one does: POST `items/<job id>` through its bound client.
const postingWorker = (name: string, apiUrl: string, options: WorkerOptions) => {
	const client = createClient({ baseUrl: `${apiUrl}/v1/`, retry: { baseDelayMs: 1, maxDelayMs: 20 } });
	return createWorker(
		name,
		async ({ client: bind, job }) => (await bind(client).post(`items/${job.id}`, { json: job.data })).status,
		options,
	);
};

const until = async (what: string, check: () => boolean | Promise<boolean>, withinMs = 5000): Promise<void> => {
	for (const started = Date.now(); !(await check()); await new Promise((resolve) => setTimeout(resolve, 10))) {
		if (Date.now() - started > withinMs) {
			throw new Error(`timed out waiting for ${what}`);
		}
	}
};

describe('steadfetch/bullmq: a worker process that gets SIGTERM mid-job', function () {
	this.timeout(20_000);
	const redis = useRedis(this);
	let children: ChildProcess[] = [];
	let closers: (() => Promise<unknown>)[] = [];

	const startWorker = async (settings: Omit<QueueWorkerSettings, 'redisPort'>) => {
		const messages: QueueWorkerMessage[] = [];
		const child = fork(script, [], {
			env: { ...process.env, QUEUE_WORKER: JSON.stringify({ ...settings, redisPort: redis.current.port }) },
			stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
		});
		children.push(child);
		const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
		child.on('message', (message: QueueWorkerMessage) => messages.push(message));
		await until('the worker to be ready', () => messages.some(({ type }) => type === 'ready'), 10_000);
		return { child, messages, exited };
	};

	// A forked worker in the middle of a job's request: the API's first request hangs (30 s), its second is answered at once.
	const midRequest = async (settings: Pick<QueueWorkerSettings, 'graceMs' | 'lockDuration'>) => {
		const api = await startSlowApi([30_000, 0]);
		closers.push(() => api.close());
		const name = `shutdown-${Math.random().toString(36).slice(2)}`;
		const connection = { host: '127.0.0.1', port: redis.current.port, maxRetriesPerRequest: null };
		const queue = new Queue(name, { connection });
		closers.push(() => queue.close());
		const { child, exited } = await startWorker({ queue: name, apiUrl: api.url, concurrency: 1, ...settings });
		const job = await queue.add('create', { name: 'a' }, { attempts: 3 });
		await until('the request to reach the API', () => api.seen.length === 1);
		return { api, name, connection, queue, child, exited, job };
	};

	afterEach(async () => {
		for (const child of children) {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGKILL');
			}
		}
		children = [];
		await Promise.all(closers.map((close) => close()));
		closers = [];
	});

	it('lets the job in flight finish: one request, the job completed, the process exits 0', async () => {
		const api = await startSlowApi([400]);
		closers.push(() => api.close());
		const name = `shutdown-${Math.random().toString(36).slice(2)}`;
		const queue = new Queue(name, { connection: { host: '127.0.0.1', port: redis.current.port } });
		closers.push(() => queue.close());
		const { child, messages, exited } = await startWorker({ queue: name, apiUrl: api.url, concurrency: 1, graceMs: 5000 });
		const job = await queue.add('create', { name: 'a' }, { attempts: 3 });
		await until('the request to reach the API', () => api.seen.length === 1);
		child.kill('SIGTERM');
		assert.equal(await exited, 0);

		const done = (await queue.getJob(job.id as string)) as Job;
		assert.equal(await done.getState(), 'completed');
		assert.equal(done.returnvalue, 201);
		assert.equal(api.seen.length, 1);
		assert.equal(api.seen[0]?.answered, true);
		assert.deepEqual(
			messages.map(({ type }) => type),
			['ready', 'start', 'end', 'closed'],
		);
	});

	it('past graceMs, aborts the run and puts the job back uncharged; another worker runs it once, with the same key', async () => {
		const { api, name, connection, queue, child, exited, job } = await midRequest({ graceMs: 100 });
		child.kill('SIGTERM');
		assert.equal(await exited, 0);

		const back = (await queue.getJob(job.id as string)) as Job;
		assert.equal(await back.getState(), 'waiting');
		assert.equal(back.attemptsMade, 0, 'the aborted run is not charged');
		await until('the first request to end', () => api.seen[0]?.ended !== undefined);
		assert.equal(api.seen[0]?.answered, false);

		const worker = postingWorker(name, api.url, { connection });
		closers.unshift(() => worker.close());
		await until('the job to complete', async () => (await back.getState()) === 'completed');

		assert.equal(api.seen.length, 2);
		const [first, second] = api.seen as [SlowApi['seen'][0], SlowApi['seen'][0]];
		// Never on two workers at once: the second run's request came after the first's connection had closed.
		assert.ok(second.arrived >= (first.ended as number), `${second.arrived} < ${first.ended}`);
		assert.equal(first.key, await jobIdempotencyKey(`bull:${name}`, job.id));
		assert.equal(second.key, first.key);
		assert.equal(((await queue.getJob(job.id as string)) as Job).attemptsMade, 1);
	});

	it('loses no job to SIGKILL: once its lock expires, another worker runs it once more, with the same key', async () => {
		// The worker is killed while its request hangs.
		const { api, name, connection, queue, child, exited, job } = await midRequest({ graceMs: 100, lockDuration: 1000 });
		child.kill('SIGKILL');
		assert.equal(await exited, null);
		assert.equal(await job.getState(), 'active', 'the killed worker still holds the job until its lock expires');

		// BullMQ's stalled-job check, run by any worker, hands the job on once the dead worker's lock has expired.
		const worker = postingWorker(name, api.url, { connection, stalledInterval: 1000, lockDuration: 1000 });
		closers.unshift(() => worker.close());
		await until('the job to complete', async () => (await job.getState()) === 'completed', 10_000);

		assert.equal(api.seen.length, 2);
		const [first, second] = api.seen as [SlowApi['seen'][0], SlowApi['seen'][0]];
		assert.equal(first.key, await jobIdempotencyKey(`bull:${name}`, job.id));
		assert.equal(second.key, first.key, 'the API can tell the second request for a repeat');
		const done = (await queue.getJob(job.id as string)) as Job;
		assert.equal(done.returnvalue, 201);
		assert.equal(done.attemptsMade, 1, 'a stalled run is not charged');
		assert.equal(done.stalledCounter, 1);
	});
});
