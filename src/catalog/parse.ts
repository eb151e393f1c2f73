/**
One entry of an advice catalog: what an API's error page says about a status.
*/
export interface CatalogEntry {
	/** Short name of the status, e.g. `Not Found`. */
	readonly title: string;
	/** The status table's line, e.g. `The requested resource doesn't exist.` */
	readonly description: string;
	/** Why this error happens (the page's **Cause**). */
	readonly cause: string;
	/** What to do about it (the page's **Solution**). */
	readonly solution: string;
}

/**
Advice per key: a status code (`'404'`), a status class (`'4xx'`, `'5xx'`), `'network'` / `'timeout'` for failures without a response, `'budget'` for retries withheld by the retry budget, `'circuit'` for calls refused by an open circuit breaker, `'body'` for a success whose body was cut off. Entries may be partial: a missing field falls back to the next catalog, then to the status class.
*/
export type Catalog = Readonly<Record<string, Partial<CatalogEntry>>>;

const fields = ['title', 'description', 'cause', 'solution'] as const;
// A key is a status code, a status class or a failure kind; the title follows a dash.
const keyPattern = /^(\d{3}|[1-5]xx|network|timeout|budget|circuit|body)\s*-\s*(.*)$/i;
const labelPattern = /\*\*(cause|solution)\*\*\s*:\s*(.*)$/i;

/** True for a key that a catalog may hold. */
export const isCatalogKey = (key: string): boolean => {
	const match = /^(?:(\d{3})|[1-5]xx|network|timeout|budget|circuit|body)$/.exec(key);
	return match !== null && (match[1] === undefined || (Number(match[1]) >= 100 && Number(match[1]) <= 599));
};

// Advice is shown as plain text in logs: drop emphasis, code ticks, link targets and leading emoji.
const plain = (text: string): string =>
	text
		.replaceAll(/\[([^\]]*)\]\([^)]*\)/g, '$1')
		.replaceAll(/\*\*|__|`/g, '')
		.replace(/^[^\p{L}\p{N}]+/u, '')
		.replaceAll(/\s+/g, ' ')
		.trim();

const splitRow = (line: string): string[] =>
	line
		.trim()
		.replace(/^\|/, '')
		.replace(/\|$/, '')
		.split('|')
		.map((cell) => cell.trim());

/**
Parse an API's error page into a catalog.

The page has a status table (a table whose first header cell mentions "status"; rows like `| 404 - ❌ Not Found | The requested resource doesn't exist. |`) and a section per status (`### 404 - Not Found`) with a `**Cause**:` and a `**Solution**:` line. Emoji, emphasis and extra prose are ignored. A malformed page throws a `SyntaxError` naming the line.

@example
```ts
// Type-checked, not run: a browser page, fetching the error page from its own site.
import { createClient, parseCatalog } from 'steadfetch';

const catalog = parseCatalog(await (await fetch('/docs/errors.md')).text());
const client = createClient({ catalog });
```
*/
export function parseCatalog(markdown: string): Record<string, CatalogEntry> {
	if (typeof markdown !== 'string') {
		throw new TypeError(`Expected the catalog page to be a string, got ${typeof markdown}.`);
	}
	const entries: Record<string, { -readonly [K in keyof CatalogEntry]: string }> = {};
	const seen = { table: new Set<string>(), section: new Set<string>() };
	const lines = markdown.split(/\r?\n/);
	const fail = (index: number, problem: string): never => {
		throw new SyntaxError(`Line ${index + 1}: ${problem}`);
	};
	const entryFor = (key: string) => {
		entries[key] ??= { title: '', description: '', cause: '', solution: '' };
		return entries[key];
	};
	let inStatusTable = false;
	let section: { key: string; line: number } | undefined;
	let open: { field: 'cause' | 'solution'; key: string } | undefined;
	const closeSection = () => {
		if (section) {
			const entry = entryFor(section.key);
			for (const field of ['cause', 'solution'] as const) {
				if (!entry[field]) {
					fail(section.line, `section \`${section.key}\` has no **${field === 'cause' ? 'Cause' : 'Solution'}**: line.`);
				}
			}
		}
		section = undefined;
		open = undefined;
	};

	for (const [index, line] of lines.entries()) {
		const trimmed = line.trim();
		if (trimmed.startsWith('|')) {
			const cells = splitRow(trimmed);
			const next = lines[index + 1]?.trim() ?? '';
			if (/^\|?\s*:?-{3,}/.test(next)) {
				// A header row: only the status table is ours.
				inStatusTable = /status/i.test(cells[0] ?? '');
				continue;
			}
			if (!inStatusTable || /^:?-{3,}/.test(cells[0] ?? '')) {
				continue;
			}
			const match = keyPattern.exec(cells[0] ?? '');
			if (!match) {
				fail(index, `expected \`<status> - <title>\` in the first cell, got \`${cells[0]}\`.`);
			}
			const key = (match?.[1] ?? '').toLowerCase();
			if (!isCatalogKey(key)) {
				fail(index, `status \`${key}\` is outside 100-599.`);
			}
			if (seen.table.has(key)) {
				fail(index, `status \`${key}\` is listed twice.`);
			}
			seen.table.add(key);
			const entry = entryFor(key);
			entry.title = plain(match?.[2] ?? '');
			entry.description = plain(cells[1] ?? '');
			continue;
		}
		inStatusTable = false;

		const heading = /^(#{1,6})\s+(.*)$/.exec(trimmed);
		if (heading) {
			closeSection();
			const match = keyPattern.exec(heading[2] ?? '');
			if (!match) {
				if (/^\d/.test(heading[2] ?? '')) {
					fail(index, `expected \`<status> - <title>\` in the heading, got \`${heading[2]}\`.`);
				}
				continue;
			}
			const key = (match[1] ?? '').toLowerCase();
			if (!isCatalogKey(key)) {
				fail(index, `status \`${key}\` is outside 100-599.`);
			}
			if (seen.section.has(key)) {
				fail(index, `status \`${key}\` has two sections.`);
			}
			seen.section.add(key);
			section = { key, line: index };
			const entry = entryFor(key);
			entry.title ||= plain(match[2] ?? '');
			continue;
		}

		if (!section) {
			continue;
		}
		const label = labelPattern.exec(trimmed);
		if (label) {
			const field = (label[1] ?? '').toLowerCase() as 'cause' | 'solution';
			const entry = entryFor(section.key);
			if (entry[field]) {
				fail(index, `section \`${section.key}\` has a second **${label[1]}**.`);
			}
			entry[field] = plain(label[2] ?? '');
			open = { field, key: section.key };
		} else if (trimmed === '') {
			open = undefined;
		} else if (open) {
			// A Cause or Solution may wrap onto the lines below it, up to a blank line.
			const entry = entryFor(open.key);
			entry[open.field] = plain(`${entry[open.field]} ${trimmed}`);
		}
	}
	closeSection();

	if (Object.keys(entries).length === 0) {
		fail(0, 'no status table and no `### <status> - <title>` section found.');
	}
	for (const key of Object.keys(entries)) {
		Object.freeze(entries[key]);
	}
	return entries;
}

/**
Merge catalogs field by field: for every key and field, the first catalog that has a non-empty value wins.
*/
export function mergeCatalogs(...catalogs: readonly Catalog[]): Readonly<Record<string, CatalogEntry>> {
	const merged: Record<string, CatalogEntry> = Object.create(null);
	const keys = new Set(catalogs.flatMap((catalog) => Object.keys(catalog)));
	for (const key of keys) {
		const entry = { title: '', description: '', cause: '', solution: '' };
		for (const field of fields) {
			entry[field] = catalogs.find((catalog) => catalog[key]?.[field])?.[key]?.[field] ?? '';
		}
		merged[key] = Object.freeze(entry);
	}
	return Object.freeze(merged);
}

/**
Advice for a status or failure kind, each field falling back to its status class (`4xx`, `5xx`).
*/
export function lookupAdvice(
	catalog: Readonly<Record<string, CatalogEntry>>,
	key: number | 'network' | 'timeout' | 'budget' | 'circuit' | 'body',
): CatalogEntry {
	const exact = catalog[String(key)];
	const broad = typeof key === 'number' ? catalog[`${Math.floor(key / 100)}xx`] : undefined;
	return {
		title: exact?.title || broad?.title || '',
		description: exact?.description || broad?.description || '',
		cause: exact?.cause || broad?.cause || '',
		solution: exact?.solution || broad?.solution || '',
	};
}
