import { type Hide, secretMask } from './mask.ts';
import { isSecretName, mask } from './names.ts';

export const decode = (text: string): string => {
	try {
		return decodeURIComponent(text);
	} catch {
		return text;
	}
};
export const matrixParameter: RegExp = /;([^;=/\\?#]*)=([^;/\\?#]*)/g;
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
export const redactReference = (reference: string, hide: Hide, base?: string): string => {
	if (!URL.canParse(reference, base)) {
		return hide(redactUnparsable(reference));
	}
	const { href, marked } = redactParsed(new URL(reference, base), hide);
	return marked ? href : hide(reference);
};

const urlInText = /\b[a-z][\w+.-]*:\/\/[^\s"'<>`()]+/gi;
export const redactTextWith = (text: string, hide: Hide): string => hide(text.replace(urlInText, (url) => redactReference(url, hide)));

export const redactUrlWith = (url: string, hide: Hide): string =>
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
