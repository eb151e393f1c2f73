// The API of bench/resilience.ts, in its own process so that its work never stalls the callers' timers. The driver
// asks for a fresh port per contender and scenario (so no per-origin budget or breaker state carries over) and hands
// it the whole fault schedule at once, in wall-clock milliseconds: the fault a request meets and the time bin it is
// counted in both follow from its arrival time, so IPC latency under load cannot move a phase boundary.
import { createServer, type ServerResponse } from 'node:http';
import { type Api, serveApis } from './child.ts';
import { fails } from './plan.ts';

/** What a request arriving in a step meets. `fail` answers 500 to attempts the seeded plan picks at `rate` (1: all). */
export type Fault = { readonly kind: 'healthy' } | { readonly kind: 'hang' } | { readonly kind: 'fail'; readonly rate: number };
/** From `at` (epoch ms) until the next step's `at`; the last step lasts until the port closes. */
export interface Step {
	readonly at: number;
	readonly fault: Fault;
}
/** What the driver opens a port with: the fault schedule, and the width of the bins requests are counted in. */
export interface Schedule {
	readonly steps: readonly Step[];
	readonly binMs: number;
}
/** `bins[i]`: the requests that arrived in [t0 + i * binMs, t0 + (i + 1) * binMs), t0 being the first step's `at`. */
export type Bins = number[];

const body = JSON.stringify({ id: 42, name: 'steadfetch', tags: ['bench', 'json'], ok: true });

function open({ steps, binMs }: Schedule): Api<Bins> {
	const t0 = steps[0]?.at ?? Date.now();
	const bins: number[] = [];
	const attempts = new Map<string, number>();
	const hung = new Set<ServerResponse>();
	const server = createServer((request, response) => {
		const now = Date.now();
		const bin = Math.max(0, Math.floor((now - t0) / binMs));
		bins[bin] = (bins[bin] ?? 0) + 1;
		const fault = steps.findLast((step) => step.at <= now)?.fault ?? { kind: 'healthy' };
		// Each call has its own path (/c/<id>, after a route when calls rotate over several), so the plan decides attempt n of
		// a call alike for every contender.
		const url = request.url ?? '/';
		const id = url.slice(url.indexOf('/c/') + 3);
		const attempt = (attempts.get(id) ?? 0) + 1;
		attempts.set(id, attempt);
		if (fault.kind === 'hang') {
			// Never answered: the client's timeout (or its abort) ends it.
			hung.add(response);
			response.on('close', () => hung.delete(response));
			return;
		}
		const status = fault.kind === 'fail' && fails(id, attempt, fault.rate) ? 500 : 200;
		response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
		response.end(body);
	});
	return {
		server,
		finish: () => {
			for (const response of hung) {
				response.destroy();
			}
			return Array.from({ length: bins.length }, (_, index) => bins[index] ?? 0);
		},
	};
}

serveApis(open);
