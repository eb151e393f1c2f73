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

/**
Where one request goes, and the guards of its origin and its endpoint. A guard exists once its domain has failed: one
that has seen nothing holds nothing (a closed breaker, a full budget), so the success path computes no endpoint and
looks nothing up but while some domain has failed.
*/
export interface Scope {
	readonly origin: string;
	readonly url: string;
	readonly method: string;
	/** `${origin} ${method} ${path with each segment that names one thing as *}`, worked out when first needed. */
	endpoint: string | undefined;
	connection: Guard | undefined;
	statuses: Guard | undefined;
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
		const scope: Scope = { origin: originOf(url), url, method, endpoint: undefined, connection: undefined, statuses: undefined };
		this.#find(scope);
		return scope;
	}

	/** The scope's endpoint, worked out once. */
	endpointOf(scope: Scope): string {
		scope.endpoint ??= endpointOf(scope.origin, scope.method, scope.url);
		return scope.endpoint;
	}

	/**
	Admit the next attempt: both the origin's breaker and the endpoint's must let it through. undefined when they do, else
	when the first probe may go.
	*/
	admit(scope: Scope | undefined, now: number): number | undefined {
		if (!scope) {
			return undefined;
		}
		this.#find(scope);
		const byConnection = scope.connection?.breaker?.admit(now);
		if (byConnection && !byConnection.admitted) {
			return byConnection.retryAt;
		}
		const byStatus = scope.statuses?.breaker?.admit(now);
		return byStatus && !byStatus.admitted ? byStatus.retryAt : undefined;
	}

	/**
	Tell the guards how an attempt ended, at `now`, `durationMs` after it was sent. A 429 is the API pacing its callers,
	alive and answering: no sign of an outage, nor of a recovery, for the endpoint; it still proves the connection.
	*/
	report(scope: Scope | undefined, outcome: Outcome, transient: boolean, now: number, durationMs: number): void {
		if (!scope || (!this.#budget && !this.#breaker)) {
			return;
		}
		if (outcome === 'network') {
			this.#connection(scope).breaker?.failure(now, now - durationMs);
			return;
		}
		this.#find(scope);
		const { connection } = scope;
		connection?.breaker?.success();
		if (outcome === 429) {
			return;
		}
		if (transient) {
			this.#statuses(scope).breaker?.failure(now, now - durationMs);
		} else {
			scope.statuses?.breaker?.success();
			scope.statuses?.budget?.earn();
			connection?.budget?.earn();
		}
	}

	/**
	A retry the policy allows may still be withheld: a circuit it would meet is open, or the budget of the domain the
	failure speaks for is spent (the origin's after a failure of the connection, the endpoint's after a status or a timeout).
	*/
	guardDecision(scope: Scope | undefined, outcome: Outcome, decision: Decision, now: number): Decision {
		if (!scope || !decision.retry || (!this.#budget && !this.#breaker)) {
			return decision;
		}
		this.#find(scope);
		const openUntil = scope.connection?.breaker?.retryAt ?? scope.statuses?.breaker?.retryAt;
		if (openUntil !== undefined) {
			return { retry: false, reason: 'circuit-open', retryAt: openUntil };
		}
		const budget = outcome === 'network' ? this.#connection(scope).budget : this.#statuses(scope).budget;
		if (budget && !budget.spend()) {
			return { retry: false, reason: 'budget', retryAt: now + decision.delayMs };
		}
		return decision;
	}

	// The guards its domains have, once some domain has failed (another call's failure may have made them since).
	#find(scope: Scope): void {
		if (!scope.connection && this.#origins.size > 0) {
			scope.connection = this.#origins.get(scope.origin);
		}
		if (!scope.statuses && this.#endpoints.size > 0) {
			scope.statuses = this.#endpoints.get(this.endpointOf(scope));
		}
	}

	#connection(scope: Scope): Guard {
		if (!scope.connection) {
			scope.connection = this.#origins.get(scope.origin) ?? this.#guard(scope.origin, undefined);
			this.#origins.set(scope.origin, scope.connection);
		}
		return scope.connection;
	}

	#statuses(scope: Scope): Guard {
		if (!scope.statuses) {
			const endpoint = this.endpointOf(scope);
			scope.statuses = this.#endpoints.get(endpoint) ?? this.#guard(scope.origin, endpoint.slice(scope.origin.length + 1));
			this.#endpoints.set(endpoint, scope.statuses);
		}
		return scope.statuses;
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
