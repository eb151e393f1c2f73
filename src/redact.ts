/*
Redaction, for everything steadfetch throws or hands to a callback. Two kinds of masking, documented in docs/errors.md:
by name (a credential's header, query or matrix parameter, URL user-info: masked whatever the value) and by value (the
secrets one call sent, searched for in free text in every encoding they travel in, when at least `minSecretLength` long).
*/

/** What stands in for a secret in every rendering of an error. */
export const mask = '***';

/** Secret values shorter than this are masked only where their name marks them: free text is never searched for them. */
export const minSecretLength = 6;

// The rule for names (headers, query and matrix parameters): split into words; a credential word, a word with a
// credential ending, or two neighbouring words that join into one (app id), marks a credential, unless the word is one
// of the ordinary ones (a page token pages, an idempotency key deduplicates). spec/redact.spec.ts holds real APIs to it.
const credentialWords = new Set(
	'key apikey accesskey secretkey privatekey token secret password passwd pwd pass passphrase otp auth authorization credential credentials bearer jwt signature sig session sessionid sid cookie cookies appid hmac verifier assertion'.split(
		' ',
	),
);
// A word that ends in `key` marks a credential only after one of these stems (`authkey`, `x-appkey`): `key` alone ends
// too many ordinary words (monkey, turkey, hockey, whiskey).
const credentialEndings = [
	...'token secret password passwd accesskeyid sessionid sessid'.split(' '),
	...'api auth app ws service license user master dev client subscription account signing secret private access'
		.split(' ')
		.map((stem) => `${stem}key`),
];
const ordinaryWords = new Set([
	...'idempotency public sort partition primary foreign cache routing'.split(' ').map((word) => `${word}key`),
	...'page nextpage next continuation sync resume skip delta'.split(' ').map((word) => `${word}token`),
]);

const wordsOf = (name: string): string[] =>
	name
		.replace(/([a-z\d])([A-Z])/g, '$1 $2')
		.replace(/([A-Z]{2,})([A-Z][a-z])/g, '$1 $2')
		.replace(/([a-z])(\d)/gi, '$1 $2')
		.toLowerCase()
		.split(/[^a-z\d]+/)
		.filter(Boolean);

const isCredentialWord = (word: string): boolean =>
	!ordinaryWords.has(word) && (credentialWords.has(word) || credentialEndings.some((ending) => word.endsWith(ending)));

/** True for a header, query or matrix parameter name that carries a credential (`X-Api-Key`, `access_token`, `appid`...). */
export function isSecretName(name: string): boolean {
	const words = wordsOf(name);
	return words.some((word, index) => {
		const joined = index > 0 ? `${words[index - 1]}${word}` : '';
		return !ordinaryWords.has(joined) && (isCredentialWord(word) || (joined !== '' && isCredentialWord(joined)));
	});
}

/** True for a header whose value is a credential; `extra` names more (the client's `apiKeyHeader`). */
export const isSecretHeader = (name: string, extra: readonly string[] = []): boolean =>
	isSecretName(name) || extra.some((header) => header.toLowerCase() === name.toLowerCase());

/** Masks the secrets of a call in a text. */
export type Hide = (text: string) => string;

const base64 = (text: string): string => btoa(Array.from(new TextEncoder().encode(text), (byte) => String.fromCharCode(byte)).join(''));
const hex = (code: number, width = 2): string => code.toString(16).padStart(width, '0');
const jsonShort: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't' };
const htmlNamed: Record<string, string> = { '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' };

const lowerAscii = (text: string): string => text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

// One character of a secret, as it can come back, in lower case: the text is searched ASCII-lowered, so that hex digits
// (and the secret's letters) match in either case. Itself; its UTF-8 bytes percent-encoded, once or twice (`%2F`, `%252F`:
// whatever the encoder thought reserved, rawurlencode, Python's quote, encodeURI...); and, for any character but a
// letter or digit, `+` for a space, JSON's escapes (`\/` as PHP writes it, `\u00e9` as Python does) and HTML's character
// references (`&amp;`, `&#39;`, `&#x27;`).
const formsOf = (character: string): string[] => {
	const code = character.codePointAt(0) ?? 0;
	const forms = [lowerAscii(character)];
	// A lone surrogate cannot be percent-encoded: it cannot have been sent that way either.
	if (code < 0xd800 || code > 0xdfff) {
		const bytes = Array.from(new TextEncoder().encode(character), (byte) => hex(byte));
		forms.push(`%${bytes.join('%')}`, `%25${bytes.join('%25')}`);
	}
	if (!/[a-z\d]/i.test(character)) {
		const short = jsonShort[character];
		const named = htmlNamed[character];
		forms.push(
			Array.from({ length: character.length }, (_, index) => `\\u${hex(character.charCodeAt(index), 4)}`).join(''),
			`&#${code};`,
			`&#x${hex(code, 1)};`,
			...(short ? [`\\${short}`] : []),
			...(named ? [`&${named};`] : []),
			...(code === 32 ? ['+', '%2b', '%252b'] : []),
		);
	}
	return forms;
};

// The forms of each character met in a secret, built once: secrets are few, and mostly ASCII.
const known = new Map<string, string[]>();
const formsOfCharacter = (character: string): string[] => {
	let forms = known.get(character);
	if (!forms) {
		forms = formsOf(character);
		if (known.size > 4096) {
			known.clear();
		}
		known.set(character, forms);
	}
	return forms;
};

// The end of the longest match of `secret` at `start` of the lowered text, or -1. Each character may come back in any of
// its forms, mixed; the positions still possible after each character are tracked together (a few at most, where one
// form is a prefix of another, as `%` of `%25`), so the cost is linear in the secret and never backtracks.
const matchAt = (lower: string, start: number, secret: string): number => {
	let positions = [start];
	for (const character of secret) {
		const next: number[] = [];
		for (const at of positions) {
			for (const form of formsOfCharacter(character)) {
				if (lower.startsWith(form, at) && !next.includes(at + form.length)) {
					next.push(at + form.length);
				}
			}
		}
		if (next.length === 0) {
			return -1;
		}
		positions = next;
	}
	return Math.max(...positions);
};

// The secret, and base64 (and base64url, unpadded) of it and of Basic auth's `secret:` and `:secret`, whose `+`, `/` and
// `=` may come back encoded too.
const encodingsOf = (secret: string): string[] => [
	secret,
	...[secret, `${secret}:`, `:${secret}`].flatMap((text) => {
		const encoded = base64(text);
		return [encoded, encoded.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')];
	}),
];

const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** A function that masks every encoding of each secret of at least `minSecretLength` characters. */
export function secretMask(secrets: readonly string[]): Hide {
	const searched = [...new Set(secrets.filter((secret) => secret.length >= minSecretLength).flatMap(encodingsOf))];
	if (searched.length === 0) {
		return (text) => text;
	}
	// Where a match may start: any form of a searched secret's first two characters, found by the regular expression
	// engine, then checked by `matchAt`. Small, so quick to build for each error.
	const candidates = new RegExp(
		searched
			.map((secret) =>
				Array.from(secret)
					.slice(0, 2)
					.map((character) => `(?:${formsOfCharacter(character).map(escapeRegExp).join('|')})`)
					.join(''),
			)
			.join('|'),
		'g',
	);
	return (text) => {
		const lower = lowerAscii(text);
		let masked = '';
		let copied = 0;
		candidates.lastIndex = 0;
		for (let found = candidates.exec(lower); found; found = candidates.exec(lower)) {
			const at = found.index;
			// The longest match wins, so that a secret inside another is not masked in part.
			const end = Math.max(...searched.map((secret) => matchAt(lower, at, secret)));
			if (end > at) {
				masked += `${text.slice(copied, at)}${mask}`;
				copied = end;
			}
			candidates.lastIndex = Math.max(end, at + 1);
		}
		return copied === 0 ? text : masked + text.slice(copied);
	};
}

const decode = (text: string): string => {
	try {
		return decodeURIComponent(text);
	} catch {
		return text;
	}
};
const matrixParameter = /;([^;=/\\?#]*)=([^;/\\?#]*)/g;
const redactMatrix = (path: string): string =>
	path.replace(matrixParameter, (whole, name: string) => (isSecretName(decode(name)) ? `;${name}=${mask}` : whole));

// Unparsable: keep what precedes a query or fragment, where secrets usually are, and no user-info.
const redactUnparsable = (url: string): string =>
	redactMatrix(url.replace(/[?#].*$/s, '').replace(/^(\s*(?:[a-z][\w+.-]*:)?[/\\]{2}).*@/is, `$1${mask}@`));

// Masks what a name marks: user-info, credential query and matrix parameters; drops the fragment. `marked` says whether
// a name marked anything (a fragment holding a credential parameter included).
const redactParsed = (url: URL, hide: Hide): { href: string; marked: boolean } => {
	const userInfo = url.username !== '' || url.password !== '';
	url.username = '';
	url.password = '';
	let marked = userInfo;
	const path = redactMatrix(url.pathname);
	if (path !== url.pathname) {
		url.pathname = path;
		marked = true;
	}
	if ([...url.searchParams.keys()].some(isSecretName)) {
		const parameters = new URLSearchParams();
		for (const [name, value] of url.searchParams) {
			parameters.append(name, isSecretName(name) ? mask : value);
		}
		url.search = parameters.toString();
		marked = true;
	}
	// OAuth's implicit flow returns tokens in the fragment, which no server needs to see.
	marked ||= [...new URLSearchParams(url.hash.slice(1)).keys()].some(isSecretName);
	url.hash = '';
	const href = userInfo ? url.href.replace('//', `//${mask}@`) : url.href;
	return { href: hide(href), marked };
};

// A URL or a reference (`Location: /cb?access_token=…`, resolved against `base`), left as written unless a name marks
// something in it.
const redactReference = (reference: string, hide: Hide, base?: string): string => {
	if (!URL.canParse(reference, base)) {
		return hide(redactUnparsable(reference));
	}
	const { href, marked } = redactParsed(new URL(reference, base), hide);
	return marked ? href : hide(reference);
};

const urlInText = /\b[a-z][\w+.-]*:\/\/[^\s"'<>`()]+/gi;
const redactTextWith = (text: string, hide: Hide): string => hide(text.replace(urlInText, (url) => redactReference(url, hide)));

const redactUrlWith = (url: string, hide: Hide): string =>
	URL.canParse(url) ? redactParsed(new URL(url), hide).href : hide(redactUnparsable(url));

/**
The URL with user-info, credential query and matrix parameters, the fragment and any known secret value replaced by `***`.

`secrets` are literal values (such as the client's API key) to mask wherever they stand, path included.
*/
export function redactUrl(url: string | URL, secrets: readonly string[] = []): string {
	return redactUrlWith(String(url), secretMask(secrets));
}

/** The text with every URL in it redacted and every known secret masked. */
export function redactText(text: string, secrets: readonly string[] = []): string {
	return redactTextWith(text, secretMask(secrets));
}

const referenceHeaders = new Set(['location', 'content-location']);

const redactHeadersWith = (headers: Headers, extra: readonly string[], hide: Hide, base?: string): Headers => {
	const copy = new Headers();
	for (const [name, value] of headers) {
		copy.append(
			name,
			isSecretHeader(name, extra)
				? mask
				: referenceHeaders.has(name)
					? redactReference(value.trim(), hide, base)
					: name === 'link'
						? hide(value.replace(/<([^>]*)>/g, (_, reference: string) => `<${redactReference(reference, hide, base)}>`))
						: redactTextWith(value, hide),
		);
	}
	return copy;
};

/**
A copy of the headers with every credential's value replaced by `***`, the URLs in the rest redacted (`Location` and
`Link` resolved against `base`), and `secrets` masked.
*/
export function redactHeaders(headers: Headers, extra: readonly string[] = [], secrets: readonly string[] = [], base?: string): Headers {
	return redactHeadersWith(headers, extra, secretMask(secrets), base);
}

// A credential header's value travels whole, and so do its parts: the token after the scheme, Basic's `user:password`
// and password, a signature's parameters (`Credential=…, Signature=…`), each cookie's value.
const partsOf = (name: string, value: string): string[] => {
	const parts = [value];
	const [, scheme = '', credentials = ''] = /^(\S+)\s+(.+)$/s.exec(value) ?? [];
	if (credentials) {
		parts.push(credentials);
		for (const [, key = '', , text = ''] of credentials.matchAll(/([\w-]+)=("?)([^",\s]*)\2/g)) {
			if (isSecretName(key)) {
				parts.push(text);
			}
		}
	}
	if (/^basic$/i.test(scheme)) {
		try {
			const pair = new TextDecoder().decode(Uint8Array.from(atob(credentials), (c) => c.charCodeAt(0)));
			parts.push(pair, pair.slice(pair.indexOf(':') + 1));
		} catch {
			// Not base64: the value is masked whole already.
		}
	}
	if (name.toLowerCase() === 'cookie') {
		parts.push(...value.split(';').map((cookie) => cookie.slice(cookie.indexOf('=') + 1).trim()));
	}
	return parts;
};

/**
Every secret value a request carries: `literal` ones (the API key), the values of its credential headers and their parts,
of its credential query and matrix parameters, and its user-info's password.
*/
export function secretsOf(
	request: { readonly url: string; readonly headers: Headers },
	literal: readonly string[],
	extra: readonly string[] = [],
): string[] {
	const found = new Set(literal);
	for (const [name, value] of request.headers) {
		if (isSecretHeader(name, extra)) {
			for (const part of partsOf(name, value)) {
				found.add(part);
			}
		}
	}
	if (URL.canParse(request.url)) {
		const url = new URL(request.url);
		found.add(decode(url.password));
		for (const [name, value] of url.searchParams) {
			if (isSecretName(name)) {
				found.add(value);
			}
		}
		for (const [, name = '', value = ''] of url.pathname.matchAll(matrixParameter)) {
			if (isSecretName(decode(name))) {
				found.add(decode(value));
			}
		}
	}
	found.delete('');
	return [...found];
}

/** What an error hides one call's secrets with: built once per error. */
export interface Redactor {
	/** Secret values masked, URLs redacted. */
	readonly text: (text: string) => string;
	readonly url: (url: string) => string;
	readonly headers: (headers: Headers, base?: string) => Headers;
	/** Every string (and key) of parsed JSON, or a text, as `text`; returns the value itself when nothing was masked. */
	readonly data: (data: unknown) => unknown;
}

/** The redactor for `secrets` (values, as `secretsOf` finds them) and `extra` credential header names. */
export function redactor(secrets: readonly string[], extra: readonly string[] = []): Redactor {
	const hide = secretMask(secrets);
	const text = (value: string) => redactTextWith(value, hide);
	const data = (value: unknown): unknown => {
		if (typeof value === 'string') {
			return text(value);
		}
		// A numeric secret (an account PIN, an app id) echoed as a JSON number.
		if (typeof value === 'number') {
			return hide(String(value)) === String(value) ? value : mask;
		}
		if (typeof value !== 'object' || value === null) {
			return value;
		}
		const entries = Object.entries(value);
		const copies = entries.map(([key, item]) => [hide(key), data(item)] as const);
		if (copies.every(([key, item], index) => key === entries[index]?.[0] && item === entries[index]?.[1])) {
			return value;
		}
		// fromEntries defines own properties: a `__proto__` key stays inert data.
		return Array.isArray(value) ? copies.map(([, item]) => item) : Object.fromEntries(copies);
	};
	return {
		text,
		url: (url) => redactUrlWith(url, hide),
		headers: (headers, base) => redactHeadersWith(headers, extra, hide, base),
		data,
	};
}

const lineBreak = /[\0\r\n]/;

/**
The TypeError for the first header value that no `Headers` can hold (CR, LF, NUL, a character above U+00FF), naming the
header and never quoting the value; undefined when there is none. Takes whatever `HeadersInit` takes.
*/
export function headerValueError(headers: unknown, path = 'headers'): TypeError | undefined {
	if (typeof headers !== 'object' || headers === null || headers instanceof Headers) {
		return undefined;
	}
	let entries: unknown[];
	try {
		entries = Symbol.iterator in headers ? [...(headers as Iterable<unknown>)] : Object.entries(headers);
	} catch {
		return undefined;
	}
	for (const entry of entries) {
		const [name, value] = Array.isArray(entry) ? entry : [];
		// A symbol cannot become a string: the runtime's error ("…cannot be converted to a ByteString") names no option.
		if ((typeof value === 'string' && lineBreak.test(value)) || typeof value === 'symbol') {
			return new TypeError(`Expected \`${path}.${name}\` to be a string without CR, LF or NUL characters.`);
		}
		if (typeof value === 'string' && /[^\0-\xff]/.test(value)) {
			return new TypeError(`Expected \`${path}.${name}\` to be a string of Latin-1 characters (the value is not shown).`);
		}
	}
	return undefined;
}

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
