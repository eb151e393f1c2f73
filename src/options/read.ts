/*
Options are read once, when a client, fetch or job is made, into plain data that the checks and the config are built
from. Getters and Proxies run user code: it may throw (the option is then named, as for any bad value), or answer
differently on each read (then the value checked is the value used).
*/

const unreadable = new WeakSet<TypeError>();

// How deep each option is copied: nested option objects, header tuples, hook lists, catalog entries. Anything else (a
// body, a signal, a Headers) is read once and kept as it is.
const optionDepths: Readonly<Record<string, number>> = { retry: 1, budget: 1, breaker: 1, headers: 2, hooks: 2, catalog: 2 };

const copyOf = (value: unknown, path: string, depth: number): unknown => {
	try {
		if (depth < 0 || typeof value !== 'object' || value === null) {
			return value;
		}
		const prototype = Object.getPrototypeOf(value);
		if (Array.isArray(value)) {
			return Array.from(value as unknown[], (item, index) => copyOf(item, `${path}.${index}`, depth - 1));
		}
		if (prototype !== Object.prototype && prototype !== null) {
			return value;
		}
		// fromEntries defines own properties: a `__proto__` key stays inert data.
		const keys = Reflect.ownKeys(value).filter((key) => Object.prototype.propertyIsEnumerable.call(value, key));
		return Object.fromEntries(
			keys.map((key) => {
				const child = path ? `${path}.${String(key)}` : String(key);
				let item: unknown;
				try {
					item = (value as Record<string | symbol, unknown>)[key];
				} catch (cause) {
					throw readError(child, cause);
				}
				return [key, copyOf(item, child, path ? depth - 1 : (optionDepths[key as string] ?? 0))];
			}),
		);
	} catch (cause) {
		throw readError(path || 'options', cause);
	}
};

const readError = (path: string, cause: unknown): TypeError => {
	if (cause instanceof TypeError && unreadable.has(cause)) {
		return cause;
	}
	const error = new TypeError(`Expected \`${path}\` to be readable: reading it threw (that error is the cause).`, { cause });
	unreadable.add(error);
	return error;
};

/**
The options as plain data, read once: a getter or a Proxy trap that throws is a bad option like any other, a `TypeError`
naming it, and a getter that answers differently on each read cannot pass the checks with one value and configure with
another. Plain objects and arrays are copied as deep as options nest; anything else is kept as it is.
*/
export const readOptions = <T>(options: T): T => copyOf(options, '', 0) as T;
