import { NetworkError as KyNetworkError, TimeoutError as KyTimeoutError } from 'ky';
import { redactHeaders } from '../redact.ts';
import { decorate, type ErrorDetails, type SteadfetchErrorJson, type SteadfetchFields, safeRequest, toJson } from './base.ts';

/** What a network or timeout error is built from. */
export interface FailureInit {
	readonly details: ErrorDetails;
	readonly headers: Headers;
	readonly secretHeaders?: readonly string[];
}

const request = (init: FailureInit): Request =>
	safeRequest(init.details.method, init.details.url, redactHeaders(init.headers, init.secretHeaders));

export interface NetworkError extends SteadfetchFields {
	/** Always undefined: no response arrived. */
	readonly data: unknown;
}

/**
No response arrived: DNS, refused or reset connection, TLS, offline. Extends ky's `NetworkError`; `cause` is a redacted copy of the runtime's error (with its `code`, such as `ECONNREFUSED`). Retried for repeatable requests.
*/
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the fields decorate() defines in the constructor; ky's classes cannot share a base class of ours.
export class NetworkError extends KyNetworkError {
	constructor(init: FailureInit) {
		super(request(init));
		decorate(this, 'NetworkError', init.details);
	}

	toJSON(): SteadfetchErrorJson {
		return toJson(this);
	}
}

export interface TimeoutError extends SteadfetchFields {
	/** Always undefined: no response arrived. */
	readonly data: unknown;
}

/**
An attempt ran past `timeout`, or the call past `totalTimeout`. Extends ky's `TimeoutError`. Attempts that time out are retried for repeatable requests (`retry.retryOnTimeout`); the call's deadline is final.
*/
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the fields decorate() defines in the constructor; ky's classes cannot share a base class of ours.
export class TimeoutError extends KyTimeoutError {
	constructor(init: FailureInit) {
		super(request(init));
		decorate(this, 'TimeoutError', init.details);
	}

	toJSON(): SteadfetchErrorJson {
		return toJson(this);
	}
}
