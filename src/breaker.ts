/** The states of a circuit breaker: `closed` lets calls through, `open` fails them at once, `half-open` lets one probe through. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** What `onStateChange` is told. */
export interface BreakerEvent {
	/** The origin the breaker guards, e.g. `https://api.example.com`. */
	readonly origin: string;
	readonly from: BreakerState;
	readonly to: BreakerState;
	/** When an open breaker lets a probe through. */
	readonly retryAt?: Date;
}

/**
Options of the circuit breaker: one per origin, owned by a client (or a drop-in fetch). It opens on an outage, not on bad luck: after at least `failureThreshold` transient failures in a row that span at least `failureWindowMs`. While open, calls to that origin fail at once with a `CircuitOpenError`, except one probe every `openMs`: the first probe that succeeds closes the circuit, so calls succeed again within about `openMs` of the API's recovery.
*/
export interface BreakerOptions {
	/**
	Transient failures in a row (5xx in `retry.statusCodes`, 408, 429, network errors, timeouts) that may open the circuit. Any other outcome resets the count. Ten in a row almost never happens by chance to a healthy but flaky service (at 30% failures, 0.3^10: once in 170,000 attempts).
	@default 10
	*/
	readonly failureThreshold?: number | undefined;
	/**
	How long, in milliseconds, the failures in a row must last before the circuit opens. A shorter streak is a blip that retries and the retry budget absorb; at high call rates ten failures in a row also happen by chance to a service that fails half the time, a whole second of them does not.
	@default 1000
	*/
	readonly failureWindowMs?: number | undefined;
	/**
	How long the circuit stays open before it lets the next probe through, in milliseconds, counted from when the failed request was sent: the most time between the API's recovery and the first call that sees it. A probe that fails reopens the circuit for as long; one that never reports (aborted, hanging) stops blocking the next after as long. A failure reported more than `openMs` after its request went out (a timeout) opens the circuit with the next call as its probe.
	@default 100
	*/
	readonly openMs?: number | undefined;
	/**
	Called on every change of state. Nothing is logged by default.
	@default undefined
	*/
	readonly onStateChange?: ((event: BreakerEvent) => void) | undefined;
}

/** Breaker options after validation. */
export interface BreakerSettings {
	readonly failureThreshold: number;
	readonly failureWindowMs: number;
	readonly openMs: number;
	readonly onStateChange: ((event: BreakerEvent) => void) | undefined;
}

/** Whether a call may go out now; when not, when it may. */
export type Admission = { readonly admitted: true } | { readonly admitted: false; readonly retryAt: number };

/** A circuit breaker for one origin. Times are passed in (epoch milliseconds), so it is tested without timers. */
export class CircuitBreaker {
	readonly origin: string;
	readonly #options: BreakerSettings;
	#state: BreakerState = 'closed';
	#failures = 0;
	// When the current streak of transient failures began.
	#streakStart = 0;
	#openUntil = 0;
	// When the half-open probe went out. A probe that never reports (aborted by its caller) stops blocking after openMs.
	#probeAt: number | undefined;

	constructor(origin: string, options: BreakerSettings) {
		this.origin = origin;
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

	toJSON(): { origin: string; state: BreakerState; failures: number; retryAt?: string } {
		return {
			origin: this.origin,
			state: this.#state,
			failures: this.#failures,
			...(this.#state === 'open' ? { retryAt: new Date(this.#openUntil).toISOString() } : {}),
		};
	}

	#move(to: BreakerState): void {
		const from = this.#state;
		this.#state = to;
		this.#options.onStateChange?.({ origin: this.origin, from, to, ...(to === 'open' ? { retryAt: new Date(this.#openUntil) } : {}) });
	}
}
