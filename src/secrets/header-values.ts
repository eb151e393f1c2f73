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
