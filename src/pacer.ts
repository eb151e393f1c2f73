import type { Quota } from './ratelimit.ts';

/**
The rate-limit window of one origin, as its responses describe it (`readQuota`): once the API says no request remains
before its reset, later requests wait for the reset instead of spending a request on a 429. Octokit's throttling plugin
does this for GitHub alone; the headers of the other big APIs say the same. Times are passed in, so it is tested
without timers.
*/
export class Pacer {
	#remaining = Number.POSITIVE_INFINITY;
	#resetAt = 0;

	/** Take what the latest response said about the window; a response that said nothing changes nothing. */
	observe(quota: Quota | undefined): void {
		if (quota) {
			this.#remaining = quota.remaining;
			this.#resetAt = quota.resetAt;
		}
	}

	/**
	How long the next request must wait, in milliseconds. 0 takes one of the window's remaining requests: calls in
	flight together each take their own, so that a window with five left lets five through, not all of them. Past the
	reset the API has not described the new window yet: requests go, and their responses describe it.
	*/
	reserve(now: number): number {
		if (now >= this.#resetAt) {
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
