import type { Policy } from '../options/options.ts';
import type { Allowance, Decision, Outcome } from '../types.ts';
import { maxTime, readRetryAfter, readWait } from './guards/ratelimit.ts';

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
	/**
	What `retry.shouldRetry` says of this failure: asked by `decide` only once the limit, the method rule and the deadline
	allow a retry, as ky asks only after its limit and method checks; so a call that cannot retry never runs it.
	*/
	readonly ask?: (() => boolean | undefined) | undefined;
	/** An error the fetch threw that is no network failure (a custom fetch's own): only `shouldRetry` returning `true` retries it, as in ky. */
	readonly foreign?: boolean | undefined;
}

/** Whether this outcome is worth another attempt at all (ignoring method and counts). */
export const isTransient = (policy: Policy, outcome: Outcome): boolean =>
	typeof outcome === 'number' ? policy.statusCodes.has(outcome) : true;

/** POST and PATCH: not idempotent by themselves, safe to repeat with an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header). */
export const isKeyedMethod = (method: string): boolean => /^(?:POST|PATCH)$/i.test(method);

/** Whether sending the request again is safe: an idempotent method, or POST/PATCH carrying an `Idempotency-Key`. */
export const isRepeatable = (policy: Policy, method: string, hasIdempotencyKey: boolean): boolean =>
	policy.methods.has(method.toUpperCase()) || (hasIdempotencyKey && isKeyedMethod(method));

/**
The backoff before retry `retry` (1 for the first), as ky computes it: the delay (`retry.delay(retry)`, else
`baseDelayMs * factor ** (retry - 1)`), then jitter, capped at the lower of `backoffLimit` and `maxDelayMs`. Full jitter
(`true`) is drawn uniformly from 0 to the capped delay; ky's jitter function gets the delay before the caps, and a result
that is not a finite non-negative number falls back to the delay, as in ky.
*/
export function backoffDelay(policy: Policy, retry: number, random: () => number = Math.random): number {
	const { delay, jitter } = policy;
	const computed = delay ? delay(retry) : policy.baseDelayMs * policy.factor ** (retry - 1);
	// A bug in the caller's function: a NaN or negative delay would retry at once and put an Invalid Date or a time past
	// in `retryAt`. Say so where it happens.
	if (typeof computed !== 'number' || Number.isNaN(computed) || computed < 0) {
		throw new TypeError(`Expected \`retry.delay(${retry})\` to return a non-negative number of milliseconds, got ${String(computed)}.`);
	}
	const cap = Math.min(policy.backoffLimit, policy.maxDelayMs);
	if (typeof jitter === 'function') {
		const jittered = jitter(computed);
		return Math.round(Math.min(cap, Number.isFinite(jittered) && jittered >= 0 ? jittered : computed));
	}
	const ceiling = Math.min(cap, computed);
	return Math.round(jitter ? random() * ceiling : ceiling);
}

/** What `retry.shouldRetry` answered: true, false, or undefined for "the policy decides" (any other value, as in ky). */
const verdictOf = (answer: unknown): boolean | undefined => {
	if (typeof (answer as PromiseLike<unknown> | null)?.then === 'function') {
		// Its rejection would go unhandled: nobody awaits it.
		Promise.resolve(answer).catch(() => undefined);
		throw new TypeError(
			'Expected `retry.shouldRetry` to return true, false or undefined, got a Promise: steadfetch decides retries synchronously. Decide without awaiting.',
		);
	}
	return typeof answer === 'boolean' ? answer : undefined;
};

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

`retry.shouldRetry`, when set, is asked first, once the count, the method rule and the deadline allow a retry at all:
`true` retries after the backoff (not the server's wait: ky's rule), whatever the status or `retryOnTimeout`; `false`
stops; `undefined` goes on with the checks above. The server's wait is read only on `afterStatusCodes` (all retried
statuses when unset) and clamped to `maxRetryAfter` before the cap is checked.
*/
// The headers ky reads a retry's time from (its readme, `retry`): a 413 with any of them may be retried.
const timingHeaders = ['retry-after', 'ratelimit-reset', 'x-ratelimit-retry-after', 'x-ratelimit-reset', 'x-rate-limit-reset'];

export function decide(policy: Policy, attempt: FailedAttempt, random: () => number = Math.random): Decision {
	const { ask } = attempt;
	const open =
		ask !== undefined &&
		attempt.retry <= policy.limit &&
		isRepeatable(policy, attempt.method, attempt.hasIdempotencyKey) &&
		(attempt.remainingMs === undefined || attempt.remainingMs >= minAttemptMs);
	const verdict = open ? verdictOf(ask()) : undefined;
	if (verdict === false) {
		return { retry: false, reason: 'declined' };
	}
	if (verdict === true) {
		const delayMs = backoffDelay(policy, attempt.retry, random);
		if (attempt.remainingMs !== undefined && delayMs + minAttemptMs > attempt.remainingMs) {
			return { retry: false, reason: 'deadline', retryAt: timeAfter(attempt.now, delayMs) };
		}
		return { retry: true, delayMs };
	}
	if (attempt.foreign || !isTransient(policy, attempt.outcome)) {
		return { retry: false, reason: 'permanent' };
	}
	const status = typeof attempt.outcome === 'number' ? attempt.outcome : undefined;
	const read =
		status !== undefined && attempt.headers && (policy.afterStatusCodes?.has(status) ?? true)
			? readWait(attempt.headers, status, attempt.now)
			: undefined;
	const asked = read === undefined ? undefined : Math.min(read, policy.maxRetryAfter);
	// A 413 is the request's own size: sending it again helps only when the server says when it will take it (ky's rule:
	// a timing header, readable or not).
	if (status === 413 && asked === undefined && !timingHeaders.some((name) => attempt.headers?.has(name))) {
		return { retry: false, reason: 'permanent' };
	}
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
