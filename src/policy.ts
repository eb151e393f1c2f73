import type { Policy } from './options.ts';
import { readRetryAfter, readWait } from './ratelimit.ts';
import type { Allowance, Decision, Outcome } from './types.ts';

/** Where a job hands its allowance to a client's calls: a key of ky's `context` option. */
export const allowanceKey: unique symbol = Symbol('steadfetch.allowance') as never;

/** Spend one retry of the allowance, if there is one; a spent allowance turns the decision into a stop. */
export function spend(allowance: Allowance | undefined, decision: Decision, now: number): Decision {
	if (!allowance || !decision.retry) {
		return decision;
	}
	if (allowance.retriesLeft <= 0) {
		return { retry: false, reason: 'allowance', retryAt: timeAfter(now, decision.delayMs) };
	}
	allowance.retriesLeft--;
	return decision;
}

/** What the policy needs to know about a failed attempt. */
export interface FailedAttempt {
	readonly outcome: Outcome;
	readonly method: string;
	readonly hasIdempotencyKey: boolean;
	/** The number of the retry that would come next: 1 after the first attempt. */
	readonly retry: number;
	/** The response headers, for the wait the server asks for (`Retry-After`, rate-limit headers: ratelimit.ts). */
	readonly headers?: Headers | undefined;
	/** What is left of `totalTimeout`, in milliseconds, if one is set. */
	readonly remainingMs?: number | undefined;
	readonly now: number;
}

// The largest time a Date can hold; later instants make an Invalid Date.
const maxTime = 8.64e15;
/** Whether this outcome is worth another attempt at all (ignoring method and counts). */
export const isTransient = (policy: Policy, outcome: Outcome): boolean =>
	typeof outcome === 'number' ? policy.statusCodes.has(outcome) : true;

/** POST and PATCH: not idempotent by themselves, safe to repeat with an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header). */
export const isKeyedMethod = (method: string): boolean => /^(?:POST|PATCH)$/i.test(method);

/** Whether sending the request again is safe: an idempotent method, or POST/PATCH carrying an `Idempotency-Key`. */
export const isRepeatable = (policy: Policy, method: string, hasIdempotencyKey: boolean): boolean =>
	policy.methods.has(method.toUpperCase()) || (hasIdempotencyKey && isKeyedMethod(method));

/**
The backoff before retry `retry` (1 for the first): `baseDelayMs * factor ** (retry - 1)`, capped at `maxDelayMs`, then with full jitter drawn uniformly from 0 to that value.
*/
export function backoffDelay(policy: Policy, retry: number, random: () => number = Math.random): number {
	const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** (retry - 1));
	return Math.round(policy.jitter ? random() * ceiling : ceiling);
}

/**
The wait the server asks for, in milliseconds: `retry-after-ms` (milliseconds, as sent by OpenAI-style APIs), else `Retry-After` as delay-seconds or an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms). A date in the past means now. Anything malformed counts as absent.
*/
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
	return readRetryAfter(headers, now);
}

/**
The least time a retry must have left before the deadline once its wait is over. A retry with less could not get an
answer anyway, and its wait races the deadline's own timer (which Node may fire a millisecond early): it announced a
retry, then ky timed the call out before the attempt began.
*/
export const minAttemptMs = 10;

/** A time `delayMs` from `now`, clamped to what a Date can hold. */
export const timeAfter = (now: number, delayMs: number): number => Math.min(maxTime, now + delayMs);

/**
The one place that decides whether a failed attempt is retried, and after how long. Checks, in order: is the failure transient, is the count spent, is the request safe to repeat, does the server's wait fit under the cap, do the wait and `minAttemptMs` fit before the deadline.
*/
export function decide(policy: Policy, attempt: FailedAttempt, random: () => number = Math.random): Decision {
	if (!isTransient(policy, attempt.outcome)) {
		return { retry: false, reason: 'permanent' };
	}
	const asked =
		typeof attempt.outcome === 'number' && attempt.headers ? readWait(attempt.headers, attempt.outcome, attempt.now) : undefined;
	const delayMs = asked ?? backoffDelay(policy, attempt.retry, random);
	const retryAt = timeAfter(attempt.now, delayMs);
	if (attempt.outcome === 'timeout' && !policy.retryOnTimeout) {
		return { retry: false, reason: 'timeout-not-retried', retryAt };
	}
	if (attempt.retry > policy.limit) {
		return { retry: false, reason: 'limit', retryAt };
	}
	if (!isRepeatable(policy, attempt.method, attempt.hasIdempotencyKey)) {
		return { retry: false, reason: 'not-idempotent', retryAt };
	}
	if (asked !== undefined && asked > policy.maxDelayMs) {
		return { retry: false, reason: 'wait-over-cap', retryAt };
	}
	if (attempt.remainingMs !== undefined && delayMs + minAttemptMs > attempt.remainingMs) {
		return { retry: false, reason: 'deadline', retryAt };
	}
	return { retry: true, delayMs };
}
