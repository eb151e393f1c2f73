import type { HTTPError as KyHTTPError, NormalizedOptions } from 'ky';
import { mask } from '../secrets/names.ts';
import type { SteadfetchErrorJson, SteadfetchFields } from '../types.ts';
import { decorate, type FailureInit, safeRequest, toJson } from './base.ts';

/** What an HTTP status error is built from. `response` and `headers` are the originals; the error keeps only redacted copies. */
export interface HttpErrorInit extends FailureInit {
	readonly response: Response;
}

// A Response the error can keep: status, reason and headers, redacted (references resolved against the request's URL).
// ky has already read the body into `data`.
const safeResponse = ({ response, redact, details }: HttpErrorInit): Response => {
	try {
		return new Response(null, {
			status: response.status,
			statusText: redact.text(response.statusText),
			headers: redact.headers(response.headers, details.url.replace(`//${mask}@`, '//')),
		});
	} catch {
		return Response.error();
	}
};

export interface HttpStatusError extends SteadfetchFields {
	readonly status: number;
}

// ky's HTTPError to the type checker (and to the API reference), a plain Error at run time: importing ky's class would bring all of ky (its default
// instance is built at module load) into the drop-in fetch's bundle, which never calls ky. `createClient` links the
// class to ky's (linkErrorsToKy, client.ts), so that every error a client raises is `instanceof` ky's `HTTPError`.
const HTTPError = Error as unknown as new () => KyHTTPError;

/**
A response with a failing status. Extends ky's `HTTPError`, so code written for ky keeps working: `error.response` (status and redacted headers; the body is in `error.data`), `error.request` (redacted), `error.data`.

`name` is the class's own (`NotFoundError`...), though TypeScript types it as ky's `'HTTPError'`: test with `instanceof` or `isHttpStatusError`.
*/
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the fields decorate() defines in the constructor; ky's classes cannot share a base class of ours.
export class HttpStatusError extends HTTPError {
	/** The stable `name` of errors of this class. */
	static readonly errorName: string = 'HttpStatusError';

	/** @internal */
	constructor(init: HttpErrorInit) {
		super();
		const request = safeRequest(init);
		this.request = request;
		this.response = safeResponse(init);
		// ky's `options` holds every header of the call; keep only what cannot leak.
		this.options = Object.freeze({
			method: request.method,
			headers: request.headers,
			context: {},
		}) as unknown as NormalizedOptions;
		decorate(this, (new.target as typeof HttpStatusError).errorName, init.details);
	}

	toJSON(): SteadfetchErrorJson {
		return toJson(this);
	}
}

/** A 4xx status: the request must change before it can succeed. Never retried, except the statuses in `retry.statusCodes` (408, 429). */
export class ClientError extends HttpStatusError {
	static override readonly errorName: string = 'ClientError';
}

/** A 5xx status: the server failed. Retried for repeatable requests when in `retry.statusCodes`. */
export class ServerError extends HttpStatusError {
	static override readonly errorName: string = 'ServerError';
}

/** 400: the request was unacceptable. Never retried. */
export class BadRequestError extends ClientError {
	static override readonly errorName: string = 'BadRequestError';
}

/** 401: the API key is invalid. Never retried. */
export class UnauthenticatedError extends ClientError {
	static override readonly errorName: string = 'UnauthenticatedError';
}

/** 404: the resource does not exist. Never retried. */
export class NotFoundError extends ClientError {
	static override readonly errorName: string = 'NotFoundError';
}

/** 500: the server hit an internal error. Retried for repeatable requests. */
export class InternalServerError extends ServerError {
	static override readonly errorName: string = 'InternalServerError';
}

const byStatus: Readonly<Record<number, typeof HttpStatusError>> = {
	400: BadRequestError,
	401: UnauthenticatedError,
	404: NotFoundError,
	500: InternalServerError,
};

/** The error for a failing response, of the class for its status. */
export function createHttpError(init: HttpErrorInit): HttpStatusError {
	const status = init.details.status ?? 0;
	const Class = byStatus[status] ?? (status >= 500 ? ServerError : status >= 400 ? ClientError : HttpStatusError);
	return new Class(init);
}
