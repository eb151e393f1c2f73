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
Options of the circuit breaker: one per origin, owned by a client (or a drop-in fetch). After `failureThreshold` transient failures in a row it opens: calls to that origin fail at once with a `CircuitOpenError` for `openMs`; then one probe goes through, and its outcome closes or reopens the circuit.
*/
export interface BreakerOptions {
	/**
	Transient failures in a row (5xx in `retry.statusCodes`, 408, 429, network errors, timeouts) that open the circuit. Any other outcome resets the count. Ten in a row almost never happens by chance to a healthy but flaky service (at 30% failures, 0.3^10: once in 170,000 attempts), and takes a dead one a second or two.
	@default 10
	*/
	readonly failureThreshold?: number;
	/**
	How long the circuit stays open before it lets a probe through, in milliseconds.
	@default 10000
	*/
	readonly openMs?: number;
	/**
	Called on every change of state. Nothing is logged by default.
	@default undefined
	*/
	readonly onStateChange?: (event: BreakerEvent) => void;
}

/** Breaker options after validation. */
export interface BreakerSettings {
	readonly failureThreshold: number;
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
		this.#probeAt = undefined;
		if (this.#state !== 'closed') {
			this.#move('closed');
		}
	}

	/** Record a transient failure. */
	failure(now: number): void {
		this.#failures++;
		this.#probeAt = undefined;
		if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.#options.failureThreshold)) {
			this.#openUntil = now + this.#options.openMs;
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
