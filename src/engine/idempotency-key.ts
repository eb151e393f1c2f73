import type { Policy } from '../options/options.ts';
import type { JobBinding } from '../types.ts';
import { isKeyedMethod } from './policy.ts';

/**
The `Idempotency-Key` a POST or PATCH gets when the job it runs in or the policy generates keys and the request carries
none; undefined otherwise. One key per call, set before the first attempt, so that every attempt carries the same.
*/
export function newIdempotencyKey(policy: Policy, method: string, hasKey: boolean, job?: JobBinding): string | undefined {
	const generate = job?.idempotencyKey ?? policy.idempotencyKey;
	if (hasKey || !generate || !isKeyedMethod(method)) {
		return undefined;
	}
	const key = generate();
	if (typeof key !== 'string' || key === '') {
		throw new TypeError('Expected `idempotencyKey()` to return a non-empty string.');
	}
	return key;
}
