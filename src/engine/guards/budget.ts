import type { BudgetSettings } from '../../options/guards.ts';

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
