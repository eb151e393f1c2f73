/*
A fleet run: worker processes (support/queue-worker.ts) on one queue, on a throwaway Redis, against a loopback API that
misbehaves by plan. Used by spec/bullmq-fleet.spec.ts at a size CI affords, and at the full size with
QUEUE_FULL=1 for the figures in docs/queues.md.

Three scenarios, each API a plain HTTP server on 127.0.0.1 in this process:
- faults: a seeded plan per job: 404 (permanent), or a 500, a 429 with `Retry-After: 1` or a connection reset on the
  job's first request, else success;
- outage: every request is answered 500 for `outageMs`, starting once half the jobs have been answered;
- ratelimit: the API accepts `ratePerSecond` requests per second (fixed one-second windows) and answers 429 with
  `Retry-After` (seconds to the window's end, rounded up) beyond.
*/
import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Job, Queue } from 'bullmq';
import type { OutageOptions } from '../../src/adapters/bullmq/index.ts';
import type { QueueWorkerMessage, QueueWorkerSettings } from './queue-worker.ts';

export type FleetScenario = 'faults' | 'outage' | 'ratelimit';

export interface FleetPlan {
	readonly scenario: FleetScenario;
	readonly jobs: number;
	readonly workers: number;
	readonly concurrency: number;
	readonly seed: number;
	/** faults: the share of jobs given each fault. */
	readonly faults?: { readonly notFound: number; readonly serverError: number; readonly rateLimited: number; readonly reset: number };
	/** outage: how long the API answers 500. */
	readonly outageMs?: number;
	/** ratelimit: requests accepted per one-second window. */
	readonly ratePerSecond?: number;
	/** SIGTERM one worker once this many jobs have ended (it closes with `closeWorker`; the others finish the run). */
	readonly sigtermAfter?: number;
	readonly outage?: OutageOptions | false;
	/** The most the run may take; past it, the run stops and reports what it has. */
	readonly withinMs: number;
}

/** What one job was planned to meet (faults scenario). */
export type Fault = 'none' | 'not-found' | 'server-error' | 'rate-limited' | 'reset';

export interface FleetResult {
	readonly plan: FleetPlan;
	readonly durationMs: number;
	readonly requests: number;
	readonly completed: number;
	readonly failed: number;
	/** Jobs that ended neither completed nor failed when the run stopped. */
	readonly unfinished: number;
	/** Per planned fault: jobs, requests their paths saw, jobs completed. */
	readonly byFault: Record<Fault, { jobs: number; requests: number; completed: number }>;
	/** Failed jobs whose failedReason does not carry the advice for a 404. */
	readonly failedWithoutAdvice: string[];
	/** Jobs whose runs overlapped in time, on one worker or two. */
	readonly overlapping: string[];
	readonly statuses: Record<string, number>;
	/** outage: requests that arrived while the API was down, and when it was. */
	readonly outageRequests: number;
	/** ratelimit: the most 429s answered in one window. */
	readonly max429PerWindow: number;
	/** faults: for each 429 with `Retry-After`, the requests that still arrived before its wait was over. */
	readonly afterEach429: number[];
	/** faults: for each 429, how long after it the last of those arrived, in ms (0 for none). */
	readonly lastAfter429Ms: number[];
	readonly workerExitCodes: (number | null)[];
}

const script = fileURLToPath(new URL('./queue-worker.ts', import.meta.url));

// mulberry32: a small seeded generator, so that a plan is the same on every run.
const generator = (seed: number): (() => number) => {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
};

const planFaults = (plan: FleetPlan): Fault[] => {
	const random = generator(plan.seed);
	const shares = plan.faults ?? { notFound: 0, serverError: 0, rateLimited: 0, reset: 0 };
	return Array.from({ length: plan.jobs }, () => {
		const draw = random();
		let edge = shares.notFound;
		if (draw < edge) {
			return 'not-found';
		}
		edge += shares.serverError;
		if (draw < edge) {
			return 'server-error';
		}
		edge += shares.rateLimited;
		if (draw < edge) {
			return 'rate-limited';
		}
		edge += shares.reset;
		return draw < edge ? 'reset' : 'none';
	});
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run the plan on the Redis at `redisPort`, and report. Every process and server it starts is stopped before it returns. */
export async function runFleet(plan: FleetPlan, redisPort: number): Promise<FleetResult> {
	const faults = planFaults(plan);
	const perPath = new Map<string, number>();
	const statuses: Record<string, number> = {};
	const perWindow = new Map<number, number>();
	const per429Window = new Map<number, number>();
	const pauses: { readonly at: number; readonly until: number; after: number; lastMs: number }[] = [];
	let requests = 0;
	let outageFrom = Number.POSITIVE_INFINITY;
	let outageUntil = Number.POSITIVE_INFINITY;
	let outageRequests = 0;
	const started = Date.now();

	const server: Server = createServer((request, response) => {
		request.resume();
		const path = request.url ?? '';
		const index = perPath.get(path) ?? 0;
		perPath.set(path, index + 1);
		requests++;
		const now = Date.now();
		for (const pause of pauses) {
			if (now > pause.at && now < pause.until) {
				pause.after++;
				pause.lastMs = now - pause.at;
			}
		}
		const id = Number(path.split('-').at(-1));
		const fault = faults[id - 1] ?? 'none';
		const answer = (status: number, headers: Record<string, string> = {}): void => {
			statuses[status] = (statuses[status] ?? 0) + 1;
			response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(status < 300 ? '{"ok":true}' : '');
		};
		if (plan.scenario === 'outage') {
			if (now >= outageFrom && now < outageUntil) {
				outageRequests++;
				answer(500);
				return;
			}
		} else if (plan.scenario === 'ratelimit') {
			const window = Math.floor((now - started) / 1000);
			const used = (perWindow.get(window) ?? 0) + 1;
			perWindow.set(window, used);
			if (used > (plan.ratePerSecond ?? 50)) {
				per429Window.set(window, (per429Window.get(window) ?? 0) + 1);
				const seconds = Math.ceil((started + (window + 1) * 1000 - now) / 1000);
				answer(429, { 'retry-after': String(Math.max(1, seconds)) });
				return;
			}
		} else if (fault === 'not-found') {
			answer(404);
			return;
		} else if (index === 0 && fault === 'server-error') {
			answer(500);
			return;
		} else if (index === 0 && fault === 'rate-limited') {
			// What arrives before the wait is over slipped past the pause: sent before it was in Redis, or in flight.
			pauses.push({ at: now, until: now + 1000, after: 0, lastMs: 0 });
			answer(429, { 'retry-after': '1' });
			return;
		} else if (index === 0 && fault === 'reset') {
			statuses.reset = (statuses.reset ?? 0) + 1;
			request.socket.destroy();
			return;
		}
		answer(201);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	const name = `fleet-${plan.scenario}-${Math.random().toString(36).slice(2)}`;
	const queue = new Queue(name, { connection: { host: '127.0.0.1', port: redisPort } });

	const children: ChildProcess[] = [];
	const exits: Promise<number | null>[] = [];
	const runs = new Map<string, { pid: number; start: number; end: number | undefined }[]>();
	try {
		const settings: Omit<QueueWorkerSettings, 'redisPort'> = {
			queue: name,
			apiUrl,
			concurrency: plan.concurrency,
			graceMs: 10_000,
			options: { retry: { limit: 1, baseDelayMs: 10, maxDelayMs: 100 }, ...(plan.outage === undefined ? {} : { outage: plan.outage }) },
			clientRetry: { baseDelayMs: 10, maxDelayMs: 100 },
		};
		let ready = 0;
		for (let index = 0; index < plan.workers; index++) {
			const child = fork(script, [], {
				env: { ...process.env, QUEUE_WORKER: JSON.stringify({ ...settings, redisPort }) },
				stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
			});
			children.push(child);
			exits.push(new Promise((resolve) => child.once('exit', (code) => resolve(code))));
			child.on('message', (message: QueueWorkerMessage) => {
				if (message.type === 'ready') {
					ready++;
				} else if (message.type === 'start') {
					const list = runs.get(message.id) ?? [];
					list.push({ pid: message.pid, start: message.at, end: undefined });
					runs.set(message.id, list);
				} else if (message.type === 'end') {
					const run = runs.get(message.id)?.find((entry) => entry.pid === message.pid && entry.end === undefined);
					if (run) {
						run.end = message.at;
					}
				}
			});
		}
		for (const begun = Date.now(); ready < plan.workers && Date.now() - begun < 20_000; ) {
			await sleep(10);
		}
		// Job ids job-1..job-n, in order: the plan of job-i is faults[i - 1].
		await queue.addBulk(
			faults.map((_, index) => ({
				name: 'create',
				data: { n: index + 1 },
				opts: {
					jobId: `job-${index + 1}`,
					attempts: 8,
					backoff: { type: 'custom' as const },
					removeOnComplete: false,
					removeOnFail: false,
				},
			})),
		);
		let ended = 0;
		let terminated = false;
		for (const begun = Date.now(); Date.now() - begun < plan.withinMs; await sleep(25)) {
			const counts = await queue.getJobCounts('completed', 'failed');
			ended = (counts.completed ?? 0) + (counts.failed ?? 0);
			if (plan.scenario === 'outage' && outageFrom === Number.POSITIVE_INFINITY && ended >= plan.jobs / 2) {
				outageFrom = Date.now();
				outageUntil = outageFrom + (plan.outageMs ?? 10_000);
			}
			if (!terminated && plan.sigtermAfter !== undefined && ended >= plan.sigtermAfter) {
				terminated = true;
				children[0]?.kill('SIGTERM');
			}
			if (ended >= plan.jobs) {
				break;
			}
		}
		const durationMs = Date.now() - started;

		const byFault = Object.fromEntries(
			(['none', 'not-found', 'server-error', 'rate-limited', 'reset'] as const).map((fault) => [
				fault,
				{ jobs: 0, requests: 0, completed: 0 },
			]),
		) as FleetResult['byFault'];
		const failedWithoutAdvice: string[] = [];
		let completed = 0;
		let failed = 0;
		for (const [index, fault] of faults.entries()) {
			const id = `job-${index + 1}`;
			const entry = byFault[fault];
			entry.jobs++;
			entry.requests += perPath.get(`/v1/items/${id}`) ?? 0;
			const job = (await queue.getJob(id)) as Job | undefined;
			const state = await job?.getState();
			if (state === 'completed') {
				completed++;
				entry.completed++;
			} else if (state === 'failed') {
				failed++;
				if (!/^404 POST http:\/\/127\.0\.0\.1:\d+\/v1\/items\/job-\d+: .*Solution: Use the correct URL/.test(job?.failedReason ?? '')) {
					failedWithoutAdvice.push(`${id}: ${job?.failedReason}`);
				}
			}
		}
		const overlapping = [...runs.entries()]
			.filter(([, list]) =>
				list.some((run, index) =>
					list.some(
						(other, otherIndex) => otherIndex !== index && other.start >= run.start && other.start < (run.end ?? Number.POSITIVE_INFINITY),
					),
				),
			)
			.map(([id]) => id);
		for (const child of children) {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGTERM');
			}
		}
		const workerExitCodes = await Promise.all(exits);
		return {
			plan,
			durationMs,
			requests,
			completed,
			failed,
			unfinished: plan.jobs - completed - failed,
			byFault,
			failedWithoutAdvice,
			overlapping,
			statuses,
			outageRequests,
			max429PerWindow: Math.max(0, ...per429Window.values()),
			afterEach429: pauses.map(({ after }) => after),
			lastAfter429Ms: pauses.map(({ lastMs }) => lastMs),
			workerExitCodes,
		};
	} finally {
		for (const child of children) {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGKILL');
			}
		}
		await queue.close();
		server.closeAllConnections();
		await new Promise<void>((resolve) => server.close(() => resolve()));
	}
}
