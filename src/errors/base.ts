import { mask } from '../secrets/names.ts';
import type { Redactor } from '../secrets/redactor.ts';
import type { Advice, AttemptRecord, ErrorKind, ProblemDetails, SteadfetchError, SteadfetchErrorJson, StopReason } from '../types.ts';
import { describeCode } from './network-code.ts';

// A brand that survives realms (iframes, workers' messages aside) and duplicate copies of the package, where instanceof does not.
const brand: unique symbol = Symbol.for('steadfetch.error') as never;
const redactedUrl: unique symbol = Symbol('url') as never;

/** What the factories hand to an error's constructor. */
export interface ErrorDetails {
	readonly kind: ErrorKind;
	readonly status: number | undefined;
	readonly title: string;
	readonly description: string;
	readonly advice: Advice;
	readonly method: string;
	/** Already redacted. */
	readonly url: string;
	readonly data: unknown;
	/** The body as problem details, already redacted and bounded. */
	readonly problem: ProblemDetails | undefined;
	/** What the server said went wrong: redacted, one line, bounded (reason.ts). */
	readonly reason: string | undefined;
	/** The runtime's error code when no response arrived (network-code.ts). */
	readonly code: string | undefined;
	readonly attempts: number;
	readonly history: readonly AttemptRecord[];
	readonly historyOmitted: number;
	readonly retryable: boolean;
	readonly retryAt: number | undefined;
	readonly stopReason: StopReason | undefined;
	/** The option whose deadline stopped the call, in the user's terms: `totalTimeout`, or a job's `maxRetryTime`. */
	readonly deadlineOption: string;
	readonly cause: Error | undefined;
}

// 8 KiB of UTF-8, as a log line or a queue's job record counts it: in UTF-16 units, 8192 euro signs would be 24 KB.
const maxDataBytes = 8192;

// Where a text passes `maxDataBytes` in UTF-8, on a character boundary (encodeInto never writes part of one); undefined
// when it fits. No UTF-16 unit takes more than 3 bytes, so a short text is not encoded at all.
const cutOf = (text: string): number | undefined => {
	if (text.length * 3 <= maxDataBytes) {
		return undefined;
	}
	const { read } = new TextEncoder().encodeInto(text, new Uint8Array(maxDataBytes));
	return read < text.length ? read : undefined;
};

/** The body kept on an error: small values as they are, large ones as a text excerpt of at most 8 KiB of UTF-8. */
export function boundData(data: unknown): unknown {
	if (data === undefined || data === null || typeof data === 'number' || typeof data === 'boolean') {
		return data;
	}
	let text: string;
	try {
		text = typeof data === 'string' ? data : (JSON.stringify(data) ?? '');
	} catch {
		return undefined;
	}
	const cut = cutOf(text);
	return cut === undefined ? data : `${text.slice(0, cut)}… (${new TextEncoder().encode(text.slice(cut)).length} more bytes)`;
}

/**
The body kept on an error, its secrets masked: before it is cut, so that no part of a secret survives the cut. A body too
large to keep whole is kept as the masked text of its JSON (walking it could run out of stack).
*/
export function safeData(data: unknown, redact: Redactor): unknown {
	if (typeof data !== 'object' || data === null) {
		return typeof data === 'string' ? redact.text(data) : data;
	}
	let text: string | undefined;
	try {
		text = JSON.stringify(data);
	} catch {
		return undefined;
	}
	return text !== undefined && cutOf(text) !== undefined ? redact.text(text) : redact.data(data);
}

/**
A copy of an underlying error that is safe to keep as `cause`: name, redacted message and `code`, down a short chain.
Low-level errors can quote URLs (Deno) or header values (undici).
*/
export function safeCause(error: unknown, redact: Redactor, depth = 3): Error | undefined {
	if (!(error instanceof Error) || depth === 0) {
		return undefined;
	}
	const cause = safeCause(error.cause, redact, depth - 1);
	// A TypeError stays one (fetch's network failures are, and code written for ky tests `cause instanceof TypeError`).
	const copy = new (error instanceof TypeError ? TypeError : Error)(redact.text(error.message), cause ? { cause } : undefined);
	copy.name = error.name;
	copy.stack = `${copy.name}: ${copy.message}`;
	const { code } = codeOf(error);
	if (code) {
		// A custom fetch's error may put anything in its code.
		Object.defineProperty(copy, 'code', { value: redact.text(code), enumerable: true });
	}
	return copy;
}

const notRetriedNote: Partial<Record<StopReason, string>> = {
	'not-idempotent': ' Not retried: the method is not idempotent and the request has no Idempotency-Key header.',
	'wait-over-cap': ' Not retried: the server asked for a longer wait than retry.maxDelayMs allows.',
	deadline: ' Not retried: the wait would run past {deadline}.',
	'rate-limited': " Not sent: the API's rate limit for this call's window is spent until later than retry.maxDelayMs allows.",
	budget: ' Not retried: the retry budget for this endpoint is spent.',
	'circuit-open': ' Not retried: the circuit breaker for this endpoint, or its origin, is open.',
	allowance: " Not retried: the job's retries are spent.",
	declined: ' Not retried: retry.shouldRetry said no.',
};
// Stops after which the time to come back is the news.
const waitStops = new Set<StopReason | undefined>(['wait-over-cap', 'deadline', 'budget', 'circuit-open', 'rate-limited']);

/**
The one-line message: status, method, redacted URL, attempts, description, what the server said or the runtime's code,
solution. Of the body, only the server's own short reason, bounded and redacted.
*/
export function formatMessage(details: ErrorDetails): string {
	const what = details.kind === 'http' ? String(details.status) : details.title;
	const attempts = details.attempts > 1 ? ` (${details.attempts} attempts)` : '';
	// The docs' description as written, then what the runtime or the server said of this failure.
	const code = details.code ? ` ${describeCode(details.code)}.` : '';
	const reason = details.reason ? ` The server said: "${details.reason}"${/[.!?…]$/.test(details.reason) ? '' : '.'}` : '';
	const solution = details.advice.solution ? ` Solution: ${details.advice.solution}` : '';
	const note = ((details.kind !== 'circuit' && details.stopReason && notRetriedNote[details.stopReason]) || '').replace(
		'{deadline}',
		details.deadlineOption,
	);
	const when =
		details.retryAt !== undefined && waitStops.has(details.stopReason) ? ` Retry after ${new Date(details.retryAt).toISOString()}.` : '';
	return `${what} ${details.method} ${details.url}${attempts}: ${details.description || details.title}${code}${reason}${solution}${note}${when}`;
}

/** What every error class is built from: its details and the request's original headers (the error keeps redacted copies). */
export interface FailureInit {
	readonly details: ErrorDetails;
	readonly headers: Headers;
	/** Hides the call's secrets: credential headers by name, the values the call sent wherever they appear. */
	readonly redact: Redactor;
}

/**
A stand-in for the request that failed, safe to keep: redacted URL (user-info dropped, as Request refuses it) and headers.
*/
export function safeRequest({ details, headers, redact }: FailureInit): Request {
	const init = { method: details.method, headers: redact.headers(headers) };
	const href = details.url.replace(`//${mask}@`, '//');
	try {
		return new Request(href, init);
	} catch {
		// Methods fetch forbids (CONNECT, TRACE) or an unparsable URL never reached the network; keep what can be kept.
		return new Request(URL.canParse(href) ? href : 'about:blank');
	}
}

const hidden = (value: unknown): PropertyDescriptor => ({
	value,
	enumerable: false,
	writable: true,
	configurable: true,
});
const shown = (value: unknown): PropertyDescriptor => ({
	value,
	enumerable: true,
	writable: true,
	configurable: true,
});

/**
Give a freshly built error its name, message, fields and brand. The ky objects it inherits (`request`, `response`, `options`) are already sanitized copies; they are made non-enumerable so that logs show steadfetch's fields.
*/
export function decorate(error: Error, name: string, details: ErrorDetails): void {
	const message = formatMessage(details);
	const frames = (error.stack ?? '').split('\n').slice(1).join('\n');
	Object.defineProperties(error, {
		name: hidden(name),
		message: hidden(message),
		// The stack's first line was built from ky's message; rebuild it from ours.
		stack: hidden(frames ? `${name}: ${message}\n${frames}` : `${name}: ${message}`),
		status: shown(details.status),
		code: shown(details.code),
		title: shown(details.title),
		description: shown(details.description),
		advice: shown(Object.freeze({ ...details.advice })),
		problem: shown(details.problem),
		data: shown(boundData(details.data)),
		attempts: shown(details.attempts),
		history: shown(Object.freeze(details.history.map((record) => Object.freeze({ ...record })))),
		historyOmitted: shown(details.historyOmitted),
		retryable: shown(details.retryable),
		retryAt: shown(details.retryAt === undefined ? undefined : new Date(details.retryAt)),
		stopReason: shown(details.stopReason),
		[brand]: hidden(details.kind),
		[redactedUrl]: hidden(details.url),
	});
	for (const key of ['request', 'response', 'options']) {
		if (Object.hasOwn(error, key)) {
			Object.defineProperty(error, key, hidden((error as unknown as Record<string, unknown>)[key]));
		}
	}
	if (details.cause) {
		Object.defineProperty(error, 'cause', hidden(details.cause));
	}
}

const codeOf = (error: Error): { code?: string } => {
	try {
		const { code } = error as { code?: unknown };
		return typeof code === 'string' ? { code } : {};
	} catch {
		// A getter that throws (an error of a custom fetch's making) names no code.
		return {};
	}
};

/** The shared `toJSON` of every steadfetch error. */
export function toJson(error: SteadfetchError): SteadfetchErrorJson {
	const { cause } = error;
	return {
		name: error.name,
		message: error.message,
		...(error.status === undefined ? {} : { status: error.status }),
		...(error.code === undefined ? {} : { code: error.code }),
		title: error.title,
		description: error.description,
		advice: error.advice,
		request: {
			method: error.request.method,
			url: (error as { [redactedUrl]?: string })[redactedUrl] ?? '',
		},
		...(error.problem === undefined ? {} : { problem: error.problem }),
		...(error.data === undefined ? {} : { data: error.data }),
		attempts: error.attempts,
		history: error.history,
		...(error.historyOmitted ? { historyOmitted: error.historyOmitted } : {}),
		retryable: error.retryable,
		...(error.retryAt ? { retryAt: error.retryAt.toISOString() } : {}),
		...(error.stopReason ? { stopReason: error.stopReason } : {}),
		...(cause instanceof Error
			? {
					cause: { name: cause.name, message: cause.message, ...codeOf(cause) },
				}
			: {}),
	};
}

/** The kind of a steadfetch error, read from its brand; undefined for anything else. */
export const errorKind = (value: unknown): ErrorKind | undefined =>
	typeof value === 'object' && value !== null ? ((value as { [brand]?: ErrorKind })[brand] ?? undefined) : undefined;
