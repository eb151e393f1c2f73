import { originOf } from '../../engine/guards/scope.ts';
import { isBug } from '../../engine/job-policy.ts';
import { errorKind } from '../../errors/base.ts';
import type { Allowance, SteadfetchError } from '../../types.ts';
import { pauseAskedBy } from './action.ts';
import type { Admission } from './holds.ts';

/*
One run of a job, as the worker binds it: what its requests saw of the API (for the queue's outage decision), the hold
the queue's circuit puts on its retries, the job's Idempotency-Key, and the line its failure writes to the job's log.
*/

// What one run saw of each origin it called.
interface Domain {
	// This run is the origin's outage probe: it sends with no retry of its own, and is not held by the circuit it probes.
	readonly probe: boolean;
	// The origin answered one of the run's requests with something that is no outage (a status below 500): only such an
	// answer closes the origin's outage circuit.
	answered: boolean;
}

// What one run saw of the API, and what the queue's holds say of it.
export interface RunState {
	readonly allowance: Allowance;
	// The origins the run has sent to (or been admitted to), and what it is for each.
	readonly domains: Map<string, Domain>;
	// The origin of the run's last request.
	lastOrigin: string | undefined;
	// The last request of the run failed as an outage does: a 5xx, a network error, a timeout.
	lastFailed: boolean;
	// Whether the run may send to an origin now, as itself or as its probe, or must wait (queue holds, per origin).
	readonly admit: (origin: string) => Promise<Admission>;
	// Pause an origin for the wait a response asked for, before anything else happens.
	readonly pause: (origin: string, waitMs: number) => Promise<void>;
	// Aborts the run when it is held back; `heldMs` says for how long the job then waits.
	readonly held: AbortController;
	heldMs: number;
	// The failing response `job.fetch` handed back last, as the error the client would have thrown for it; cleared by the
	// run's next request. What the job throws on such a response is the job's reaction to it (failedOn).
	handedBack: SteadfetchError | undefined;
}

/** The origin a fetch input is for, as the client's guards name it; undefined when it names none (fetch then fails on it). */
const originOfInput = (input: string | URL | Request): string | undefined => {
	const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
	return URL.canParse(url) ? originOf(url) : undefined;
};

// Send, then note what came back. Before the run's first request to an origin, and before a retry after a failure, the
// origin's holds are asked: another worker may have met a 429 or an outage there since this run started (requests
// slipped past a 429 1-25 ms after it otherwise). A response that asks for a wait pauses its origin at once, before the
// job sees it, and ends the run's retries (none of its requests sleeps the wait in this worker: the job waits in the
// queue instead); a 5xx or a failure without a response may be an outage.
export const observing =
	(send: typeof globalThis.fetch, state: RunState, signal: AbortSignal | undefined): typeof globalThis.fetch =>
	async (input, init) => {
		const origin = originOfInput(input);
		const domain = origin === undefined ? undefined : state.domains.get(origin);
		if (origin !== undefined && !domain?.probe && (domain === undefined || state.lastFailed)) {
			const admission = await state.admit(origin);
			if (admission.kind === 'wait') {
				const reason = new DOMException('Held back: the API is paused, or its outage circuit is open.', 'AbortError');
				state.heldMs = admission.waitMs;
				state.held.abort(reason);
				throw reason;
			}
			if (admission.kind === 'probe') {
				state.allowance.retriesLeft = 0;
			}
			state.domains.set(origin, { probe: admission.kind === 'probe', answered: domain?.answered ?? false });
		}
		state.lastOrigin = origin;
		state.handedBack = undefined;
		let response: Response;
		try {
			response = await send(input, init);
		} catch (error) {
			state.lastFailed = !signal?.aborted;
			throw error;
		}
		const now = Date.now();
		const waitMs = pauseAskedBy(response.status, response.headers, now);
		if (waitMs > 0 && origin !== undefined) {
			state.allowance.retriesLeft = 0;
			await state.pause(origin, waitMs);
		}
		const seen = origin === undefined ? undefined : state.domains.get(origin);
		if (seen && response.status < 500) {
			seen.answered = true;
		}
		state.lastFailed = waitMs === 0 && response.status >= 500;
		return response;
	};

// An outage, not one job's bad luck: the client's breaker is open, its retry budget is spent on failures, or the run's
// last request failed with no retry left for it (with `retry.limit` 1: two failures in a row).
export const isOutage = (error: unknown, state: RunState): boolean =>
	errorKind(error) === 'circuit' ||
	(state.lastFailed && (state.allowance.retriesLeft === 0 || (error as SteadfetchError).stopReason === 'budget'));

// The origin a failure speaks for: the URL of steadfetch's error (a breaker's refusal sends nothing through the run), else
// the run's last request.
export const failedOrigin = (error: unknown, state: RunState): string | undefined =>
	(errorKind(error) ? originOfInput((error as SteadfetchError).request) : undefined) ?? state.lastOrigin;

/*
What a run failed on, for the queue: what it threw, when that is steadfetch's error or a bug; else the failing response
`job.fetch` handed back last, when no request went out after it. A job that writes
`const r = await job.fetch(url); if (!r.ok) throw new Error(...)` throws its own error on the API's answer: the queue
acts on the answer (a 404 fails the job, a 429's Retry-After pauses the queue), as it does for `job.client()`'s error.
*/
export const failedOn = (error: unknown, state: RunState): unknown =>
	errorKind(error) || isBug(error) ? error : (state.handedBack ?? error);

/**
The `Idempotency-Key` of a job: the same on every run on every worker, as it depends only on the queue (with its Redis
prefix) and the job's id. Hashed, so that an id made of user data is not sent to the API, and short (Stripe takes 255).
*/
export async function jobIdempotencyKey(qualifiedName: string, jobId: string | undefined): Promise<string> {
	// Web Crypto rather than node:crypto: the package builds without Node's types.
	const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${qualifiedName}\n${jobId ?? ''}`));
	const hex = Array.from(new Uint8Array(digest).subarray(0, 16), (byte) => byte.toString(16).padStart(2, '0')).join('');
	return `steadfetch-${hex}`;
}

export const logLine = (error: unknown): string =>
	JSON.stringify(
		errorKind(error)
			? (error as SteadfetchError).toJSON()
			: { name: (error as Error)?.name ?? typeof error, message: (error as Error)?.message ?? String(error) },
	);
