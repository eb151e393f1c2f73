import { type Attributes, context, createContextKey } from '@opentelemetry/api';
import type { AttemptPlace } from '../../engine/diagnostics.ts';
import { secretsOf } from '../../secrets/headers.ts';
import { redactor } from '../../secrets/redactor.ts';
import { conventionalUrl } from './conventions.ts';
import { reportOnce } from './failures.ts';

/** What the request sent in the active context belongs to: kept by `instrument()` for each attempt's request. */
export interface AttemptContext {
	/** The resends of the call before the request being sent: 0 for its first. */
	readonly resends: number;
	/** The call's place, whose secrets the request's URL is redacted with; absent when an older steadfetch sends. */
	readonly place: AttemptPlace | undefined;
}

/** The context key of the call whose request is being sent: set once per call, in the context its requests run in. */
export const attemptKey: symbol = createContextKey('steadfetch attempt');

/** What `requestAttributes` reads of the undici instrumentation's request: its origin, its path and query, its headers as sent. */
export interface UndiciRequestLike {
	readonly origin?: unknown;
	readonly path?: unknown;
	/** `[name, value, ...]` (undici 6 and later, a value may be a list) or `name: value\r\n` lines (undici 5). */
	readonly headers?: unknown;
}

const report = reportOnce('requestAttributes()');

// The headers undici hands its channels, as Headers: what `secretsOf` reads the credentials the request sent from.
const headersOf = (raw: unknown): Headers => {
	const headers = new Headers();
	const append = (name: unknown, value: unknown): void => {
		try {
			headers.append(String(name).trim(), String(value).trim());
		} catch {
			// A name or value Headers refuses: no credential header of ours, or masked by its name in the URL anyway.
		}
	};
	if (Array.isArray(raw)) {
		for (let index = 0; index + 1 < raw.length; index += 2) {
			const value: unknown = raw[index + 1];
			for (const each of Array.isArray(value) ? value : [value]) {
				append(raw[index], each);
			}
		}
	} else if (typeof raw === 'string') {
		for (const line of raw.split('\r\n')) {
			const colon = line.indexOf(':');
			if (colon > 0) {
				append(line.slice(0, colon), line.slice(colon + 1));
			}
		}
	}
	return headers;
};

/**
What steadfetch knows of a request the undici instrumentation is about to make a span for: its URL redacted as
steadfetch redacts the call's (`url.full`, `url.path`, `url.query`: the instrumentation's own, which come in clear, are
replaced by these), and `http.request.resend_count` on a resend of a call (1, 2...; the conventions set none on the
first request). Made for the `startSpanHook` of `@opentelemetry/instrumentation-undici`, whose attributes it returns
last, over its own. Inside a steadfetch call (while `instrument()` is on) the call's secrets are masked: every
credential it sent, wherever it reappears; outside one, the credentials of the request's own headers. Names the
conventions and steadfetch know mark a value in any URL: user-info as `REDACTED:REDACTED@`, `AWSAccessKeyId`,
`Signature`, `sig`, `X-Goog-Signature`, `X-Amz-Credential`, `api_key`, `access_token`... as `REDACTED`. Never throws.

@example
```ts
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { instrument, requestAttributes } from 'steadfetch/otel';
new UndiciInstrumentation({ startSpanHook: requestAttributes });
instrument({ attemptSpans: false });
```
*/
export function requestAttributes(request?: UndiciRequestLike): Attributes {
	try {
		const attempt = context.active().getValue(attemptKey) as AttemptContext | undefined;
		const attributes: Attributes = attempt && attempt.resends > 0 ? { 'http.request.resend_count': attempt.resends } : {};
		const { origin, path } = request ?? {};
		if (typeof origin !== 'string' || typeof path !== 'string' || !URL.canParse(path, origin)) {
			return attributes;
		}
		const url = new URL(path, origin).href;
		const redacted = attempt?.place
			? attempt.place.redactUrl(url)
			: redactor(secretsOf({ url, headers: headersOf(request?.headers) }, [])).url(url);
		const parsed = URL.canParse(redacted) ? new URL(redacted) : undefined;
		attributes['url.full'] = conventionalUrl(redacted);
		attributes['url.path'] = conventionalUrl(parsed?.pathname ?? '');
		// Without the `?`, as the conventions write it (the instrumentation 0.34 keeps it).
		attributes['url.query'] = conventionalUrl(parsed?.search.slice(1) ?? '');
		return attributes;
	} catch (error) {
		report(error);
		return {};
	}
}
