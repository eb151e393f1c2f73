import { headerValueError } from './header-values.ts';
import { redactUrl } from './urls.ts';

// The runtime's own errors for bad input quote it: a malformed URL whole, query string and all (Node: "Failed to parse
// URL from …", Deno: "Invalid URL: '…'", Node's URL parser: `input` and `base` fields), a URL with credentials (undici,
// browsers: "…cannot be constructed from a URL that includes credentials: …"), a bad header value whole (undici:
// 'Headers.append: "…" is an invalid header value.') or a character of it ("Cannot convert argument to a ByteString…").
// Such input never reached the network; the copy says what was wrong without the secret it may hold.
const quotedUrl = /(Failed to parse URL from |Invalid URL: |URL that includes credentials: )'?(.*?)'?$/s;
const badHeaderValue = /is an invalid header value/;

// A fresh TypeError, without the original's fields (`input`, `base`) or cause, keeping its frames.
const fresh = (error: Error, message: string): TypeError => {
	const copy = new TypeError(message);
	const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
	copy.stack = [`TypeError: ${message}`, ...frames].join('\n');
	return copy;
};

/**
The runtime's error for a malformed URL, a URL with credentials or a bad header value, rewritten: URLs redacted, the
header named (from `headers`, the `HeadersInit` the call was given) and its value left out. Any other error as it is.
*/
export function sanitizeRuntimeError(error: unknown, secrets: readonly string[] = [], headers?: unknown): unknown {
	if (!(error instanceof TypeError)) {
		return error;
	}
	const { code, input } = error as { code?: unknown; input?: unknown };
	if (code === 'ERR_INVALID_URL') {
		return fresh(error, typeof input === 'string' ? `Invalid URL: ${redactUrl(input, secrets)}` : 'Invalid URL');
	}
	const url = quotedUrl.exec(error.message);
	if (url) {
		const [whole, lead = '', quoted = ''] = url;
		const before = error.message.slice(0, -whole.length);
		return fresh(error, `${lead.startsWith('Failed') ? `${before}Invalid URL: ` : `${before}${lead}`}${redactUrl(quoted, secrets)}`);
	}
	const named = headerValueError(headers);
	if (badHeaderValue.test(error.message) || (named && /ByteString/.test(error.message))) {
		return fresh(error, named?.message ?? 'A header value is invalid: it holds CR, LF or NUL (the value is not shown).');
	}
	return error;
}

/** `new Headers(init)`, whose error names the header and never quotes its value. */
export function safeHeaders(init: unknown): Headers {
	try {
		return new Headers(init as HeadersInit);
	} catch (error) {
		throw sanitizeRuntimeError(error, [], init);
	}
}

/**
A Request that describes a call for its error: the URL without user-info (a Request cannot hold it, and the runtime's
error would quote it), the method and headers when a Request can hold them. Never throws.
*/
export function describeRequest(url: string, init: RequestInit): Request {
	let href = url;
	if (URL.canParse(url)) {
		const parsed = new URL(url);
		parsed.username = '';
		parsed.password = '';
		href = parsed.href;
	}
	for (const attempt of [init, init.method ? { method: init.method } : {}, {}] as RequestInit[]) {
		try {
			return new Request(href, attempt);
		} catch {
			// A method fetch forbids, a header a custom fetch took but a Request refuses: keep less.
		}
	}
	return new Request('about:blank');
}
