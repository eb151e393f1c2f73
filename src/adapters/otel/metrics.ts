import type { Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';

/*
The metrics of `steadfetch/otel`, named as docs/observing.md lists them: the semantic conventions' where they exist,
`steadfetch.*` where they do not (the conventions' `http.client.request.duration` times one request, not a call).
*/

/** The states a breaker's gauge reports, one point each per origin. */
export const breakerStates: readonly ['closed', 'open', 'half-open'] = ['closed', 'open', 'half-open'];

// The semantic conventions' advice for HTTP durations, and longer: a call's retries and waits add up.
const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120];

/** The instruments `instrument()` records to. */
export interface Instruments {
	readonly attempts: Counter;
	readonly retries: Counter;
	readonly withheld: Counter;
	readonly duration: Histogram;
	readonly pacing: Counter;
	readonly transitions: Counter;
	readonly breakerGauge: ObservableGauge;
}

/** Create every instrument on `meter`. */
export function createInstruments(meter: Meter): Instruments {
	const attempts = meter.createCounter('steadfetch.attempts', { unit: '{attempt}', description: 'Requests sent, by outcome.' });
	const retries = meter.createCounter('steadfetch.retries', { unit: '{retry}', description: 'Retries scheduled, by what failed.' });
	const withheld = meter.createCounter('steadfetch.withheld_retries', {
		unit: '{retry}',
		description: 'Retries the policy allowed and a guard withheld, by reason.',
	});
	const duration = meter.createHistogram('steadfetch.call.duration', {
		unit: 's',
		description: 'Duration of logical calls, every attempt and wait included.',
		advice: { explicitBucketBoundaries: durationBuckets },
	});
	const pacing = meter.createCounter('steadfetch.pacing.waits', {
		unit: '{wait}',
		description: "Calls held back (or refused) until their origin's rate-limit reset.",
	});
	const transitions = meter.createCounter('steadfetch.breaker.transitions', {
		unit: '{transition}',
		description: 'Circuit breaker changes of state, by the state entered.',
	});
	const breakerGauge = meter.createObservableGauge('steadfetch.breaker.status', {
		unit: '1',
		description: "1 for the breaker's current state of an origin, 0 for the others; origins whose breaker changed state.",
	});
	return { attempts, retries, withheld, duration, pacing, transitions, breakerGauge };
}
