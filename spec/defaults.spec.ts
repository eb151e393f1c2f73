import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { backoffDelay } from '../src/engine/policy.ts';
import { defaults, ownOptionNames } from '../src/options/defaults.ts';
import { normalizeClientOptions, normalizeFetchOptions } from '../src/options/normalize.ts';
import type { ClientOptions } from '../src/options/options.ts';

interface Member {
	readonly name: string;
	readonly default: string | undefined;
}

// The members of an interface as written in its source, each with the text of its `@default`.
const members = (file: string, name: string): Member[] => {
	const source = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
	const body = new RegExp(`^export interface ${name}\\b[^{]*\\{\\n([\\s\\S]*?)\\n\\}`, 'm').exec(source)?.[1];
	assert.ok(body, `${file} declares no interface ${name}`);
	const found: Member[] = [];
	let doc = '';
	for (const line of body.split('\n')) {
		const member = /^\treadonly (\w+)\??:/.exec(line);
		if (!member) {
			doc += `${line}\n`;
			continue;
		}
		const tags = [...doc.matchAll(/@default (.+)/g)];
		assert.ok(tags.length <= 1, `${name}.${member[1]} has more than one @default`);
		found.push({ name: member[1] as string, default: tags[0]?.[1]?.trim() });
		doc = '';
	}
	assert.ok(found.length > 0, `${file}: ${name} has no members`);
	return found;
};

// A TSDoc default read as a literal: numbers, quoted strings, true, false, null, undefined, Infinity, and arrays and
// objects of them. Anything else (`globalThis.fetch`, a sentence) is no literal, and throws.
const parseLiteral = (text: string): unknown => {
	let at = 0;
	const fail = (): never => {
		throw new SyntaxError(`Not a literal: ${text}`);
	};
	const take = (pattern: RegExp): RegExpExecArray | null => {
		const sticky = new RegExp(`\\s*(?:${pattern.source})`, 'y');
		sticky.lastIndex = at;
		const match = sticky.exec(text);
		at = match ? sticky.lastIndex : at;
		return match;
	};
	const words: Record<string, unknown> = { true: true, false: false, null: null, undefined, Infinity: Number.POSITIVE_INFINITY };
	const value = (): unknown => {
		if (take(/\[/)) {
			const items: unknown[] = [];
			if (take(/\]/)) {
				return items;
			}
			do {
				items.push(value());
			} while (take(/,/));
			return take(/\]/) ? items : fail();
		}
		if (take(/\{/)) {
			const object: Record<string, unknown> = {};
			if (take(/\}/)) {
				return object;
			}
			do {
				const key = take(/(\w+)\s*:/)?.[1] ?? fail();
				object[key] = value();
			} while (take(/,/));
			return take(/\}/) ? object : fail();
		}
		const string = take(/'([^'\\]*)'/);
		if (string) {
			return string[1];
		}
		const number = take(/(-?\d[\d_]*(?:\.\d+)?)(?![\w.])/)?.[1];
		if (number) {
			return Number(number.replaceAll('_', ''));
		}
		const word = take(/(true|false|null|undefined|Infinity)\b/)?.[1];
		return word === undefined ? fail() : words[word];
	};
	const result = value();
	return text.slice(at).trim() === '' ? result : fail();
};

const isLiteral = (text: string): boolean => {
	try {
		parseLiteral(text);
		return true;
	} catch {
		return false;
	}
};

// Where the defaults of each options interface live in `defaults`.
const interfaces = [
	{ file: 'src/options/options.ts', name: 'RetryOptions', part: defaults.retry },
	{ file: 'src/options/options.ts', name: 'SharedOptions', part: { ...defaults.client, retry: defaults.retry } },
	{ file: 'src/options/options.ts', name: 'RequestPolicyOptions', part: defaults.client },
	{ file: 'src/options/options.ts', name: 'ClientOptions', part: defaults.client },
	{ file: 'src/options/options.ts', name: 'FetchOptions', part: defaults.fetch },
	{ file: 'src/options/guards.ts', name: 'BudgetOptions', part: defaults.client.budget },
	{ file: 'src/options/guards.ts', name: 'BreakerOptions', part: defaults.client.breaker },
	{ file: 'src/surfaces/job.ts', name: 'JobOptions', part: { ...defaults.job, retry: defaults.retry } },
] as const;
const declared = (name: string): Member[] => {
	const found = interfaces.find((entry) => entry.name === name);
	assert.ok(found, name);
	return members(found.file, found.name);
};

// The only defaults described in words, each with what `defaults` must hold for it.
const described: Readonly<Record<string, () => void>> = {
	// The documented advice is merged under every catalog: the default is no catalog of the caller's.
	'RequestPolicyOptions.catalog': () => assert.equal(defaults.client.catalog, undefined),
	'ClientOptions.apiKeyScheme': () => {
		assert.equal(defaults.client.apiKeyScheme('Authorization'), 'Bearer');
		assert.equal(defaults.client.apiKeyScheme('authorization'), 'Bearer');
		assert.equal(defaults.client.apiKeyScheme('X-Api-Key'), null);
	},
	// Unset, so that `globalThis.fetch` is read on every call.
	'FetchOptions.fetch': () => assert.equal(defaults.fetch.fetch, undefined),
	// Unset: the server's wait is read on every status in `statusCodes` (ky's own default is 413, 429, 503).
	'RetryOptions.afterStatusCodes': () => assert.equal(defaults.retry.afterStatusCodes, undefined),
	// Unset: the backoff is `baseDelayMs * factor ** (attemptCount - 1)`, which the TSDoc writes as ky writes its own.
	'RetryOptions.delay': () => {
		assert.equal(defaults.retry.delay, undefined);
		const { policy } = normalizeClientOptions({ retry: { jitter: false } });
		const documented = (attemptCount: number): number => policy.baseDelayMs * policy.factor ** (attemptCount - 1);
		assert.deepEqual(
			[1, 2, 3].map((retry) => backoffDelay(policy, retry)),
			[1, 2, 3].map(documented),
		);
	},
};

const expectDefault = (path: string, actual: unknown, documented: unknown): void => {
	if (typeof documented === 'object' && documented !== null && !Array.isArray(documented)) {
		// An object default in TSDoc names the fields worth naming; each of them must agree.
		assert.equal(typeof actual, 'object', `${path} is an object in TSDoc`);
		for (const [field, value] of Object.entries(documented)) {
			assert.deepEqual((actual as Record<string, unknown>)[field], value, `${path}.${field}`);
		}
	} else {
		assert.deepEqual(actual, documented, path);
	}
};

describe('holds every documented default in `defaults`', () => {
	for (const { file, name, part } of interfaces) {
		it(`agrees with every @default of ${name} in ${file}`, () => {
			for (const member of members(file, name)) {
				const path = `${name}.${member.name}`;
				assert.ok(member.default !== undefined, `${path} has no @default`);
				if (!isLiteral(member.default)) {
					const check = described[path];
					assert.ok(check, `${path}: the @default "${member.default}" is no literal, and not among the described defaults`);
					check();
					continue;
				}
				assert.ok(Object.hasOwn(part, member.name), `${path} has a @default but no entry in \`defaults\``);
				expectDefault(path, (part as Record<string, unknown>)[member.name], parseLiteral(member.default));
			}
		});
	}

	it('describes in words only the defaults listed here, each of them still in words', () => {
		for (const path of Object.keys(described)) {
			const [name = '', property] = path.split('.');
			const member = declared(name).find((candidate) => candidate.name === property);
			assert.ok(member?.default !== undefined, `${path} is gone`);
			assert.equal(isLiteral(member.default), false, `${path} is a literal now: drop it from the described defaults`);
		}
	});

	it('holds no default that no interface documents', () => {
		const owners: readonly (readonly [string, object, readonly string[]])[] = [
			['retry', defaults.retry, ['RetryOptions']],
			['client', defaults.client, ['SharedOptions', 'RequestPolicyOptions', 'ClientOptions']],
			['client.budget', defaults.client.budget, ['BudgetOptions']],
			['client.breaker', defaults.client.breaker, ['BreakerOptions']],
			['fetch', defaults.fetch, ['FetchOptions']],
			['job', defaults.job, ['JobOptions']],
		];
		assert.deepEqual(Object.keys(defaults).sort(), ['client', 'fetch', 'job', 'retry']);
		for (const [label, part, names] of owners) {
			const documented = names.flatMap((name) => declared(name).map((member) => member.name));
			for (const key of Object.keys(part)) {
				assert.ok(documented.includes(key), `defaults.${label}.${key} is in no TSDoc of ${names.join(', ')}`);
			}
		}
	});

	it('fills every option left out from `defaults`', () => {
		const { policy, budget, breaker } = normalizeClientOptions();
		const { idempotencyKey, onRetry, onGiveUp, ...retry } = policy;
		assert.deepEqual(retry, {
			...defaults.retry,
			methods: new Set(defaults.retry.methods),
			statusCodes: new Set(defaults.retry.statusCodes),
		});
		assert.deepEqual([idempotencyKey, onRetry, onGiveUp], [undefined, undefined, undefined]);
		assert.deepEqual(budget, defaults.client.budget);
		assert.deepEqual(breaker, defaults.client.breaker);
		assert.equal(normalizeFetchOptions().throwHttpErrors, defaults.fetch.throwHttpErrors);
		assert.deepEqual(normalizeClientOptions({ apiKey: 'k' }).kyOptions.headers, { authorization: 'Bearer k' });
	});
});

describe("keeps steadfetch's own options from ky, and so from fetch()", () => {
	const expected = [
		...declared('SharedOptions')
			.map((member) => member.name)
			// Only `retry.limit` may change per request; createClient hands ky no `retry` either way.
			.filter((name) => name !== 'retry'),
		...declared('RequestPolicyOptions').map((member) => member.name),
		...declared('ClientOptions').map((member) => member.name),
	];

	it('counts every option of SharedOptions (but retry), RequestPolicyOptions and ClientOptions as its own, and no other', () => {
		assert.deepEqual(new Set(ownOptionNames), new Set(expected));
		assert.ok(ownOptionNames.includes('budget') && ownOptionNames.includes('breaker'));
	});

	for (const [label, guards] of [
		['tuned', { budget: { ratio: 1 }, breaker: { openMs: 5 } }],
		['turned off', { budget: false, breaker: false }],
	] as const) {
		it(`hands ky none of them, with the budget and breaker ${label}`, () => {
			const options: ClientOptions = {
				retry: 1,
				catalog: { 404: { solution: 'Check the id.' } },
				idempotencyKey: true,
				rateLimit: false,
				onRetry: () => {},
				onGiveUp: () => {},
				apiKey: 'k',
				apiKeyHeader: 'X-Api-Key',
				apiKeyScheme: null,
				...guards,
				timeout: 5000,
			};
			assert.deepEqual(
				expected.filter((name) => !(name in options)),
				[],
				'every own option is set here',
			);
			const { kyOptions } = normalizeClientOptions(options);
			assert.deepEqual(
				[...expected, ...ownOptionNames, 'retry'].filter((name) => name in kyOptions),
				[],
			);
			assert.equal(kyOptions.timeout, 5000);
		});
	}
});

describe('freezes `defaults` at every level', () => {
	it('freezes every object, array and function in it', () => {
		const walk = (value: unknown, path: string): void => {
			if ((typeof value !== 'object' || value === null) && typeof value !== 'function') {
				return;
			}
			assert.ok(Object.isFrozen(value), `${path} is not frozen`);
			for (const [key, child] of Object.entries(value)) {
				walk(child, `${path}.${key}`);
			}
		};
		walk(defaults, 'defaults');
	});

	it('throws on a change, in strict mode', () => {
		assert.throws(() => {
			(defaults.retry.methods as string[]).push('POST');
		}, TypeError);
		assert.throws(() => {
			(defaults.client.budget as { ratio: number }).ratio = 1;
		}, TypeError);
		assert.deepEqual(defaults.retry.methods, ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
	});
});
