import { type CatalogEntry, lookupAdvice } from '../catalog/parse.ts';
import { secretsOf } from '../secrets/headers.ts';
import { type Redactor, redactor } from '../secrets/redactor.ts';
import type { AttemptRecord, Decision, Outcome, ProblemDetails, SteadfetchError } from '../types.ts';
import { boundData, type ErrorDetails, safeCause, safeData } from './base.ts';
import { CircuitOpenError } from './circuit.ts';
import { createHttpError } from './http.ts';
import { FetchNetworkError, NetworkError } from './network.ts';
import { networkCode } from './network-code.ts';
import { problemOf, reasonLine, reasonOf } from './reason.ts';
import { TimeoutError } from './timeout.ts';

/** Everything known about a failed call, from the client, the drop-in fetch or a job. */
export interface FailureReport {
	readonly catalog: Readonly<Record<string, CatalogEntry>>;
	/** Literal secrets (the API key), masked wherever they appear, with every value the request's credentials carry. */
	readonly secrets: readonly string[];
	/** Header names whose values are credentials beyond the usual ones (the API key's header). */
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
	/** Records left out of `history` (the middle of a long job). */
	readonly historyOmitted?: number;
	/** The option whose deadline bounds the call, named in a deadline stop: `totalTimeout` unless given. */
	readonly deadlineOption?: string | undefined;
	/** The retry decision on the last attempt: a retry about to happen, or why retrying stopped. */
	readonly decision: Decision | undefined;
	/** The time of the report, in epoch milliseconds: a retry about to happen is due at `now + decision.delayMs`. */
	readonly now: number;
	/** The runtime's error, for network failures. */
	readonly cause?: unknown;
	/** `fetch` keeps fetch's rejection shape: a network failure is a `TypeError`. */
	readonly shape?: 'ky' | 'fetch';
}

// The drop-in fetch keeps the runtime's message, which may quote the URL (Deno, browsers).
const messageOf = (cause: unknown, redact: Redactor): string | undefined =>
	cause instanceof Error ? redact.text(cause.message) : undefined;

// A problem's members bounded as `data` is: a body too large to keep whole keeps only its five standard members.
const boundProblem = (problem: ProblemDetails): ProblemDetails =>
	Object.freeze(Object.fromEntries(Object.entries(problem).map(([key, value]) => [key, boundData(value)])));

/**
The enriched error for a failure: the class for its status or kind, the docs' advice, the history, nothing secret. The
secrets are the request's (its credential headers, query and matrix parameters, and the literal `secrets`): masked here,
once, in every field the error keeps (URL, reason phrase, data, response headers, cause chain, request copy).
*/
export function createError(report: FailureReport): SteadfetchError {
	const { outcome, request, response, decision, retryable } = report;
	const redact = redactor(secretsOf(request, report.secrets, report.secretHeaders), report.secretHeaders);
	const stopped = decision && !decision.retry ? decision : undefined;
	const advice = lookupAdvice(report.catalog, outcome);
	// Withheld retries explain themselves: the service is failing broadly, not just this request.
	const guarded =
		stopped?.reason === 'budget'
			? lookupAdvice(report.catalog, 'budget')
			: stopped?.reason === 'circuit-open'
				? lookupAdvice(report.catalog, 'circuit')
				: advice;
	// A status the docs do not name keeps the server's reason phrase before the class's title.
	const title = (response && (report.catalog[String(outcome)]?.title || redact.text(response.statusText))) || advice.title;
	const data = safeData(report.data, redact);
	// safeData keeps a body too large to keep whole as its text: a problem that large keeps only its standard members.
	const problem = response && problemOf(report.data, response, typeof data !== 'string');
	const said = response && reasonOf(report.data, response, problem);
	const failedToConnect = outcome === 'network' || outcome === 'body';
	const details: ErrorDetails = {
		kind: typeof outcome === 'number' ? 'http' : outcome === 'body' ? 'network' : outcome,
		status: response?.status,
		title,
		description: advice.description,
		advice: { cause: guarded.cause, solution: guarded.solution },
		method: request.method,
		url: redact.url(request.url),
		data,
		problem: problem && boundProblem(redact.data(problem) as ProblemDetails),
		reason: said && reasonLine(said, redact, title),
		code: failedToConnect ? networkCode(report.cause) : undefined,
		attempts: report.attempts,
		history: report.history,
		historyOmitted: report.historyOmitted ?? 0,
		deadlineOption: report.deadlineOption ?? 'totalTimeout',
		retryable,
		retryAt: retryable ? (decision?.retry ? report.now + decision.delayMs : stopped?.retryAt) : undefined,
		stopReason: retryable ? stopped?.reason : undefined,
		cause: failedToConnect ? safeCause(report.cause, redact) : undefined,
	};
	const init = { details, headers: request.headers, redact };
	if (response) {
		return createHttpError({ ...init, response });
	}
	if (outcome === 'circuit') {
		return new CircuitOpenError(init);
	}
	if (outcome === 'network' || outcome === 'body') {
		return report.shape === 'fetch' ? new FetchNetworkError({ ...init, message: messageOf(report.cause, redact) }) : new NetworkError(init);
	}
	return new TimeoutError(init);
}
