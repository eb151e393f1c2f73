import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderCatalogData } from '../scripts/catalog.ts';
import { apiCatalog, generalCatalog } from '../src/catalog/data.ts';
import { createClient, isSteadfetchError, parseCatalog } from '../src/index.ts';
import { origin, serve } from './support/server.ts';

const doc = (name: string) => readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8');

describe('derives the advice catalog from the docs', () => {
	it('holds exactly what docs/error-codes.md says', () => {
		assert.deepEqual({ ...apiCatalog }, parseCatalog(doc('error-codes.md')));
	});

	it('holds exactly what docs/general-advice.md says', () => {
		assert.deepEqual({ ...generalCatalog }, parseCatalog(doc('general-advice.md')));
	});

	it('keeps docs/error-codes.md identical to the API page in shared/api-docs', () => {
		const shared = new URL('../../shared/api-docs/error-codes.md', import.meta.url);
		let page: string;
		try {
			page = readFileSync(shared, 'utf8');
		} catch {
			// A clone without the shared folder beside it checks the docs against src/ only.
			return;
		}
		assert.equal(doc('error-codes.md'), page);
	});

	it('has a generator that renders every entry of the API page', () => {
		const generated = renderCatalogData();
		for (const [key, entry] of Object.entries(apiCatalog)) {
			assert.ok(generated.includes(JSON.stringify(entry.solution)), `entry ${key} drifted`);
		}
	});

	it("speaks of the API in steadfetch's own advice, never as its provider", () => {
		// Only the API's own page (docs/error-codes.md) may say "our support": a client of any API gets the general advice.
		const provider = /\b(?:we|our|ours|us)\b/i;
		for (const [key, entry] of Object.entries(generalCatalog)) {
			for (const text of Object.values(entry)) {
				assert.doesNotMatch(text, provider, `general advice for ${key}`);
			}
		}
		assert.doesNotMatch(doc('general-advice.md'), provider);
	});

	it('reads the four documented statuses with plain-text advice', () => {
		assert.deepEqual(apiCatalog['500'], {
			title: 'Internal Server Error',
			description: 'Something went wrong on our side.',
			cause: 'This error occurs when our system has encountered an internal system error.',
			solution: 'You can retry later, or please get in touch with our support if you keep getting this error.',
		});
		assert.deepEqual(Object.keys(apiCatalog).sort(), ['200', '400', '401', '404', '500']);
	});
});

describe('parses an error page in the same format', () => {
	const page = `# Errors
| Status | Meaning |
| --- | --- |
| 409 - Conflict | The resource changed meanwhile. |
| 5xx - Server Error | Our fault. |

### 409 - Conflict
**Cause**: Someone else
updated it first.
**Solution**: Fetch it again and reapply your change.
`;

	it('reads the table, the sections and wrapped lines', () => {
		assert.deepEqual(parseCatalog(page), {
			409: {
				title: 'Conflict',
				description: 'The resource changed meanwhile.',
				cause: 'Someone else updated it first.',
				solution: 'Fetch it again and reapply your change.',
			},
			'5xx': { title: 'Server Error', description: 'Our fault.', cause: '', solution: '' },
		});
	});

	for (const [name, broken, line, problem] of [
		['a bad first cell', '| Status | x |\n| --- | --- |\n| four-oh-four | y |', 3, /expected `<status> - <title>` in the first cell/],
		['a status out of range', '| Status | x |\n| --- | --- |\n| 700 - Odd | y |', 3, /outside 100-599/],
		['a status listed twice', '| Status | x |\n| --- | --- |\n| 404 - A | y |\n| 404 - B | z |', 4, /listed twice/],
		['a section without Solution', '### 404 - Not Found\n**Cause**: gone\n', 1, /has no \*\*Solution\*\*/],
		['a section with two Causes', '### 404 - Not Found\n**Cause**: a\n**Cause**: b\n**Solution**: c', 3, /second \*\*Cause\*\*/],
		['a malformed status heading', '### 40 - Short\n', 1, /in the heading/],
		['a page with nothing in it', 'Just prose.', 1, /no status table/],
	] as const) {
		it(`names the line of ${name}`, () => {
			assert.throws(
				() => parseCatalog(broken),
				(error: unknown) => error instanceof SyntaxError && error.message.startsWith(`Line ${line}: `) && problem.test(error.message),
			);
		});
	}

	it('rejects a page that is not a string', () => {
		assert.throws(() => parseCatalog(42 as unknown as string), TypeError);
	});
});

describe('takes a catalog option', () => {
	it('overrides one field of a documented status and keeps the rest', async () => {
		serve('GET', '/v1/x', [{ status: 404 }]);
		const error = await createClient({ baseUrl: `${origin}/v1/`, catalog: { 404: { solution: 'Ask #team-api.' } } })
			.get('x')
			.catch((caught: unknown) => caught);
		assert.ok(isSteadfetchError(error));
		assert.equal(error.advice.solution, 'Ask #team-api.');
		assert.equal(error.title, 'Not Found');
		assert.match(error.advice.cause, /wrong URL/);
	});

	it('adds advice for a status of its own from a parsed page', async () => {
		const seen = serve('GET', '/v1/x', [{ status: 409 }]);
		const catalog = parseCatalog('### 409 - Conflict\n**Cause**: Edited meanwhile.\n**Solution**: Reload.');
		const error = await createClient({ baseUrl: `${origin}/v1/`, catalog })
			.get('x')
			.catch((caught: unknown) => caught);
		assert.ok(isSteadfetchError(error));
		assert.equal(seen.count, 1);
		assert.equal(error.title, 'Conflict');
		assert.deepEqual(error.advice, { cause: 'Edited meanwhile.', solution: 'Reload.' });
		// No description on the page: the 4xx class lends its own.
		assert.match(error.message, /^409 GET .*: The request was refused\. Solution: Reload\.$/);
	});
});
