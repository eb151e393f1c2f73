import { errorKind } from '../errors/base.ts';
import { secretsOf } from '../secrets/headers.ts';
import { type Redactor, redactor } from '../secrets/redactor.ts';
import type { AttemptRecord, SteadfetchError } from '../types.ts';
import { type AttemptPlace, type CallRef, channels, type ErrorType } from './diagnostics.ts';
import { credentialOf, originOf } from './guards/scope.ts';

/*
What one call's messages to subscribers (`steadfetch:*`) say of it: which call, where it goes (its URL redacted as its
error's is: every credential the call sent, wherever it reappears), what failed (a closed set of error types), and
whether the call has begun and ended for them. Built only while someone listens: nothing here runs for a call nobody
hears of.
*/

/** What every message of a call says of it. */
export interface Place {
	readonly call: CallRef;
	readonly origin: string;
	readonly method: string;
	readonly url: string;
}

// Numbers the calls a subscriber hears of, for its logs (a call's identity is its CallRef object).
let lastCallId = 0;

// The redactor of the last credentials a call carried: a client's calls mostly carry the same ones, and a redactor for
// secrets compiles a regular expression (tens of microseconds). One, not a cache of many: a call's secrets are held no
// longer than until a call with others comes.
let lastSecrets: readonly string[] = [];
let lastExtra: readonly string[] = [];
let lastKey = '[[],[]]';
let lastRedactor: Redactor = redactor([]);
const redactorOf = (secrets: readonly string[], extra: readonly string[]): Redactor => {
	// The same arrays (a client's own secrets, for a call that carries no other): the same redactor, without a key.
	if (secrets === lastSecrets && extra === lastExtra) {
		return lastRedactor;
	}
	const key = JSON.stringify([secrets, extra]);
	if (key !== lastKey) {
		lastRedactor = redactor(secrets, extra);
		lastKey = key;
	}
	lastSecrets = secrets;
	lastExtra = extra;
	return lastRedactor;
};

/**
What failed, for an error the engine ends a call with: the status as a string, or the kind of failure. A guard's
refusal, where nothing was sent, says which guard (`rate-limited`, `circuit-open`), not the status it stands for.
*/
export function errorTypeOf(error: SteadfetchError, refused: boolean): ErrorType {
	const kind = errorKind(error);
	if (refused || kind === 'circuit') {
		return kind === 'circuit' || error.stopReason === 'circuit-open' ? 'circuit-open' : 'rate-limited';
	}
	if (kind === 'http' && error.status !== undefined) {
		return String(error.status) as ErrorType;
	}
	return kind === 'network' || kind === 'timeout' ? kind : '_OTHER';
}

/**
What ended a call or an attempt when the engine did not decide it: the caller's signal (`aborted`, or `timeout` for a
`TimeoutError` reason, as `AbortSignal.timeout()` gives), else `_OTHER`: an exception of a hook or a callback, or an
error of the fetch's own. Never the thrown thing's name, which can be anything (an abort reason that names a tenant).
*/
export function endTypeOf(signal: AbortSignal | undefined): ErrorType {
	if (!signal?.aborted) {
		return '_OTHER';
	}
	return (signal.reason as { name?: unknown } | null | undefined)?.name === 'TimeoutError' ? 'timeout' : 'aborted';
}

/** What one call's messages to subscribers (`steadfetch:*`) say of it, and whether it has begun and ended for them. */
export class CallPlace implements AttemptPlace {
	/** What a subscriber hears of this call: made with the call's first message, once a subscriber listens. */
	ref: CallRef | undefined;
	/** call:start was told (or would have been). */
	begun = false;
	/** call:end was told: it is told once. */
	ended = false;
	/**
	A body shortcut of the client reads the success's body: the call ends for subscribers when the read does, so that a
	body cut off is the call's failure, not a second end after a first success.
	*/
	holding = false;
	/** The status the call succeeded with, while its end is held for the body's read. */
	succeeded: number | undefined;
	readonly #secrets: readonly string[];
	readonly #secretHeaders: readonly string[];
	// The request the messages describe: its URL as given (user-info and all: a Request cannot hold it), and the Request.
	#url = '';
	#request: (() => Request) | undefined;
	// The last where(), for the request above: a call's messages say the same until the request changes.
	#place: Place | undefined;
	#redactor: Redactor | undefined;

	constructor(secrets: readonly string[], secretHeaders: readonly string[]) {
		this.#secrets = secrets;
		this.#secretHeaders = secretHeaders;
	}

	/** The request the call's messages describe from now on; read only for a subscriber. */
	at(url: string, request: () => Request): void {
		if (url !== this.#url || request !== this.#request) {
			this.#url = url;
			this.#request = request;
			this.#place = undefined;
		}
	}

	/** The call's first message, whichever step comes first (a rate-limit wait, or the first attempt), once. */
	open(): void {
		if (!this.begun) {
			this.begun = true;
			if (channels.callStart?.hasSubscribers) {
				channels.callStart.publish(this.where());
			}
		}
	}

	/**
	What every message says of the call: which call, its origin, method and redacted URL. Built only for a subscriber,
	once per request: the drop-in fetch builds a Request to describe, and the redaction reads the credentials the request
	carries (its headers, its URL, the client's API key) as its error does, so that what the error masks, no message shows.
	*/
	where(): Place {
		if (this.#place) {
			return this.#place;
		}
		const request = this.#request?.();
		const url = this.#url || request?.url || '';
		// Most requests carry no credential a name marks, no user-info and no matrix parameter: their secrets are the
		// client's own (its API key), found without reading every header's name into words (secretsOf). The rate-limit
		// windows' own test, with its memo of header names, tells.
		const plain = !/[@;]/.test(url) && credentialOf(request?.headers, url, this.#secretHeaders) === '';
		const secrets = request && !plain ? secretsOf({ url, headers: request.headers }, this.#secrets, this.#secretHeaders) : this.#secrets;
		this.#redactor = redactorOf(secrets, this.#secretHeaders);
		this.ref ??= Object.freeze({ id: ++lastCallId });
		this.#place = Object.freeze({
			call: this.ref,
			origin: originOf(url),
			method: request?.method ?? '',
			// A URL as a Request writes it, with nothing a name marks and no secret to look for, is its own redaction:
			// parsing it again would give it back as it is.
			url: plain && secrets.length === 0 && url === request?.url && !/[?#]/.test(url) ? url : this.#redactor.url(url),
		});
		return this.#place;
	}

	/** A URL with this call's secrets masked, as the messages' `url` is (the spans a request starts carry it). */
	redactUrl(url: string): string {
		if (!this.#redactor) {
			this.where();
		}
		return (this.#redactor as Redactor).url(url);
	}

	/**
	attempt:end: its record, and what failed (`errorType`). An attempt that ended without an outcome of its own was
	aborted, or the fetch threw before sending (`sent: false`: a URL or a header it refuses, a custom fetch's own error).
	*/
	attemptEnded(record: AttemptRecord, signal: AbortSignal | undefined): void {
		const { status, failure } = record;
		channels.attemptEnd?.publish({
			...this.where(),
			...record,
			errorType: status === undefined ? (failure ?? endTypeOf(signal)) : status >= 400 ? String(status) : undefined,
			...(status === undefined && failure === undefined && !signal?.aborted ? { sent: false } : {}),
		});
	}

	/**
	call:end of a call that resolves with a response of `status`: now, or when the body's read ends (`holding`). Below 400
	it succeeded; a failing status here is a Response a `beforeRetry` hook ended the call with.
	*/
	succeed(status: number, attempts: number): void {
		if (this.holding && !this.ended) {
			this.succeeded = status;
			return;
		}
		this.#end(() => ({ ok: status < 400, status, errorType: status < 400 ? undefined : String(status), attempts }));
	}

	/** call:end of a call the engine ended with `error`; `refused`: a guard refused it, and nothing was sent. */
	fail(error: SteadfetchError, refused: boolean, attempts: number): void {
		this.#end(() => ({
			ok: false,
			errorType: errorTypeOf(error, refused),
			error: error.name,
			// A body cut off after the response arrived: the status was the server's, and the call still failed.
			status: refused ? undefined : (error.status ?? this.succeeded),
			stopReason: error.stopReason,
			attempts,
		}));
	}

	/** call:end of a call that something else ended: the caller's signal, or an exception of a hook, a callback or the fetch. */
	abort(error: unknown, signal: AbortSignal | undefined, attempts: number): void {
		if (this.begun) {
			const name = (error as { name?: unknown } | null | undefined)?.name;
			this.#end(() => ({
				ok: false,
				errorType: endTypeOf(signal),
				// Whatever was thrown, named by its thrower (an abort reason may name a tenant): the call's secrets masked.
				error: typeof name === 'string' ? (this.#redactor as Redactor).text(name) : 'Error',
				status: this.succeeded,
				attempts,
			}));
		}
	}

	// call:end, once; what it says is built only for a subscriber, after where() (whose redactor `fields` may use).
	#end(fields: () => object): void {
		if (!this.ended) {
			this.ended = true;
			if (channels.callEnd?.hasSubscribers) {
				channels.callEnd.publish({ ...this.where(), ...fields() });
			}
		}
	}
}
