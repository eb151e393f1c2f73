import { readWait } from '../../engine/guards/ratelimit.ts';
import { isBug } from '../../engine/job-policy.ts';
import { errorKind } from '../../errors/base.ts';
import type { SteadfetchError, StopReason } from '../../types.ts';

/*
What a queue does with what a run of a job threw: fail the job, pause the API (its origin) for a wait it asked for, or
leave it to the queue's retries. Pure: the error and the time in, the decision out; `createWorker` carries it out.
*/

/** What the queue does with a failed run of a job. */
export type QueueAction =
	/** Fail the job now, whatever `attempts` says: the same run would fail the same way. */
	| { readonly action: 'fail' }
	/** Hold the API's requests for `waitMs`: the API asked for that wait; the job waits, uncharged. */
	| { readonly action: 'pause'; readonly waitMs: number }
	/** Let BullMQ retry it, by `attempts` and the backoff strategy. */
	| { readonly action: 'retry' };

// Transient failures whose retry could repeat an unsafe request: a POST without an Idempotency-Key whose outcome is
// unknown. retryJob stops on them too.
const unsafe: ReadonlySet<StopReason | undefined> = new Set(['not-idempotent']);

// The statuses whose wait is the API's word for the whole client, not this request: RFC 9110 §10.2.3 (503, 429).
const pausing: ReadonlySet<number | undefined> = new Set([429, 503]);

/**
What the queue should do with what a run of a job threw, at `now` (epoch milliseconds):
- `fail`: a fail-fast steadfetch error (400, 401, 404, any status outside `retry.statusCodes`), a retry that would repeat a
  request that is not idempotent, or a bug (a `TypeError` that is no network failure: a bad option, a typo);
- `pause`: a 429 or 503 whose response asked for a wait (`Retry-After`, `retry-after-ms`, a rate-limit reset) that ends
  after `now`: the wait runs until the error's `retryAt`, bounded by the client's `retry.maxRetryAfter`;
- `retry`: every other failure, steadfetch's or not.
*/
export function queueAction(error: unknown, now: number = Date.now()): QueueAction {
	if (!errorKind(error)) {
		return isBug(error) ? { action: 'fail' } : { action: 'retry' };
	}
	const failure = error as SteadfetchError;
	if (!failure.retryable || unsafe.has(failure.stopReason)) {
		return { action: 'fail' };
	}
	const waitMs = failure.retryAt ? failure.retryAt.getTime() - now : 0;
	if (waitMs > 0 && askedForWait(failure, now)) {
		return { action: 'pause', waitMs };
	}
	return { action: 'retry' };
}

/**
The wait a response asks the whole client for, in ms: a 429's or 503's `Retry-After`, `retry-after-ms` or rate-limit
reset, from `now`; 0 for any other response, or none.
*/
export const pauseAskedBy = (status: number | undefined, headers: Headers | undefined, now: number): number =>
	status !== undefined && headers !== undefined && pausing.has(status) ? (readWait(headers, status, now) ?? 0) : 0;

// Whether the response behind the error named a wait itself (rather than the wait being the client's own backoff).
const askedForWait = (error: SteadfetchError, now: number): boolean =>
	pauseAskedBy(error.status, (error as { response?: Response }).response?.headers, now) > 0;
