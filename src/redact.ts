/** What stands in for a secret in every rendering of an error. */
export const mask = '***';

// Query parameters that carry credentials: api_key, apikey, key, token, access_token, client_secret,
// password, signature, sig (Azure SAS), X-Amz-Signature / X-Amz-Credential / X-Amz-Security-Token, session ids, JWTs.
const secretParameter =
	/(?:^|[-_.])(?:api[-_]?key|apikey|key|token|secret|passw(?:or)?d|pwd|signature|sig|auth|authorization|credentials?|session(?:[-_]?id)?|sid|jwt)$/i;
// Headers that carry credentials: Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-API-Key, X-Auth-Token...
const secretHeader = /auth|cookie|token|secret|passw|signature|session|credential|(?:^|-)(?:api-?)?key$/i;
const notSecretHeader = /^idempotency-key$/i;
const urlInText = /\bhttps?:\/\/[^\s"'<>`()]+/gi;

const replaceSecrets = (text: string, secrets: readonly string[]): string => {
	let result = text;
	for (const secret of secrets) {
		if (secret) {
			result = result.replaceAll(secret, mask).replaceAll(encodeURIComponent(secret), mask);
		}
	}
	return result;
};

/**
The URL with user-info, credential query parameters, the fragment and any known secret value replaced by `***`.

`secrets` are literal values (such as the client's API key) to mask wherever they stand, path included.
*/
export function redactUrl(url: string | URL, secrets: readonly string[] = []): string {
	let parsed: URL;
	try {
		parsed = new URL(url);
	} catch {
		// Unparsable: keep only what precedes a query or fragment, which is where secrets usually are.
		return replaceSecrets(String(url).replace(/[?#].*$/s, ''), secrets);
	}
	const hadUserInfo = parsed.username !== '' || parsed.password !== '';
	parsed.username = '';
	parsed.password = '';
	parsed.hash = '';
	const query = [...parsed.searchParams].some(([name]) => secretParameter.test(name));
	if (query) {
		const parameters = new URLSearchParams();
		for (const [name, value] of parsed.searchParams) {
			parameters.append(name, secretParameter.test(name) ? mask : value);
		}
		parsed.search = parameters.toString();
	}
	let result = parsed.href;
	if (hadUserInfo) {
		result = result.replace('//', `//${mask}@`);
	}
	return replaceSecrets(result, secrets);
}

/** The text with every URL in it redacted and every known secret masked. */
export function redactText(text: string, secrets: readonly string[] = []): string {
	return replaceSecrets(
		text.replaceAll(urlInText, (url) => redactUrl(url, secrets)),
		secrets,
	);
}

/** True for a header whose value is a credential. */
export const isSecretHeader = (name: string, extra: readonly string[] = []): boolean =>
	(secretHeader.test(name) && !notSecretHeader.test(name)) || extra.some((header) => header.toLowerCase() === name.toLowerCase());

/** A copy of the headers with every credential's value replaced by `***`. */
export function redactHeaders(headers: Headers, extra: readonly string[] = []): Headers {
	const copy = new Headers();
	for (const [name, value] of headers) {
		copy.append(name, isSecretHeader(name, extra) ? mask : value);
	}
	return copy;
}

// The runtime's own errors for bad input quote it: a malformed URL whole, query string and all (Node: "Failed to parse
// URL from …", Deno: "Invalid URL: '…'"), a bad header value whole (undici: 'Headers.append: "…" is an invalid header
// value.'). Such input never reached the network; the copy says what was wrong without the secret it may hold.
const unparsable = /^(?:Failed to parse URL from |Invalid URL: )'?(.*?)'?$/s;
const badHeaderValue = /is an invalid header value/;

/** The runtime's error for a malformed URL or header value, with the URL redacted and the value left out; any other error as it is. */
export function sanitizeRuntimeError(error: unknown, secrets: readonly string[] = []): unknown {
	if (!(error instanceof TypeError)) {
		return error;
	}
	const url = unparsable.exec(error.message);
	if (url) {
		return new TypeError(`Invalid URL: ${redactUrl(url[1] ?? '', secrets)}`);
	}
	return badHeaderValue.test(error.message)
		? new TypeError('A header value is invalid: it holds CR, LF or NUL (the value is not shown).')
		: error;
}
