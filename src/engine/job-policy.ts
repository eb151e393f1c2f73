import isNetworkError from 'is-network-error';
import { errorKind } from '../errors/base.ts';
import { isConnectionFailure } from '../errors/network-code.ts';
import type { Policy, RetryEvent } from '../options/options.ts';
import type { Allowance, Decision, SteadfetchError, StopReason } from '../types.ts';
import type { Clock } from './clock.ts';
import { backoffDelay, spend, timeAfter } from './policy.ts';

/** What a job's own retries are bounded by: the step after a pass of the job failed reads it. */
export interface JobState {
	readonly policy: Policy;
	readonly clock: Clock;
	readonly allowance: Allowance;
	/** The monotonic time by which the job must end (`maxRetryTime`). */
	readonly deadline: number | undefined;
	readonly onRetry: ((event: RetryEvent<Error>) => void) | undefined;
}

// Transient failures that a retry of the whole job cannot help: the request itself said no more. A retry the origin's
// budget withheld is final too: the job's own retry would send the same request again, the load the budget sheds.
const final: ReadonlySet<StopReason | undefined> = new Set([
	'wait-over-cap',
	'deadline',
	'allowance',
	'not-idempotent',
	'unreplayable-body',
	'budget',
	// The user's own shouldRetry said no: a retry of the whole job would ask the same question.
	'declined',
]);

/** A TypeError that is no network failure is a bug, not a failure of the API: p-retry's own rule. */
export const isBug = (error: unknown): boolean =>
	!errorKind(error) && error instanceof TypeError && !isNetworkError(error) && !isConnectionFailure(error);

/**
The step after a failed pass of a job: a fail-fast error, a final stop or a bug ends the job; anything else is retried
after the longer of the error's `retryAt` and the job's backoff, if the job's allowance and deadline allow. On a retry
the wait is noted in the record of the error's own last attempt (not the tally's last, which may be another call's)
and `onRetry` is told.
*/
export function judgeJobFailure(job: JobState, error: unknown, pass: number): Decision {
	const { policy, clock, allowance, deadline } = job;
	const enriched = errorKind(error) ? (error as SteadfetchError) : undefined;
	if (enriched && (!enriched.retryable || final.has(enriched.stopReason))) {
		return { retry: false, reason: enriched.stopReason ?? 'permanent' };
	}
	if (isBug(error)) {
		return { retry: false, reason: 'permanent' };
	}
	const now = clock.now();
	const asked = enriched?.retryAt ? enriched.retryAt.getTime() - now : 0;
	const delayMs = Math.max(asked, backoffDelay(policy, pass, clock.random));
	if (asked > policy.maxDelayMs) {
		return { retry: false, reason: 'wait-over-cap', retryAt: timeAfter(now, delayMs) };
	}
	if (deadline !== undefined && clock.monotonic() + delayMs >= deadline) {
		return { retry: false, reason: 'deadline', retryAt: timeAfter(now, delayMs) };
	}
	const decision = spend(allowance, { retry: true, delayMs }, now);
	if (!decision.retry) {
		return decision;
	}
	const own = enriched?.history.at(-1)?.attempt;
	const record = allowance.tally.history.findLast((entry) => entry.attempt === own);
	if (record && record.delayMs === undefined) {
		record.delayMs = delayMs;
	}
	job.onRetry?.({ error: error as Error, attempt: pass + 1, maxAttempts: policy.limit + 1, delayMs });
	return decision;
}
