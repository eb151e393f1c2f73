// `npm run demo:queue`: steadfetch/bullmq on a throwaway Redis, two workers and a local API that misbehaves on purpose:
// a 429 holding the API's jobs on every worker, a 404 failing its job at once with the advice, an outage and its recovery.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { findRedisServer, startRedis } from '../spec/support/redis.ts';
import { closeWorker, createWorker } from '../src/adapters/bullmq/index.ts';
import { createClient } from '../src/index.ts';

const tty = process.stdout.isTTY;
const dim = (text: string) => (tty ? `\u001B[2m${text}\u001B[22m` : text);
const bold = (text: string) => (tty ? `\u001B[1m${text}\u001B[22m` : text);
const started = performance.now();
const clock = () => dim(`t+${String(Math.round(performance.now() - started)).padStart(5)} ms`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const binary = findRedisServer();
if (!binary) {
	console.error('npm run demo:queue needs Redis: `apt-get install redis-server` (it starts its own, on a free port of 127.0.0.1).');
	process.exit(1);
}
const redis = await startRedis(binary);

// The API: POST /v1/orders/<id>. The first request for order 1 gets a 429 with Retry-After: 1; order 404 does not
// exist; while `down`, every request gets a 500.
let down = false;
const calls = new Map<string, number>();
const log: { at: number; status: number }[] = [];
const server = createServer((request, response) => {
	request.resume();
	const path = request.url ?? '';
	const n = (calls.get(path) ?? 0) + 1;
	calls.set(path, n);
	const reply = (status: number, headers: Record<string, string> = {}) => {
		log.push({ at: performance.now(), status });
		const wait = headers['retry-after'] ? ` (Retry-After: ${headers['retry-after']})` : '';
		console.log(`${clock()}   ${dim(`api: ${request.method} ${path} from worker ${request.headers['x-worker']} -> ${status}${wait}`)}`);
		response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(status < 300 ? '{"ok":true}' : '');
	};
	if (down) {
		reply(500);
	} else if (path.endsWith('/o-404')) {
		reply(404);
	} else if (path.endsWith('/o-1') && n === 1) {
		reply(429, { 'retry-after': '1' });
	} else {
		reply(201);
	}
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;

const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
const api = createClient({ baseUrl, retry: { baseDelayMs: 50, maxDelayMs: 200 } });
const queue = new Queue('orders', { connection });
const workers = ['A', 'B'].map((label) => {
	const worker = createWorker<{ id: string }, number>(
		'orders',
		async ({ job, client }) => (await client(api).post(`orders/${job.data.id}`, { json: job.data, headers: { 'x-worker': label } })).status,
		{ connection, concurrency: 2 },
		{ retry: { limit: 1, baseDelayMs: 50, maxDelayMs: 200 } },
	);
	worker.on('completed', (job) =>
		console.log(`${clock()}   job ${job.data.id} completed on worker ${label} (attempts charged: ${job.attemptsMade - 1})`),
	);
	worker.on('failed', (job, error) => {
		if (error.name === 'UnrecoverableError' || (job?.attemptsMade ?? 0) >= (job?.opts.attempts ?? 1)) {
			console.log(`${clock()}   job ${job?.data.id} ${bold('failed')} on worker ${label}: ${error.message}`);
		} else {
			console.log(
				`${clock()}   job ${job?.data.id}: a run failed on worker ${label}, the queue retries it (${error.message.slice(0, 60)}...)`,
			);
		}
	});
	return worker;
});
const settled = async (ids: string[], withinMs = 15_000) => {
	for (const begun = Date.now(); Date.now() - begun < withinMs; await sleep(20)) {
		const states = await Promise.all(ids.map(async (id) => (await queue.getJob(id))?.getState()));
		if (states.every((state) => state === 'completed' || state === 'failed')) {
			return;
		}
	}
};
const add = (id: string) => queue.add('order', { id }, { jobId: id, attempts: 8, backoff: { type: 'custom' } });

try {
	await Promise.all(workers.map((worker) => worker.waitUntilReady()));

	console.log(
		bold(
			'\n1. A 429 with Retry-After: 1 holds the API for every worker: neither sends anything to it for a second, and no attempt is charged',
		),
	);
	await add('o-1');
	await sleep(100);
	await Promise.all(['o-2', 'o-3'].map(add));
	await settled(['o-1', 'o-2', 'o-3']);

	console.log(bold('\n2. A 404 fails its job at once, with the advice, whatever `attempts` says: one request'));
	await add('o-404');
	await settled(['o-404']);

	console.log(bold('\n3. An outage (500 for 2 s): the queue probes once per 100, 200, 400, 800 ms... for both workers, then resumes'));
	down = true;
	const outageAt = performance.now();
	const batch = Array.from({ length: 12 }, (_, index) => `o-${10 + index}`);
	await Promise.all(batch.map(add));
	await sleep(2000);
	down = false;
	console.log(`${clock()}   ${bold('the API is back')}`);
	await settled(batch);
	const during = log.filter(({ at, status }) => at >= outageAt && status === 500).length;
	console.log(
		`${clock()}   12 jobs, all completed: the API saw ${during} requests during the 2 s outage (2 workers × 2 slots; after the runs in flight, one probe at a time)`,
	);
} finally {
	await Promise.all(workers.map((worker) => closeWorker(worker, { graceMs: 1000 })));
	await queue.close();
	server.closeAllConnections();
	server.close();
	await redis.stop();
}
