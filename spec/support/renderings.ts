import assert from 'node:assert/strict';
import { inspect } from 'node:util';

// Every string reachable from the value: own properties (hidden and symbol-keyed too), causes, headers, URLs.
export const reachable = (value: unknown, seen: Set<unknown> = new Set()): string[] => {
	if (typeof value === 'string') {
		return [value];
	}
	if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) {
		return [];
	}
	seen.add(value);
	const strings: string[] = [];
	if (value instanceof Headers) {
		for (const [name, text] of value) {
			strings.push(name, text);
		}
	}
	if (value instanceof Request || value instanceof Response) {
		strings.push(value.url, ...reachable(value.headers, seen));
	}
	if (value instanceof Response) {
		strings.push(value.statusText);
	}
	for (const key of Reflect.ownKeys(value)) {
		const descriptor = Object.getOwnPropertyDescriptor(value, key);
		if (descriptor && 'value' in descriptor) {
			strings.push(...reachable(descriptor.value, seen));
		}
	}
	return strings;
};

/** Every way a thrown value is shown: message, stack, String(), JSON, toJSON(), util.inspect, and every reachable string. */
export const renderings = (value: unknown): Record<string, string> => {
	const error = value as Error & { toJSON?: () => unknown };
	return {
		message: String(error?.message),
		stack: String(error?.stack),
		string: String(error),
		json: JSON.stringify(error) ?? '',
		toJSON: typeof error?.toJSON === 'function' ? JSON.stringify(error.toJSON()) : '',
		inspect: inspect(error, { showHidden: true, depth: Number.POSITIVE_INFINITY }),
		reachable: reachable(error).join('\n'),
	};
};

/** The forms a secret travels in: as is, percent-encoded (either case of hex, `+` for spaces), form-encoded, JSON-escaped. */
export const formsOf = (secret: string): string[] => {
	const encoded = encodeURIComponent(secret);
	return [
		...new Set([
			secret,
			encoded,
			encoded.replace(/%[\dA-F]{2}/g, (hex) => hex.toLowerCase()),
			encoded.replaceAll('%20', '+'),
			new URLSearchParams({ s: secret }).toString().slice(2),
			JSON.stringify(secret).slice(1, -1),
		]),
	];
};

/** Fails naming the secret and the rendering when any form of a secret shows in any rendering of the value. */
export const assertNoSecret = (value: unknown, secrets: readonly string[]): void => {
	for (const [name, text] of Object.entries(renderings(value))) {
		for (const secret of secrets) {
			for (const form of formsOf(secret)) {
				assert.ok(
					!text.includes(form),
					`${JSON.stringify(secret.slice(0, 40))} leaked through ${name} as ${JSON.stringify(form.slice(0, 40))}`,
				);
			}
		}
	}
};
