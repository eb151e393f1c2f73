/**
Options of the retry budget: a token bucket per origin, shared by every call of a client (or of a drop-in fetch). Successes earn tokens, retries spend them, so retries can only add a fraction of the traffic that succeeds: when a service fails broadly, retries stop multiplying its load.
*/
export interface BudgetOptions {
	/**
	Tokens earned by each attempt that does not fail transiently (a 2xx, a 404...). One retry costs one token, so this is the most retries per success in the long run. With 2 retries, a failure rate p needs p + p² retries per call and gives 1 − p³ successes: 1 keeps every call retried up to about 55% failures (0.6 ran dry at 50% and lost 12 points of success to plain retries in the benchmark, docs/resilience.md), while a service that fails entirely earns nothing and gets its own traffic plus the `capacity` burst.
	@default 1
	*/
	readonly ratio?: number | undefined;
	/**
	Tokens the bucket holds at most, and starts with: the burst of retries allowed before any success, and the slack that absorbs a streak of failures.
	@default 20
	*/
	readonly capacity?: number | undefined;
}

/** Budget options after validation. */
export interface BudgetSettings {
	readonly ratio: number;
	readonly capacity: number;
}

/** A token bucket: successes earn `ratio`, a retry spends 1, never more than `capacity`. */
export class RetryBudget {
	readonly #capacity: number;
	readonly #ratio: number;
	#tokens: number;

	constructor(options: BudgetSettings) {
		this.#capacity = options.capacity;
		this.#ratio = options.ratio;
		this.#tokens = options.capacity;
	}

	/** Tokens left: how many retries may still be made before the next success. */
	get tokens(): number {
		return this.#tokens;
	}

	/** Record an attempt that did not fail transiently. */
	earn(): void {
		this.#tokens = Math.min(this.#capacity, this.#tokens + this.#ratio);
	}

	/** Take the token for one retry; false when none is left, and the retry must be withheld. */
	spend(): boolean {
		if (this.#tokens < 1) {
			return false;
		}
		this.#tokens -= 1;
		return true;
	}

	toJSON(): { tokens: number; capacity: number; ratio: number } {
		return { tokens: this.#tokens, capacity: this.#capacity, ratio: this.#ratio };
	}
}
