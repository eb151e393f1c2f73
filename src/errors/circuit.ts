import type { SteadfetchErrorJson, SteadfetchFields } from '../types.ts';
import { decorate, type FailureInit, safeRequest, toJson } from './base.ts';

export interface CircuitOpenError extends SteadfetchFields {
	readonly request: Request;
	/** Always undefined: no request was sent. */
	readonly data: unknown;
}

/**
The call was refused without a request: a circuit breaker it would meet is open after repeated failures, the endpoint's (its statuses and timeouts) or the origin's (failures of its connection). `retryAt` says when a probe request will be let through; `retryable` is true.
*/
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the fields decorate() defines in the constructor.
export class CircuitOpenError extends Error {
	/** @internal */
	constructor(init: FailureInit) {
		super('circuit open');
		Object.defineProperty(this, 'request', {
			value: safeRequest(init),
			writable: true,
			configurable: true,
		});
		decorate(this, 'CircuitOpenError', init.details);
	}

	toJSON(): SteadfetchErrorJson {
		return toJson(this);
	}
}
