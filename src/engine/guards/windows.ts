import { Lru } from '../lru.ts';
import { Pacer } from './pacer.ts';
import type { Quota } from './ratelimit.ts';

/*
The rate-limit windows of one client or drop-in fetch. A window belongs to the tenant that spent it (the credential its
requests carried, and the domain the user's `rateLimit.key` names) and to the bucket the response names (GitHub's
`x-ratelimit-resource`, an IETF policy and its partition key); a window no response names belongs to the endpoint that
answered. A request's windows are those its endpoint's latest response reported for its tenant: an endpoint never heard
from has none, so another bucket's, tenant's or endpoint's spent window never holds it (issue 24).
*/

/** How many windows, and endpoints' lists of windows, a client keeps at most. */
export const maxWindows = 4096;

const none: readonly string[] = [];

export class Windows {
	readonly #windows: Lru<string, Pacer>;
	// `${tenant} ${endpoint}` -> the keys of the windows its latest response reported.
	readonly #reported: Lru<string, readonly string[]>;

	constructor(random: () => number) {
		this.#windows = new Lru(maxWindows, random);
		this.#reported = new Lru(maxWindows, random);
	}

	/** Whether any response has described a window yet: until then no request needs its tenant worked out. */
	get empty(): boolean {
		return this.#reported.size === 0;
	}

	/** The windows a request of `tenant` to `endpoint` waits for; none for an endpoint never heard from. */
	of(tenant: string, endpoint: string): Pacer[] {
		const keys = this.#reported.get(`${tenant} ${endpoint}`) ?? none;
		const pacers: Pacer[] = [];
		for (const key of keys) {
			const pacer = this.#windows.get(key);
			if (pacer) {
				pacers.push(pacer);
			}
		}
		return pacers;
	}

	/** Take what a response from `endpoint` to a request of `tenant` said of its windows, at `now`. */
	observe(tenant: string, endpoint: string, quotas: readonly Quota[], now: number): void {
		const keys: string[] = [];
		for (const quota of quotas) {
			const key =
				quota.bucket === undefined ? `${tenant} ${endpoint} #${quota.family}` : `${tenant} ${originOfEndpoint(endpoint)} ${quota.bucket}`;
			let pacer = this.#windows.get(key);
			if (!pacer) {
				pacer = new Pacer();
				this.#windows.set(key, pacer);
			}
			pacer.observe(quota, now);
			keys.push(key);
		}
		const reported = `${tenant} ${endpoint}`;
		const before = this.#reported.get(reported);
		if (!before || before.length !== keys.length || before.some((key, index) => key !== keys[index])) {
			this.#reported.set(reported, Object.freeze(keys));
		}
	}
}

// A bucket is named within its origin: `core` on one API says nothing of `core` on another.
const originOfEndpoint = (endpoint: string): string => endpoint.slice(0, endpoint.indexOf(' '));
