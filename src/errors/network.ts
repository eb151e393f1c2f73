import type { NetworkError as KyNetworkErrorType } from 'ky';
import type { SteadfetchErrorJson, SteadfetchFields } from '../types.ts';
import { decorate, type FailureInit, safeRequest, toJson } from './base.ts';

// ky's NetworkError to the type checker, a plain Error at run time (see HTTPError in http.ts): `createClient` links it.
const KyNetworkError = Error as unknown as new () => KyNetworkErrorType;

export interface NetworkError extends SteadfetchFields {
	/** Always undefined: no response arrived. */
	readonly data: unknown;
}

/**
No response arrived: DNS, refused or reset connection, TLS, offline. Extends ky's `NetworkError`. `code` names what happened where the runtime says (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, undici's `UND_ERR_SOCKET`; undefined in Deno and browsers), and the message says it too; `cause` is a redacted copy of the runtime's error and its causes. Retried for repeatable requests.
*/
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the fields decorate() defines in the constructor; ky's classes cannot share a base class of ours.
export class NetworkError extends KyNetworkError {
	/** @internal */
	constructor(init: FailureInit) {
		super();
		this.request = safeRequest(init);
		decorate(this, 'NetworkError', init.details);
	}

	toJSON(): SteadfetchErrorJson {
		return toJson(this);
	}
}

export interface FetchNetworkError extends SteadfetchFields {
	readonly request: Request;
	/** Always undefined: no response arrived. */
	readonly data: unknown;
}

/**
The drop-in fetch's network failure. It keeps fetch's shape, so SDKs and network-error detectors (ky, p-retry, is-network-error) recognise it: a `TypeError` named `TypeError`, whose `message` is the runtime's own (`fetch failed` in Node). The steadfetch line, with the advice, is in `toJSON().message` and `summary`; `code` (`ECONNREFUSED`...) is on the error itself, as Bun puts it on its own.
*/
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the fields decorate() defines in the constructor.
export class FetchNetworkError extends TypeError {
	/** The one-line steadfetch message: method, redacted URL, attempts, description, solution. */
	declare readonly summary: string;

	/** @internal */
	constructor(init: FailureInit & { readonly message?: string | undefined }) {
		super(init.message ?? 'fetch failed');
		decorate(this, 'NetworkError', init.details);
		Object.defineProperties(this, {
			summary: { value: this.message, enumerable: true },
			name: { value: 'TypeError', writable: true, configurable: true },
			message: { value: init.message ?? 'fetch failed', writable: true, configurable: true },
			request: { value: safeRequest(init), writable: true, configurable: true },
		});
		this.stack = `TypeError: ${this.message}\n${(this.stack ?? '').split('\n').slice(1).join('\n')}`;
	}

	toJSON(): SteadfetchErrorJson {
		return { ...toJson(this), name: 'NetworkError', message: this.summary };
	}
}
