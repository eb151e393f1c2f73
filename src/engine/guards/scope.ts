import { isSecretHeader, isSecretName } from '../../secrets/names.ts';

/*
What a request's evidence speaks for (issue 24): a failure of the connection for its origin, a status for the endpoint
that returned it, a rate-limit window for the tenant that spent it (the credential the request carried, and the domain a
user names) and the bucket the response names, or else the endpoint. Pure functions of the request, cheap enough to run
on every call.
*/

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

// A path segment that names one thing rather than a kind of thing: it holds a digit (`42`, `cus_9s6XKz`, a UUID, a
// date) but is no version (`v1`, `v2beta1`), or is too long to be a word of a route. `/v1/customers/cus_9s6XKz/invoices`
// is the endpoint `/v1/customers/*/invoices`, so that its failures, and a window it names nothing for, are shared by
// every customer.
const version = /^v\d+(?:\.\d+)*(?:[a-z]+\d*)?$/i;
const oneThing = (segment: string): boolean => (/\d/.test(segment) && !version.test(segment)) || segment.length > 32;

/**
The endpoint a URL's request goes to: its origin, the method and the path with each segment that names one thing as `*`,
without the query (`https://api.example.com GET /v1/items/*`).
*/
export function endpointOf(origin: string, method: string, url: string): string {
	let path: string;
	if (url.startsWith(origin)) {
		path = url.slice(origin.length);
		const end = path.search(/[?#]/);
		path = end < 0 ? path : path.slice(0, end);
	} else {
		const base = (globalThis as { location?: { href: string } }).location?.href;
		path = URL.canParse(url, base) ? new URL(url, base).pathname : '';
	}
	let route = '';
	for (const segment of path.split('/')) {
		route += route === '' && segment === '' ? '' : `/${oneThing(segment) ? '*' : segment}`;
	}
	return `${origin} ${method} ${route || '/'}`;
}

// Whether a header names a credential, decided once per name: splitting a name into words runs for every header.
const secretNames = new Map<string, boolean>();
const isCredentialHeader = (name: string, extra: readonly string[]): boolean => {
	let secret = secretNames.get(name);
	if (secret === undefined) {
		secret = isSecretHeader(name, extra);
		if (secretNames.size >= 512) {
			secretNames.clear();
		}
		secretNames.set(name, secret);
	}
	return secret;
};

const entriesOf = (headers: unknown): Iterable<readonly [string, string]> => {
	if (headers === undefined || headers === null || typeof headers !== 'object') {
		return [];
	}
	if (headers instanceof Headers || Array.isArray(headers)) {
		return headers as Iterable<readonly [string, string]>;
	}
	return Object.entries(headers as Record<string, string>);
};

// cyrb53: 53 bits of a fast, well-spread hash. The tenant is kept as this, never as the credential itself, so that the
// state a client keeps (and a dump of it) holds no secret.
const hash = (text: string): string => {
	let h1 = 0xdeadbeef;
	let h2 = 0x41c6ce57;
	for (let index = 0; index < text.length; index++) {
		const code = text.charCodeAt(index);
		h1 = Math.imul(h1 ^ code, 2654435761);
		h2 = Math.imul(h2 ^ code, 1597334677);
	}
	h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
	h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
	return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
};

/**
The credential a request carries, as a hash: the values of its credential headers (`Authorization`, `X-Api-Key`, the
client's `apiKeyHeader`...), and of its credential query parameters (`?api_key=`); '' for none. Two keys are two tenants:
a window one of them spent says nothing of the other's.
*/
export function credentialOf(headers: unknown, url: string, extra: readonly string[]): string {
	let found = '';
	for (const [name, value] of entriesOf(headers)) {
		if (typeof name === 'string' && isCredentialHeader(name.toLowerCase(), extra)) {
			found += `${name.toLowerCase()}:${value}\n`;
		}
	}
	const query = url.indexOf('?');
	if (query >= 0) {
		const end = url.indexOf('#', query);
		for (const [name, value] of new URLSearchParams(url.slice(query + 1, end < 0 ? undefined : end))) {
			if (isSecretName(name)) {
				found += `?${name}=${value}\n`;
			}
		}
	}
	return found === '' ? '' : hash(found);
}

// A JSON body's `"model"`, as OpenAI-compatible APIs send it first: a look at the text, not a parse of a body that may be
// megabytes of messages.
const modelInText =
	/^\s*\{\s*(?:"[^"\\]*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|[\d.eE+-]+|true|false|null)\s*,\s*)*"model"\s*:\s*"((?:[^"\\]|\\.){1,200})"/;

/**
The domain a request names in its body when `rateLimit.key` names none: the `model` of a JSON body (the client's `json`,
or a fetch's string body), since the APIs that send it (OpenAI's, and the many compatible with it) limit requests per
model behind one endpoint; undefined for any other body.
*/
export function modelOf(body: unknown): string | undefined {
	if (typeof body === 'string') {
		return modelInText.exec(body)?.[1];
	}
	const model = typeof body === 'object' && body !== null && !ArrayBuffer.isView(body) ? (body as { model?: unknown }).model : undefined;
	return typeof model === 'string' && model.length <= 200 ? model : undefined;
}
