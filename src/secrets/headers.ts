import { type Hide, secretMask } from './mask.ts';
import { isSecretHeader, isSecretName, mask } from './names.ts';
import { decode, matrixParameter, redactReference, redactTextWith } from './urls.ts';

const referenceHeaders = new Set(['location', 'content-location']);
// A `Link` reference, `<…>`. It holds no `<`: a value of many `<` and no `>` would otherwise be scanned to its end from
// each of them, quadratic in what the server sent.
const linkReference = /<([^<>]*)>/g;

export const redactHeadersWith = (headers: Headers, extra: readonly string[], hide: Hide, base?: string): Headers => {
	const copy = new Headers();
	for (const [name, value] of headers) {
		copy.append(
			name,
			isSecretHeader(name, extra)
				? mask
				: referenceHeaders.has(name)
					? redactReference(value.trim(), hide, base)
					: name === 'link'
						? hide(value.replace(linkReference, (_, reference: string) => `<${redactReference(reference, hide, base)}>`))
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

// A signature's parameter (`Credential=…`, `Signature="…"`). A name starts a run of name characters: were it allowed to
// start anywhere, a token without `=` (a large JWT) would be scanned again from each of its characters, quadratic in its
// length (issue 27: 64 KB cost 2.7 s). Lookbehind would say the same, but a Safari before 16.4 cannot parse it.
const parameter = /(?:^|[^\w-])([\w-]+)=("?)([^",\s]*)\2/g;

// A credential header's value travels whole, and so do its parts: the token after the scheme, Basic's `user:password`
// and password, a signature's parameters (`Credential=…, Signature=…`), each cookie's value.
const partsOf = (name: string, value: string): string[] => {
	const parts = [value];
	const [, scheme = '', credentials = ''] = /^(\S+)\s+(.+)$/s.exec(value) ?? [];
	if (credentials) {
		parts.push(credentials);
		for (const [, key = '', , text = ''] of credentials.matchAll(parameter)) {
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
