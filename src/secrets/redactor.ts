import { redactHeadersWith } from './headers.ts';
import { secretMask } from './mask.ts';
import { mask } from './names.ts';
import { redactTextWith, redactUrlWith } from './urls.ts';

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
