import type { Policy } from './options.ts';
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
	/** The response headers, for `Retry-After`. */
	readonly headers?: Headers | undefined;
	/** What is left of `totalTimeout`, in milliseconds, if one is set. */
	readonly remainingMs?: number | undefined;
	readonly now: number;
}

// The largest time a Date can hold; later instants make an Invalid Date.
const maxTime = 8.64e15;
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// RFC 9110 §5.6.7: recipients MUST accept IMF-fixdate and the two obsolete forms. V8's Date.parse accepts nearly
// anything ('-5' is a date), so each form is matched strictly: IMF-fixdate, RFC 850, asctime.
const imfFixdate = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const rfc850 = /^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const asctime = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

// The parts of an HTTP-date in any of its three forms, in one order: day, month (0-11), year, hours, minutes, seconds.
const dateParts = (value: string, now: number): number[] | undefined => {
	const fixed = imfFixdate.exec(value);
	if (fixed) {
		return [fixed[1], months.indexOf(fixed[2] ?? ''), fixed[3], fixed[4], fixed[5], fixed[6]].map(Number);
	}
	const obsolete = rfc850.exec(value);
	if (obsolete) {
		// A two-digit year more than 50 years ahead is the latest past year with those digits (RFC 9110 §5.6.7).
		const thisYear = new Date(now).getUTCFullYear();
		let year = thisYear - (thisYear % 100) + Number(obsolete[3]);
		if (year > thisYear + 50) {
			year -= 100;
		}
		return [obsolete[1], months.indexOf(obsolete[2] ?? ''), year, obsolete[4], obsolete[5], obsolete[6]].map(Number);
	}
	const ansi = asctime.exec(value);
	return ansi ? [ansi[2], months.indexOf(ansi[1] ?? ''), ansi[6], ansi[3], ansi[4], ansi[5]].map(Number) : undefined;
};

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
	const milliseconds = headers.get('retry-after-ms')?.trim();
	if (milliseconds && /^\d+(?:\.\d+)?$/.test(milliseconds)) {
		return Math.ceil(Number(milliseconds));
	}
	const value = headers.get('retry-after')?.trim();
	if (!value) {
		return undefined;
	}
	if (/^\d+$/.test(value)) {
		return Number(value) * 1000;
	}
	const parts = dateParts(value, now);
	if (!parts) {
		return undefined;
	}
	const [day, month, year, hours, minutes, seconds] = parts as [number, number, number, number, number, number];
	const time = Date.UTC(year, month, day, hours, minutes, seconds);
	const parsed = new Date(time);
	// Date.UTC rolls 31 Feb over into March: a date that does not round-trip is malformed.
	if (month < 0 || parsed.getUTCDate() !== day || parsed.getUTCMonth() !== month || hours > 23 || minutes > 59 || seconds > 59) {
		return undefined;
	}
	return Math.max(0, time - now);
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
	const asked = typeof attempt.outcome === 'number' && attempt.headers ? parseRetryAfter(attempt.headers, attempt.now) : undefined;
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
