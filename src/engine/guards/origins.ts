import type { BreakerSettings, BudgetSettings } from '../../options/guards.ts';
import type { Decision } from '../../types.ts';
import { channels } from '../diagnostics.ts';
import { Lru } from '../lru.ts';
import { CircuitBreaker } from './breaker.ts';
import { RetryBudget } from './budget.ts';
import { Pacer } from './pacer.ts';

/** The budget, breaker and pacing of one origin; each is undefined when turned off. */
export interface OriginGuard {
	readonly budget: RetryBudget | undefined;
	readonly breaker: CircuitBreaker | undefined;
	readonly pacer: Pacer | undefined;
}

/** How many origins a client keeps state for: one that talks to endless origins (a crawler) forgets the least recent. */
export const maxOrigins = 256;

// Every request asks for its origin: cut it out of a plain absolute URL, and leave anything unusual (user-info,
// a default port, a relative URL, which in a browser belongs to the page's origin) to the URL parser.
const plainOrigin = /^https?:\/\/[^/?#@]+/i;
export const originOf = (url: string): string => {
	const match = plainOrigin.exec(url);
	// A default port (:80, :443) is the same origin without it: the parser drops it.
	if (match && !/:(?:80|443)$/.test(match[0]) && (url.length === match[0].length || '/?#'.includes(url[match[0].length] ?? ''))) {
		return match[0].toLowerCase();
	}
	const base = (globalThis as { location?: { href: string } }).location?.href;
	return URL.canParse(url, base) ? new URL(url, base).origin : url;
};

/** The per-origin state of one client or one drop-in fetch. */
export class Origins {
	readonly #budget: BudgetSettings | undefined;
	readonly #breaker: BreakerSettings | undefined;
	readonly #pacing: boolean;
	readonly #guards = new Lru<string, OriginGuard>(maxOrigins);

	constructor(budget: BudgetSettings | undefined, breaker: BreakerSettings | undefined, pacing: boolean) {
		this.#budget = budget;
		this.#breaker = breaker;
		this.#pacing = pacing;
	}

	// The breaker tells the diagnostics channel of every change of state, besides the user's onStateChange.
	#observed(settings: BreakerSettings): BreakerSettings {
		const { onStateChange } = settings;
		return {
			...settings,
			onStateChange: (event) => {
				onStateChange?.(event);
				if (channels.breaker?.hasSubscribers) {
					channels.breaker.publish(event);
				}
			},
		};
	}

	/** The guard of the URL's origin; undefined when budget, breaker and pacing are all off. */
	of(url: string): OriginGuard | undefined {
		if (!this.#budget && !this.#breaker && !this.#pacing) {
			return undefined;
		}
		const origin = originOf(url);
		let guard = this.#guards.get(origin);
		if (!guard) {
			guard = {
				budget: this.#budget && new RetryBudget(this.#budget),
				breaker: this.#breaker && new CircuitBreaker(origin, this.#observed(this.#breaker)),
				pacer: this.#pacing ? new Pacer() : undefined,
			};
			this.#guards.set(origin, guard);
		}
		return guard;
	}
}

/** Tell the origin's guard how an attempt ended, at `now`, `durationMs` after it was sent. */
export function report(guard: OriginGuard | undefined, transient: boolean, now: number, durationMs: number): void {
	if (!guard) {
		return;
	}
	if (transient) {
		guard.breaker?.failure(now, now - durationMs);
	} else {
		guard.breaker?.success();
		guard.budget?.earn();
	}
}

/** A retry the policy allows may still be withheld: the circuit opened, or the origin's retry budget is spent. */
export function guardDecision(guard: OriginGuard | undefined, decision: Decision, now: number): Decision {
	if (!guard || !decision.retry) {
		return decision;
	}
	const openUntil = guard.breaker?.retryAt;
	if (openUntil !== undefined) {
		return { retry: false, reason: 'circuit-open', retryAt: openUntil };
	}
	if (guard.budget && !guard.budget.spend()) {
		return { retry: false, reason: 'budget', retryAt: now + decision.delayMs };
	}
	return decision;
}
