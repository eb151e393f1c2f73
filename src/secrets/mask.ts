import { mask, minSecretLength } from './names.ts';

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
