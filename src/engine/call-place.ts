import { redactUrl } from '../secrets/urls.ts';
import { type CallRef, channels } from './diagnostics.ts';
import { originOf } from './guards/scope.ts';

/** What every message of a call says of it. */
export interface Place {
	readonly call: CallRef;
	readonly origin: string;
	readonly method: string;
	readonly url: string;
}

// Numbers the calls a subscriber hears of, for its logs (a call's identity is its CallRef object).
let lastCallId = 0;

/** What one call's messages to subscribers (`steadfetch:*`) say of it, and whether it has begun and ended for them. */
export class CallPlace {
	/** The call's current request, read only for a subscriber. */
	request: (() => Request) | undefined;
	/** What a subscriber hears of this call: made with the call's first message, once a subscriber listens. */
	ref: CallRef | undefined;
	/** call:start was told (or would have been). */
	begun = false;
	/** call:end was told: it is told once. */
	ended = false;
	readonly #secrets: readonly string[];
	// The last where(), and the request it was read from: a call's messages say the same until the request changes.
	#place: Place | undefined;
	#placeOf: (() => Request) | undefined;

	constructor(secrets: readonly string[]) {
		this.#secrets = secrets;
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
	What every message says of the call: which call, its origin, method and redacted URL (built only for a subscriber,
	once per request: the drop-in fetch builds a Request to describe, and redaction parses the URL).
	*/
	where(): Place {
		if (this.#place && this.#placeOf === this.request) {
			return this.#place;
		}
		const request = this.request?.();
		const url = request?.url ?? '';
		this.ref ??= Object.freeze({ id: ++lastCallId });
		this.#placeOf = this.request;
		this.#place = Object.freeze({
			call: this.ref,
			origin: originOf(url),
			method: request?.method ?? '',
			url: redactUrl(url, this.#secrets),
		});
		return this.#place;
	}
}
