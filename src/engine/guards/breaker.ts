import type { BreakerSettings, BreakerState } from '../../options/guards.ts';

/** Whether a call may go out now; when not, when it may. */
export type Admission = { readonly admitted: true } | { readonly admitted: false; readonly retryAt: number };

/**
A circuit breaker for one origin's connection, or one endpoint's statuses. Times are passed in (epoch milliseconds), so
it is tested without timers.
*/
export class CircuitBreaker {
	readonly origin: string;
	/** The endpoint whose statuses it hears (`GET /v1/items/*`); undefined for the origin's connection. */
	readonly endpoint: string | undefined;
	readonly #options: BreakerSettings;
	#state: BreakerState = 'closed';
	#failures = 0;
	// When the current streak of transient failures began.
	#streakStart = 0;
	#openUntil = 0;
	// When the half-open probe went out. A probe that never reports (aborted by its caller) stops blocking after openMs.
	#probeAt: number | undefined;

	constructor(origin: string, options: BreakerSettings, endpoint?: string) {
		this.origin = origin;
		this.endpoint = endpoint;
		this.#options = options;
	}

	get state(): BreakerState {
		return this.#state;
	}

	/** When an open circuit lets its probe through. */
	get retryAt(): number | undefined {
		return this.#state === 'open' ? this.#openUntil : undefined;
	}

	/** Ask to send a request now. An open circuit past its time turns half-open and admits one probe. */
	admit(now: number): Admission {
		if (this.#state === 'open' && now >= this.#openUntil) {
			this.#move('half-open');
		}
		if (this.#state === 'closed') {
			return { admitted: true };
		}
		if (this.#state === 'half-open' && (this.#probeAt === undefined || now >= this.#probeAt + this.#options.openMs)) {
			this.#probeAt = now;
			return { admitted: true };
		}
		return { admitted: false, retryAt: this.#state === 'open' ? this.#openUntil : now + this.#options.openMs };
	}

	/** Record an attempt that did not fail transiently. */
	success(): void {
		this.#failures = 0;
		this.#streakStart = 0;
		this.#probeAt = undefined;
		if (this.#state !== 'closed') {
			this.#move('closed');
		}
	}

	/** Record a transient failure, reported at `now`, of an attempt sent at `sentAt`. */
	failure(now: number, sentAt: number = now): void {
		if (this.#failures++ === 0) {
			this.#streakStart = now;
		}
		// The next probe is due openMs after the failed request was sent, not after it failed: one probe every openMs, so the
		// time from the API's recovery to the first call that sees it does not grow with the round trip. A timeout is
		// reported a whole timeout after its request went out: when late timeouts of a hang open the circuit after the API
		// came back, the next call goes at once as the probe, instead of openMs of calls refused for news already old.
		const sent = this.#state === 'half-open' ? (this.#probeAt ?? sentAt) : sentAt;
		this.#probeAt = undefined;
		const { failureThreshold, failureWindowMs } = this.#options;
		const sustained = this.#failures >= failureThreshold && now - this.#streakStart >= failureWindowMs;
		if (this.#state === 'half-open' || (this.#state === 'closed' && sustained)) {
			this.#openUntil = Math.max(now, sent + this.#options.openMs);
			this.#move('open');
		}
	}

	toJSON(): { origin: string; endpoint?: string; state: BreakerState; failures: number; retryAt?: string } {
		return {
			origin: this.origin,
			...(this.endpoint === undefined ? {} : { endpoint: this.endpoint }),
			state: this.#state,
			failures: this.#failures,
			...(this.#state === 'open' ? { retryAt: new Date(this.#openUntil).toISOString() } : {}),
		};
	}

	#move(to: BreakerState): void {
		const from = this.#state;
		this.#state = to;
		this.#options.onStateChange?.({
			origin: this.origin,
			...(this.endpoint === undefined ? {} : { endpoint: this.endpoint }),
			from,
			to,
			...(to === 'open' ? { retryAt: new Date(this.#openUntil) } : {}),
		});
	}
}
