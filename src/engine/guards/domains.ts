import type { BreakerSettings, BudgetSettings } from '../../options/guards.ts';
import type { Decision, Outcome } from '../../types.ts';
import { channels } from '../diagnostics.ts';
import { Lru } from '../lru.ts';
import { CircuitBreaker } from './breaker.ts';
import { RetryBudget } from './budget.ts';
import { endpointOf, originOf } from './scope.ts';
import { Windows } from './windows.ts';

/*
The guards of one client or drop-in fetch, each kept for the domain its evidence speaks for (issue 24). A failure of the
connection (refused, reset, DNS, TLS: `network`) speaks for the origin: the origin's breaker and budget hear it. An
HTTP status, or a timeout of a server that took the request, speaks for the endpoint that returned it: the endpoint's
breaker and budget hear it, so one broken endpoint neither opens the circuit for healthy ones nor spends the retries
their blips need. Any answer at all proves the connection. Rate-limit windows are the tenant's and the bucket's
(windows.ts).
*/

/** The budget and breaker of one domain (an origin's connection, or an endpoint); each undefined when turned off. */
export interface Guard {
	readonly budget: RetryBudget | undefined;
	readonly breaker: CircuitBreaker | undefined;
}

/** Where one request goes, and the guards of its origin and its endpoint. */
export interface Scope {
	readonly origin: string;
	/** `${origin} ${method} ${path with each segment that names one thing as *}`. */
	readonly endpoint: string;
	readonly connection: Guard | undefined;
	readonly statuses: Guard | undefined;
}

/** How many origins a client keeps state for: past it, one of the least recently used is forgotten. */
export const maxOrigins = 256;
/** How many endpoints a client keeps state for. */
export const maxEndpoints = 4096;

export class Domains {
	readonly #budget: BudgetSettings | undefined;
	readonly #breaker: BreakerSettings | undefined;
	readonly #origins: Lru<string, Guard>;
	readonly #endpoints: Lru<string, Guard>;
	/** The rate-limit windows, or undefined when pacing is off. */
	readonly windows: Windows | undefined;

	constructor(budget: BudgetSettings | undefined, breaker: BreakerSettings | undefined, pacing: boolean, random: () => number) {
		this.#budget = budget;
		this.#breaker = breaker && observed(breaker);
		this.#origins = new Lru(maxOrigins, random);
		this.#endpoints = new Lru(maxEndpoints, random);
		this.windows = pacing ? new Windows(random) : undefined;
	}

	/** The scope of a request; undefined when budget, breaker and pacing are all off. */
	scope(url: string, method: string): Scope | undefined {
		if (!this.#budget && !this.#breaker && !this.windows) {
			return undefined;
		}
		const origin = originOf(url);
		const endpoint = endpointOf(origin, method, url);
		if (!this.#budget && !this.#breaker) {
			return { origin, endpoint, connection: undefined, statuses: undefined };
		}
		let connection = this.#origins.get(origin);
		if (!connection) {
			connection = this.#guard(origin, undefined);
			this.#origins.set(origin, connection);
		}
		let statuses = this.#endpoints.get(endpoint);
		if (!statuses) {
			statuses = this.#guard(origin, endpoint.slice(origin.length + 1));
			this.#endpoints.set(endpoint, statuses);
		}
		return { origin, endpoint, connection, statuses };
	}

	#guard(origin: string, endpoint: string | undefined): Guard {
		return {
			budget: this.#budget && new RetryBudget(this.#budget),
			breaker: this.#breaker && new CircuitBreaker(origin, this.#breaker, endpoint),
		};
	}
}

// The breaker tells the diagnostics channel of every change of state, besides the user's onStateChange.
const observed = (settings: BreakerSettings): BreakerSettings => {
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
};

/** Admit the next attempt: both the origin's breaker and the endpoint's must let it through. */
export function admit(scope: Scope | undefined, now: number): number | undefined {
	const byConnection = scope?.connection?.breaker?.admit(now);
	if (byConnection && !byConnection.admitted) {
		return byConnection.retryAt;
	}
	const byStatus = scope?.statuses?.breaker?.admit(now);
	return byStatus && !byStatus.admitted ? byStatus.retryAt : undefined;
}

/**
Tell the guards how an attempt ended, at `now`, `durationMs` after it was sent. A 429 is the API pacing its callers,
alive and answering: no sign of an outage, nor of a recovery, for the endpoint; it still proves the connection.
*/
export function report(scope: Scope | undefined, outcome: Outcome, transient: boolean, now: number, durationMs: number): void {
	if (!scope) {
		return;
	}
	const { connection, statuses } = scope;
	if (outcome === 'network') {
		connection?.breaker?.failure(now, now - durationMs);
		return;
	}
	connection?.breaker?.success();
	if (outcome === 429) {
		return;
	}
	if (transient) {
		statuses?.breaker?.failure(now, now - durationMs);
	} else {
		statuses?.breaker?.success();
		statuses?.budget?.earn();
		connection?.budget?.earn();
	}
}

/**
A retry the policy allows may still be withheld: a circuit it would meet is open, or the budget of the domain the
failure speaks for is spent (the origin's after a failure of the connection, the endpoint's after a status or a timeout).
*/
export function guardDecision(scope: Scope | undefined, outcome: Outcome, decision: Decision, now: number): Decision {
	if (!scope || !decision.retry) {
		return decision;
	}
	const openUntil = scope.connection?.breaker?.retryAt ?? scope.statuses?.breaker?.retryAt;
	if (openUntil !== undefined) {
		return { retry: false, reason: 'circuit-open', retryAt: openUntil };
	}
	const budget = outcome === 'network' ? scope.connection?.budget : scope.statuses?.budget;
	if (budget && !budget.spend()) {
		return { retry: false, reason: 'budget', retryAt: now + decision.delayMs };
	}
	return decision;
}
