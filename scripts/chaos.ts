// `npm run chaos`: thousands of calls through the client, the drop-in fetch and jobs against a loopback server that
// injects faults by a seeded plan, then the invariants. Sizes by environment: CHAOS_CALLS (per driver), CHAOS_CONCURRENCY,
// CHAOS_SEED, CHAOS_QUICK=1 (1 MB instead of 50 MB error bodies). Prints a table and one JSON line; exits 1 when an
// invariant breaks. It must also exit by itself: a timer or socket left open would keep it alive (spec/chaos.spec.ts).
// The faulty server runs in a child process (this file with --serve), so that its work (a 50 MB body) never stalls
// the clients' event loop: a stalled loop would time attempts out that the server had answered.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import ky from 'ky';
import { createClient, createFetch, isSteadfetchError, retryJob } from '../src/index.ts';

const calls = Number(process.env.CHAOS_CALLS ?? 2000);
const concurrency = Number(process.env.CHAOS_CONCURRENCY ?? 32);
const seed = Number(process.env.CHAOS_SEED ?? 20261125);
const quick = process.env.CHAOS_QUICK === '1';
const limit = 2;
const timeoutMs = 300;
const totalTimeoutMs = 1500;
const maxRetryTimeMs = 3000;
const margin = 1000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heap = () => {
	gc();
	gc();
	return process.memoryUsage().heapUsed;
};

// mulberry32: a small seeded generator, so a failing plan can be replayed by its seed.
const random = (state: number) => () => {
	state = (state + 0x6d2b79f5) | 0;
	let t = Math.imul(state ^ (state >>> 15), 1 | state);
	t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

type Fault =
	| 'ok'
	| '500'
	| '502'
	| '503'
	| '504'
	| '400'
	| '404'
	| '429-small'
	| '503-zero'
	| '429-huge'
	| '503-negative'
	| '503-garbage'
	| '503-date-future'
	| '503-date-past'
	| 'reset-before'
	| 'reset-after-500'
	| 'reset-after-200'
	| 'hang'
	| 'drip'
	| 'truncated'
	| 'bad-json'
	| 'big-body';
const weights: Record<Fault, number> = {
	ok: 40,
	'500': 6,
	'502': 3,
	'503': 3,
	'504': 3,
	'400': 2,
	'404': 3,
	'429-small': 3,
	'503-zero': 2,
	'429-huge': 2,
	'503-negative': 2,
	'503-garbage': 2,
	'503-date-future': 1,
	'503-date-past': 1,
	'reset-before': 4,
	'reset-after-500': 2,
	'reset-after-200': 2,
	hang: 2,
	drip: 2,
	truncated: 2,
	'bad-json': 2,
	'big-body': 1,
};
const total = Object.values(weights).reduce((sum, weight) => sum + weight, 0);
// The fault for attempt n of call id depends on nothing else: the same seed gives the same plan at any concurrency.
const faultFor = (id: string, attempt: number): Fault => {
	let hash = seed;
	for (const character of `${id}#${attempt}`) {
		hash = Math.imul(hash ^ character.charCodeAt(0), 0x01000193);
	}
	let draw = random(hash)() * total;
	for (const [fault, weight] of Object.entries(weights) as [Fault, number][]) {
		draw -= weight;
		if (draw < 0) {
			return fault;
		}
	}
	return 'ok';
};
const failFast = new Set<Fault>(['400', '404']);

// What the server saw, per call id.
const attempts = new Map<string, { faults: Fault[]; bodies: string[] }>();
const faultCounts = new Map<Fault, number>();
const sockets = new Set<Socket>();
const bigChunk = randomBytes(1 << 20);

const serve = async (request: IncomingMessage, response: ServerResponse) => {
	const id = String(request.headers['x-chaos-call'] ?? 'none');
	const chunks: Buffer[] = [];
	for await (const chunk of request) {
		chunks.push(chunk as Buffer);
	}
	const seen = attempts.get(id) ?? { faults: [], bodies: [] };
	attempts.set(id, seen);
	const fault = faultFor(id, seen.faults.length);
	seen.faults.push(fault);
	seen.bodies.push(Buffer.concat(chunks).toString('utf8'));
	faultCounts.set(fault, (faultCounts.get(fault) ?? 0) + 1);
	response.on('error', () => undefined);
	const json = { 'content-type': 'application/json' };
	const send = (status: number, headers: Record<string, string> = {}, body = `{"status":${status}}`) => {
		response.writeHead(status, { ...json, ...headers });
		response.end(body);
	};
	const date = (offset: number) => new Date(Date.now() + offset).toUTCString();
	switch (fault) {
		case 'ok':
			return send(200, {}, `{"ok":true,"id":"${id}"}`);
		case '500':
		case '502':
		case '503':
		case '504':
		case '400':
		case '404':
			return send(Number(fault));
		case '429-small':
			return send(429, { 'retry-after-ms': '10' });
		case '503-zero':
			return send(503, { 'retry-after': '0' });
		case '429-huge':
			return send(429, { 'retry-after': '86400' });
		case '503-negative':
			return send(503, { 'retry-after': '-5' });
		case '503-garbage':
			return send(503, { 'retry-after': 'soon, maybe' });
		case '503-date-future':
			return send(503, { 'retry-after': date(5000) });
		case '503-date-past':
			return send(503, { 'retry-after': date(-5000) });
		case 'reset-before':
			return request.socket.destroy();
		case 'reset-after-500':
		case 'reset-after-200':
			response.writeHead(fault === 'reset-after-500' ? 500 : 200, json);
			response.write('{"partial":');
			return setTimeout(() => request.socket.destroy(), 5);
		case 'hang':
			return; // Never answers: the client's timeout must end the attempt.
		case 'drip': {
			response.writeHead(200, json);
			const pieces = ['{"dr', 'ip":', 'tr', 'ue}'];
			const next = (): void => {
				if (pieces.length > 1) {
					response.write(pieces.shift());
					setTimeout(next, 30);
				} else {
					response.end(pieces.shift());
				}
			};
			return next();
		}
		case 'truncated':
			response.writeHead(200, { ...json, 'content-length': '100' });
			response.write('{"cut":');
			return setTimeout(() => request.socket.destroy(), 5);
		case 'bad-json':
			return send(500, {}, '{"oops": [1, 2');
		case 'big-body': {
			response.writeHead(500, { 'content-type': 'text/plain' });
			let left = quick ? 1 : 50;
			const pump = () => {
				while (left > 0 && !response.destroyed) {
					left--;
					if (!response.write(bigChunk)) {
						return response.once('drain', pump);
					}
				}
				return response.end();
			};
			return pump();
		}
	}
};

type Stats = { attempts: [string, { faults: Fault[]; bodies: string[] }][]; faults: [Fault, number][] };

if (process.argv.includes('--serve')) {
	const server = createServer((request, response) => void serve(request, response));
	server.on('connection', (socket) => {
		sockets.add(socket);
		socket.on('close', () => sockets.delete(socket));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	process.send?.({ port: (server.address() as AddressInfo).port });
	process.once('message', () => {
		const stats: Stats = { attempts: [...attempts.entries()], faults: [...faultCounts.entries()] };
		process.send?.(stats, () => {
			for (const socket of sockets) {
				socket.destroy();
			}
			server.close();
			process.disconnect();
		});
	});
} else {
	await main();
}

async function main(): Promise<void> {
	const child = fork(new URL(import.meta.url).pathname, ['--serve'], { env: process.env });
	const { port } = await new Promise<{ port: number }>((resolve) =>
		child.once('message', (message) => resolve(message as { port: number })),
	);
	const base = `http://127.0.0.1:${port}`;

	let unhandled = 0;
	process.on('unhandledRejection', () => unhandled++);

	// success: the call resolved (for fetch: with a Response of any status, as fetch does); enriched: a steadfetch error;
	// body-read: a 2xx whose body was cut off, read by the fetch caller (the runtime's TypeError, as fetch does);
	// aborted: the fetch caller's own deadline.
	type Settled = 'success' | 'enriched' | 'body-read' | 'aborted' | 'foreign' | 'hang';
	interface Report {
		readonly driver: string;
		readonly settled: Record<Settled, number>;
		readonly slowestMs: number;
		readonly largestDataChars: number;
	}

	const allowed = new Set([
		'BadRequestError',
		'UnauthenticatedError',
		'NotFoundError',
		'InternalServerError',
		'ClientError',
		'ServerError',
		'NetworkError',
		'TimeoutError',
		'CircuitOpenError',
		'TypeError',
	]);
	// Budget and breaker off, so that every fault meets the retry path; the 'guarded' driver runs with them on.
	const options = { retry: { limit, baseDelayMs: 5, maxDelayMs: 50 }, timeout: timeoutMs, totalTimeout: totalTimeoutMs };
	const api = createClient({ ...options, baseUrl: `${base}/`, budget: false, breaker: false });
	const guarded = createClient({ ...options, baseUrl: `${base}/`, breaker: { openMs: 100 } });
	const fetch = createFetch({ retry: options.retry, budget: false, breaker: false });

	const drivers: Record<string, (id: string, method: string, body: string | undefined) => Promise<unknown>> = {
		client: (id, method, body) => api(`calls/${id}`, { method, headers: { 'x-chaos-call': id }, ...(body ? { body } : {}) }).text(),
		guarded: (id, method, body) => guarded(`calls/${id}`, { method, headers: { 'x-chaos-call': id }, ...(body ? { body } : {}) }).text(),
		fetch: async (id, method, body) => {
			const controller = new AbortController();
			// The drop-in fetch has no timeout of its own, as fetch: the caller's signal is its deadline.
			const timer = setTimeout(() => controller.abort(new Error('caller deadline')), totalTimeoutMs);
			try {
				const response = await fetch(`${base}/calls/${id}`, {
					method,
					headers: { 'x-chaos-call': id },
					signal: controller.signal,
					...(body ? { body } : {}),
				});
				return await response.text();
			} finally {
				clearTimeout(timer);
			}
		},
		job: (id, method, body) =>
			retryJob(
				(job) =>
					job
						.client(api)(`calls/${id}`, { method, headers: { 'x-chaos-call': id }, ...(body ? { body } : {}) })
						.text(),
				{
					retry: options.retry,
					maxRetryTime: maxRetryTimeMs,
				},
			),
	};

	const run = async (driver: string): Promise<Report> => {
		const settled: Record<Settled, number> = { success: 0, enriched: 0, 'body-read': 0, aborted: 0, foreign: 0, hang: 0 };
		let slowestMs = 0;
		let largestDataChars = 0;
		let next = 0;
		const deadline = (driver === 'job' ? maxRetryTimeMs : totalTimeoutMs) + margin;
		const worker = async () => {
			while (next < calls) {
				const index = next++;
				const id = `${driver}-${index}`;
				const method = index % 3 === 0 ? 'PUT' : 'GET';
				const started = performance.now();
				let guard: NodeJS.Timeout | undefined;
				const hang = new Promise<'hang'>((resolve) => {
					guard = setTimeout(() => resolve('hang'), deadline);
				});
				const outcome = await Promise.race([
					drivers[driver]?.(id, method, method === 'PUT' ? `body-of-${id}` : undefined).then(
						() => 'success' as const,
						(error: unknown) => {
							if (isSteadfetchError(error) && allowed.has(error.name)) {
								largestDataChars = Math.max(
									largestDataChars,
									typeof error.data === 'string' ? error.data.length : JSON.stringify(error.data ?? '').length,
								);
								return 'enriched' as const;
							}
							// A body cut off after a 2xx: the call had succeeded, the read of its body failed (fetch semantics).
							if (error instanceof TypeError && /terminated|aborted|fetch failed/.test(error.message)) {
								return 'body-read' as const;
							}
							if (error instanceof Error && error.message === 'caller deadline') {
								return 'aborted' as const;
							}
							console.error(`${id}: unexpected`, error);
							return 'foreign' as const;
						},
					),
					hang,
				]);
				clearTimeout(guard);
				settled[outcome ?? 'foreign']++;
				slowestMs = Math.max(slowestMs, performance.now() - started);
			}
		};
		await Promise.all(Array.from({ length: concurrency }, worker));
		return { driver, settled, slowestMs: Math.round(slowestMs), largestDataChars };
	};

	// Total outage: every request 500, one call at a time. Server requests per logical request.
	const outage = async () => {
		const figures: Record<string, number> = {};
		const n = quick ? 200 : 500;
		const down = createServer((_request, response) => {
			down.count++;
			response.writeHead(500).end();
		}) as ReturnType<typeof createServer> & { count: number };
		down.count = 0;
		await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
		const url = `http://127.0.0.1:${(down.address() as AddressInfo).port}/`;
		// One client per contender for the whole run, as an app holds it: its per-origin state carries across calls.
		const steady = createClient({ retry: { baseDelayMs: 1 } });
		const noBreaker = createClient({ retry: { baseDelayMs: 1 }, breaker: false });
		const contenders: Record<string, () => Promise<unknown>> = {
			'steadfetch (defaults)': () => steady.get(url),
			'steadfetch, breaker off': () => noBreaker.get(url),
			'plain ky (limit 2)': () => ky.get(url, { retry: { limit: 2, delay: () => 1 } }),
		};
		for (const [name, call] of Object.entries(contenders)) {
			down.count = 0;
			for (let index = 0; index < n; index++) {
				await call().catch(() => undefined);
			}
			figures[name] = down.count / n;
		}
		down.closeAllConnections();
		await new Promise<void>((resolve) => down.close(() => resolve()));
		return { calls: n, requestsPerCall: figures };
	};

	const heapBefore = heap();
	const started = performance.now();
	const reports: Report[] = [];
	for (const driver of Object.keys(drivers)) {
		reports.push(await run(driver));
	}
	const outageFigures = await outage();
	const stats = await new Promise<Stats>((resolve) => {
		child.once('message', (message) => resolve(message as Stats));
		child.send('report');
	});
	await new Promise((resolve) => child.once('exit', resolve));
	// What the server saw, from the child: these shadow the server-side maps, empty in this process.
	const attempts = new Map(stats.attempts);
	const faultCounts = new Map(stats.faults);
	// undici closes its idle sockets shortly after the server goes.
	await new Promise((resolve) => setTimeout(resolve, 100));
	const heapDeltaMb = (heap() - heapBefore) / 2 ** 20;

	const maxAttempts = Math.max(...[...attempts.values()].map((seen) => seen.faults.length));
	const retriedFailFast = [...attempts.values()].filter((seen) => seen.faults.slice(0, -1).some((fault) => failFast.has(fault))).length;
	const changedBodies = [...attempts.entries()].filter(([, seen]) => new Set(seen.bodies).size > 1).length;
	const invariants = {
		'every call settled (no hang)': reports.every((report) => report.settled.hang === 0),
		'only successes and enriched errors': reports.every((report) => report.settled.foreign === 0),
		// Only the drop-in fetch leaves reading the body to its caller, as fetch does.
		'client and job body reads enriched': reports.every((report) => report.driver === 'fetch' || report.settled['body-read'] === 0),
		'no unhandled rejection': unhandled === 0,
		[`at most limit + 1 = ${limit + 1} requests per call`]: maxAttempts <= limit + 1,
		'fail-fast statuses never retried': retriedFailFast === 0,
		'retried bodies equal the original': changedBodies === 0,
		'error data bounded (<= 8.3 KB)': reports.every((report) => report.largestDataChars <= 8300),
		[`heap after GC within ${quick ? 16 : 32} MB of the start`]: heapDeltaMb <= (quick ? 16 : 32),
		'outage: at most 1.1x requests per call': Object.entries(outageFigures.requestsPerCall).every(
			([name, ratio]) => name.startsWith('plain') || ratio <= 1.1,
		),
	};

	const summary = {
		seed,
		callsPerDriver: calls,
		concurrency,
		seconds: Math.round((performance.now() - started) / 100) / 10,
		faultsInjected: [...faultCounts.values()].reduce((sum, count) => sum + count, 0) - (faultCounts.get('ok') ?? 0),
		requests: [...faultCounts.values()].reduce((sum, count) => sum + count, 0),
		faults: Object.fromEntries([...faultCounts.entries()].sort()),
		reports,
		maxAttemptsSeen: maxAttempts,
		heapDeltaMb: Math.round(heapDeltaMb * 10) / 10,
		outage: outageFigures,
		invariants,
	};
	console.log(`chaos: ${calls} calls x ${reports.length} drivers at concurrency ${concurrency}, seed ${seed}, ${summary.seconds} s`);
	console.table(Object.fromEntries(reports.map((report) => [report.driver, { ...report.settled, slowestMs: report.slowestMs }])));
	console.log(
		`requests ${summary.requests}, faults injected ${summary.faultsInjected}, max attempts seen ${maxAttempts}, heap delta ${summary.heapDeltaMb} MB`,
	);
	console.log('outage, server requests per logical request:', outageFigures.requestsPerCall);
	for (const [name, holds] of Object.entries(invariants)) {
		console.log(`${holds ? 'ok  ' : 'FAIL'} ${name}`);
	}
	console.log(JSON.stringify(summary));
	process.exitCode = Object.values(invariants).every(Boolean) ? 0 : 1;
}
