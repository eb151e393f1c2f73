import { mask, minSecretLength } from './names.ts';

/** Masks the secrets of a call in a text. */
export type Hide = (text: string) => string;

const digitsOf = (last: string): Uint8Array =>
	Uint8Array.from(`ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789${last}`, (digit) => digit.charCodeAt(0));
const base64Digits = digitsOf('+/');
const base64UrlDigits = digitsOf('-_');

// Base64 of the text's UTF-8, padded, or base64url without padding, written as bytes and decoded once: btoa needs a
// string of one character per byte, which costs an array or a string as long as the secret to build (a 200 KB JWT).
const base64 = (text: string, digits: Uint8Array, pad: boolean): string => {
	const bytes = new TextEncoder().encode(text);
	const written = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
	let length = 0;
	for (let at = 0; at < bytes.length; at += 3) {
		const group = ((bytes[at] ?? 0) << 16) | ((bytes[at + 1] ?? 0) << 8) | (bytes[at + 2] ?? 0);
		// 1, 2 or 3 bytes make 2, 3 or 4 digits.
		for (let shift = 18, count = Math.min(bytes.length - at, 3) + 1; count > 0; shift -= 6, count--) {
			written[length++] = digits[(group >> shift) & 63] ?? 0;
		}
	}
	while (pad && length % 4 !== 0) {
		written[length++] = 0x3d;
	}
	return new TextDecoder().decode(written.subarray(0, length));
};
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

// The part of a secret that counts as it where a text ends inside it.
const cutSecretLength = 64;

// The end of the longest match of `secret` at `start` of the lowered text, or -1. Each character may come back in any of
// its forms, mixed; the positions still possible after each character are tracked together (a few at most, where one
// form is a prefix of another, as `%` of `%25`), so the cost is linear in the secret and never backtracks. A text that
// ends inside the secret after `cutSecretLength` characters of it matches to its end: a body is read up to 64 KiB, and
// a longer secret echoed in it (a large JWT) would otherwise be kept, cut but unmasked. Fewer characters at a text's
// end are left: a JSON key `cookie` is no part of the cookie `cookie-value`.
const matchAt = (lower: string, start: number, secret: string): number => {
	let positions = [start];
	let matched = 0;
	for (const character of secret) {
		if (matched >= cutSecretLength && positions.includes(lower.length)) {
			return lower.length;
		}
		matched++;
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
	...[secret, `${secret}:`, `:${secret}`].flatMap((text) => [base64(text, base64Digits, true), base64(text, base64UrlDigits, false)]),
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
				// Four UTF-16 units hold the first two characters, whatever they are.
				Array.from(secret.slice(0, 4))
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
