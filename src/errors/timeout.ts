import type { TimeoutError as KyTimeoutErrorType } from 'ky';
import type { SteadfetchErrorJson, SteadfetchFields } from '../types.ts';
import { decorate, type FailureInit, safeRequest, toJson } from './base.ts';

// ky's TimeoutError to the type checker, a plain Error at run time (see HTTPError in http.ts): `createClient` links it.
const KyTimeoutError = Error as unknown as new () => KyTimeoutErrorType;

export interface TimeoutError extends SteadfetchFields {
	/** Always undefined: no response arrived. */
	readonly data: unknown;
}

/**
An attempt ran past `timeout`, or the call past `totalTimeout`. Extends ky's `TimeoutError`. Attempts that time out are retried for repeatable requests (`retry.retryOnTimeout`); the call's deadline is final.
*/
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the fields decorate() defines in the constructor; ky's classes cannot share a base class of ours.
export class TimeoutError extends KyTimeoutError {
	/** @internal */
	constructor(init: FailureInit) {
		super();
		this.request = safeRequest(init);
		decorate(this, 'TimeoutError', init.details);
	}

	toJSON(): SteadfetchErrorJson {
		return toJson(this);
	}
}
