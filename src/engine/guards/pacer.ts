import type { Quota } from './ratelimit.ts';

/*
One rate-limit window, as the responses about it describe it (`readQuotas`): once the API says no request remains
before its reset, later requests wait for the reset instead of spending a request on a 429. Octokit's throttling plugin
does this for GitHub alone; the headers of the other big APIs say the same. Times are passed in, so it is tested
without timers.
*/

// While the requests in flight may have spent what the window had left, and past a reset while one request learns the
// new window, the others wait for an answer (`news`), and go anyway once it has taken a second: what is held is a
// hypothesis, and a hang must not hold them all.
const answerMs = 1000;
// A window the API said is spent is held until its reset, but for one probe this often: the API may have granted more
// since (a plan upgraded, a window reset early), and only a request can tell.
export const probeMs = 60_000;

export class Pacer {
	// What the latest response said.
	#remaining = 0;
	#resetAt = 0;
	// Requests sent in this window and not answered yet: the latest response may not have counted them.
	#inFlight = 0;
	// Since when the window has been waiting for an answer (after a reset, or spent by the requests in flight).
	#waitingSince: number | undefined;
	// When the API last said the window was spent, or a probe last went.
	#probedAt = 0;
	// Waits to end when anything is learnt of the window (an answer, a place given back).
	#listeners = new Set<AbortController>();

	/**
	Take what the latest response about the window said, at `now`: it replaces what was held, whatever it says (a 304
	that reports quota left, an earlier reset). Call `release` for the attempt's own place first.
	*/
	observe(quota: Quota, now: number): void {
		this.#remaining = quota.remaining;
		this.#resetAt = quota.resetAt;
		this.#waitingSince = undefined;
		if (quota.remaining === 0) {
			this.#probedAt = now;
		}
		this.#tell();
	}

	/** Abort `listener` as soon as anything is learnt of the window: a wait for its answers ends then, not later. */
	listen(listener: AbortController): void {
		this.#listeners.add(listener);
	}

	unlisten(listener: AbortController): void {
		this.#listeners.delete(listener);
	}

	#tell(): void {
		if (this.#listeners.size > 0) {
			const listeners = [...this.#listeners];
			this.#listeners.clear();
			for (const listener of listeners) {
				listener.abort();
			}
		}
	}

	/**
	How long the next request must wait, in milliseconds; 0 when it may go now (then `take` its place). The requests in
	flight each hold a place: a window with five left lets five through, not all of them. Past the reset, one request goes
	first, and the others once its response describes the new window.
	*/
	peek(now: number): number {
		if (this.#resetAt === 0) {
			return 0;
		}
		if (now < this.#resetAt) {
			if (this.#remaining - this.#inFlight > 0) {
				return 0;
			}
			// Spent by the API's own word: evidence, held until the reset but for a rare probe.
			if (this.#remaining === 0) {
				return now - this.#probedAt >= probeMs ? 0 : this.#resetAt - now;
			}
		} else if (this.#inFlight === 0 && this.#waitingSince === undefined) {
			return 0;
		}
		// The window described is over (releasing every waiting call at the reset overflows the new window at once:
		// measured, most 429s of a backlog came 20-100 ms after the reset), or what is left is held by the requests in
		// flight: wait for an answer, briefly.
		this.#waitingSince ??= now;
		const left = this.#waitingSince + answerMs - now;
		return left <= 0 ? 0 : now < this.#resetAt ? Math.min(left, this.#resetAt - now) : left;
	}

	/** Take a place in the window for a request that goes now. */
	take(now: number): void {
		this.#inFlight++;
		const over = now >= this.#resetAt;
		if (over || this.#remaining - this.#inFlight < 0) {
			// The request that learns the window: the others wait for its answer, up to `answerMs`.
			this.#waitingSince = now;
		}
		if (!over && this.#remaining === 0) {
			this.#probedAt = now;
		}
	}

	/**
	The request that took a place has been answered (`answered`: the API counted it), or ended without an answer, at
	`now`. An answer counts against what the latest response said, until one describes the window again (`observe`);
	past the reset, an answer that does not leaves nothing known of it.
	*/
	release(now: number, answered: boolean): void {
		if (this.#inFlight > 0) {
			this.#inFlight--;
		}
		if (answered && this.#remaining > 0) {
			this.#remaining--;
		}
		if (this.#resetAt !== 0 && now >= this.#resetAt) {
			this.#resetAt = 0;
			this.#remaining = 0;
			this.#waitingSince = undefined;
		}
		this.#tell();
	}

	toJSON(): { remaining: number; inFlight: number; resetAt?: string } {
		return {
			remaining: this.#remaining,
			inFlight: this.#inFlight,
			...(this.#resetAt > 0 ? { resetAt: new Date(this.#resetAt).toISOString() } : {}),
		};
	}
}
