import { isBug } from '../../engine/job-policy.ts';
import { errorKind } from '../../errors/base.ts';
import type { Allowance, SteadfetchError } from '../../types.ts';
import { pauseAskedBy } from './action.ts';

/*
One run of a job, as the worker binds it: what its requests saw of the API (for the queue's outage decision), the hold
the queue's circuit puts on its retries, the job's Idempotency-Key, and the line its failure writes to the job's log.
*/

// What one run saw of the API, and what the queue's holds say of it.
export interface RunState {
	readonly allowance: Allowance;
	/** This run is the outage's probe: it may send, with no retry of its own. */
	readonly probe: boolean;
	// The last request of the run failed as an outage does: a 5xx, a network error, a timeout.
	lastFailed: boolean;
	// The run has sent a request: before its first, and before a retry after a failure, it asks whether the queue is held.
	sent: boolean;
	// The API answered one of the run's requests with something that is no outage (a status below 500): only such an
	// answer closes the outage circuit.
	answered: boolean;
	// How long the queue is held now (paused, or its circuit open); 0 when not. Undefined for a probe, which is not held.
	readonly heldFor: (() => Promise<number>) | undefined;
	// Pause the whole queue for the wait a response asked for, before anything else happens.
	readonly pause: (waitMs: number) => Promise<void>;
	// Aborts the run when it is held back; `heldMs` says for how long the queue is held.
	readonly held: AbortController;
	heldMs: number;
	// The failing response `job.fetch` handed back last, as the error the client would have thrown for it; cleared by the
	// run's next request. What the job throws on such a response is the job's reaction to it (failedOn).
	handedBack: SteadfetchError | undefined;
}

// Send, then note what came back. Before the run's first request, and before a retry after a failure, the queue's holds
// are asked again: another worker may have met a 429 or an outage since this run started (requests slipped past a 429
// 1-25 ms after it otherwise). A response that asks for a wait pauses the queue at once, before the job sees it, and ends
// the run's retries (none of its requests sleeps the wait in this worker: the queue pauses instead); a 5xx or a failure
// without a response may be an outage.
export const observing =
	(send: typeof globalThis.fetch, state: RunState, signal: AbortSignal | undefined): typeof globalThis.fetch =>
	async (input, init) => {
		if (!state.sent || state.lastFailed) {
			const heldMs = (await state.heldFor?.()) ?? 0;
			if (heldMs > 0) {
				const reason = new DOMException('Held back: the queue is paused, or its outage circuit is open.', 'AbortError');
				state.heldMs = heldMs;
				state.held.abort(reason);
				throw reason;
			}
		}
		state.sent = true;
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
		if (waitMs > 0) {
			state.allowance.retriesLeft = 0;
			await state.pause(waitMs);
		}
		state.answered ||= response.status < 500;
		state.lastFailed = waitMs === 0 && response.status >= 500;
		return response;
	};

// An outage, not one job's bad luck: the client's breaker is open, its retry budget is spent on failures, or the run's
// last request failed with no retry left for it (with `retry.limit` 1: two failures in a row).
export const isOutage = (error: unknown, state: RunState): boolean =>
	errorKind(error) === 'circuit' ||
	(state.lastFailed && (state.allowance.retriesLeft === 0 || (error as SteadfetchError).stopReason === 'budget'));

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
