import type { Quota } from './ratelimit.ts';

/**
The rate-limit window of one origin, as its responses describe it (`readQuota`): once the API says no request remains
before its reset, later requests wait for the reset instead of spending a request on a 429. Octokit's throttling plugin
does this for GitHub alone; the headers of the other big APIs say the same. Times are passed in, so it is tested
without timers.
*/
// After a reset, one request goes first to learn the new window; the others look again this often, and go anyway if
// its answer takes longer than a second (a hang must not hold them all).
const recheckMs = 10;
const firstAnswerMs = 1000;

export class Pacer {
	#remaining = Number.POSITIVE_INFINITY;
	#resetAt = 0;
	// When the first request after a reset went, until a response describes the new window.
	#firstAt: number | undefined;

	/**
	Take what a response said about the window. One that said nothing changes nothing; one that describes an older
	window, or more requests left in this one than is known (it was sent before others answered), is stale.
	*/
	observe(quota: Quota | undefined): void {
		if (!quota || quota.resetAt < this.#resetAt || (quota.resetAt === this.#resetAt && quota.remaining > this.#remaining)) {
			return;
		}
		this.#remaining = quota.remaining;
		this.#resetAt = quota.resetAt;
		this.#firstAt = undefined;
	}

	/**
	How long the next request must wait, in milliseconds. 0 takes one of the window's remaining requests: calls in
	flight together each take their own, so that a window with five left lets five through, not all of them. Past the
	reset, one request goes first, and the others once its response describes the new window.
	*/
	reserve(now: number): number {
		if (this.#resetAt === 0) {
			return 0;
		}
		if (now >= this.#resetAt) {
			// The window described is over. Let one request go to learn the new one: releasing every waiting call at the
			// reset overflows the new window at once (measured: most 429s of a backlog came 20-100 ms after the reset).
			if (this.#firstAt !== undefined && now - this.#firstAt < firstAnswerMs) {
				return recheckMs;
			}
			this.#firstAt = now;
			return 0;
		}
		if (this.#remaining > 0) {
			this.#remaining--;
			return 0;
		}
		return this.#resetAt - now;
	}

	toJSON(): { remaining: number; resetAt?: string } {
		return {
			remaining: this.#remaining,
			...(this.#resetAt > 0 ? { resetAt: new Date(this.#resetAt).toISOString() } : {}),
		};
	}
}
