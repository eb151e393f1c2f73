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

const isLetter = (code: number): boolean => (code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a;
const isWordCharacter = (code: number): boolean => isLetter(code) || (code >= 0x30 && code <= 0x39) || code === 0x5f;
const isSchemeCharacter = (code: number): boolean => isWordCharacter(code) || code === 0x2b || code === 0x2e || code === 0x2d;
// What follows `://` in a URL in text: up to a space, a quote, `<`, `>`, a backtick or a parenthesis.
const urlRest = /[^\s"'<>`()]+/y;

// A URL in free text is a scheme (a letter that begins a word, then letters, digits, `+`, `.` or `-`), `://` and the
// rest. Found from each `://` back to its scheme: a regular expression from each word start would scan a long run of
// scheme characters (`a-a-a-…`, a base64url blob) to its end again and again, quadratic in the text (issue 27: 64 KB of
// `a.` cost 2.4 s). Each run of scheme characters is read twice at most, so the cost is linear.
export const redactTextWith = (text: string, hide: Hide): string => {
	let redacted = '';
	let copied = 0;
	for (let separator = text.indexOf('://'); separator >= 0; ) {
		let run = separator;
		while (run > copied && isSchemeCharacter(text.charCodeAt(run - 1))) {
			run--;
		}
		let start = run;
		// `\b` before the scheme's first letter: no word character precedes it.
		while (start < separator && !(isLetter(text.charCodeAt(start)) && !isWordCharacter(text.charCodeAt(start - 1)))) {
			start++;
		}
		urlRest.lastIndex = separator + 3;
		if (start < separator && urlRest.test(text)) {
			redacted += `${text.slice(copied, start)}${redactReference(text.slice(start, urlRest.lastIndex), hide)}`;
			copied = urlRest.lastIndex;
			separator = text.indexOf('://', copied);
		} else {
			separator = text.indexOf('://', separator + 1);
		}
	}
	return hide(copied === 0 ? text : redacted + text.slice(copied));
};

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
