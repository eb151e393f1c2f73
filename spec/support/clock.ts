import type { Clock } from '../../src/engine/clock.ts';

/**
A clock for specs: time moves only when the engine sleeps or the spec says so, and the randomness is seeded. Every wait
the engine asks for is kept in `waits`, so a spec asserts the wait itself instead of timing it on a busy machine.
*/
export class FakeClock implements Clock {
	/** Epoch milliseconds; starts on a whole second, as HTTP-dates are. */
	time: number;
	/** Monotonic milliseconds. */
	elapsed = 0;
	/** Every wait asked for, in order. */
	readonly waits: number[] = [];
	#seed: number;

	constructor(start: number = Date.UTC(2026, 10, 27, 12, 0, 0), seed = 42) {
		this.time = start;
		this.#seed = seed;
	}

	now = (): number => this.time;

	monotonic = (): number => this.elapsed;

	// mulberry32: small, seeded, good enough for jitter.
	random = (): number => {
		this.#seed = (this.#seed + 0x6d2b79f5) | 0;
		let value = this.#seed;
		value = Math.imul(value ^ (value >>> 15), value | 1);
		value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
		return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
	};

	sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
		signal?.throwIfAborted();
		this.waits.push(ms);
		this.advance(ms);
	};

	/** Let `ms` milliseconds pass. */
	advance(ms: number): void {
		this.time += ms;
		this.elapsed += ms;
	}
}
