import { type CatalogEntry, lookupAdvice } from '../catalog.ts';
import { redactUrl } from '../redact.ts';
import type { AttemptRecord, Decision, Outcome, SteadfetchError } from '../types.ts';
import { type ErrorDetails, safeCause } from './base.ts';
import { CircuitOpenError } from './circuit.ts';
import { createHttpError } from './http.ts';
import { FetchNetworkError, NetworkError } from './network.ts';
import { TimeoutError } from './timeout.ts';

/** Everything known about a failed call, from the client, the drop-in fetch or a job. */
export interface FailureReport {
	readonly catalog: Readonly<Record<string, CatalogEntry>>;
	readonly secrets: readonly string[];
	readonly secretHeaders: readonly string[];
	/** How the call ended: a status, a failure without a response, a refusal by the open circuit, or a success whose body was cut off. */
	readonly outcome: Outcome | 'circuit' | 'body';
	/** Whether the policy counts the outcome as transient. */
	readonly retryable: boolean;
	/** The request as sent (it is copied with secrets masked, never kept). */
	readonly request: Request;
	readonly response?: Response | undefined;
	readonly data?: unknown;
	readonly attempts: number;
	readonly history: readonly AttemptRecord[];
	/** The retry decision on the last attempt: a retry about to happen, or why retrying stopped. */
	readonly decision: Decision | undefined;
	/** The time of the report, in epoch milliseconds: a retry about to happen is due at `now + decision.delayMs`. */
	readonly now: number;
	/** The runtime's error, for network failures. */
	readonly cause?: unknown;
	/** `fetch` keeps fetch's rejection shape: a network failure is a `TypeError`. */
	readonly shape?: 'ky' | 'fetch';
}

/** The enriched error for a failure: the class for its status or kind, the docs' advice, the history, nothing secret. */
export function createError(report: FailureReport): SteadfetchError {
	const { outcome, request, response, decision, retryable } = report;
	const stopped = decision && !decision.retry ? decision : undefined;
	const advice = lookupAdvice(report.catalog, outcome);
	// Withheld retries explain themselves: the service is failing broadly, not just this request.
	const guarded =
		stopped?.reason === 'budget'
			? lookupAdvice(report.catalog, 'budget')
			: stopped?.reason === 'circuit-open'
				? lookupAdvice(report.catalog, 'circuit')
				: advice;
	const details: ErrorDetails = {
		kind: typeof outcome === 'number' ? 'http' : outcome === 'body' ? 'network' : outcome,
		status: response?.status,
		// A status the docs do not name keeps the server's reason phrase before the class's title.
		title: (response && (report.catalog[String(outcome)]?.title || response.statusText)) || advice.title,
		description: advice.description,
		advice: { cause: guarded.cause, solution: guarded.solution },
		method: request.method,
		url: redactUrl(request.url, report.secrets),
		data: report.data,
		attempts: report.attempts,
		history: report.history,
		retryable,
		retryAt: retryable ? (decision?.retry ? report.now + decision.delayMs : stopped?.retryAt) : undefined,
		stopReason: retryable ? stopped?.reason : undefined,
		cause: outcome === 'network' || outcome === 'body' ? safeCause(report.cause, report.secrets) : undefined,
	};
	const init = { details, headers: request.headers, secretHeaders: report.secretHeaders };
	if (response) {
		return createHttpError({ ...init, response });
	}
	if (outcome === 'circuit') {
		return new CircuitOpenError(init);
	}
	if (outcome === 'network' || outcome === 'body') {
		return report.shape === 'fetch'
			? new FetchNetworkError({ ...init, message: (report.cause as Error | undefined)?.message })
			: new NetworkError(init);
	}
	return new TimeoutError(init);
}
