// `npm run check:api`: fails when the public API changed and docs/api/ was not regenerated (`npm run api`).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('../', import.meta.url).pathname;
const committed = join(root, 'docs/api');
const fresh = mkdtempSync(join(tmpdir(), 'steadfetch-api-'));

const files = (dir: string): Map<string, string> =>
	new Map(
		readdirSync(dir, { recursive: true, withFileTypes: true })
			.filter((entry) => entry.isFile())
			.map((entry) => {
				const path = join(entry.parentPath, entry.name);
				return [relative(dir, path), readFileSync(path, 'utf8')];
			}),
	);

try {
	execFileSync(process.execPath, [join(root, 'node_modules/typedoc/bin/typedoc'), '--out', fresh], { cwd: root, stdio: 'inherit' });
	const [want, have] = [files(fresh), files(committed)];
	const stale = [...new Set([...want.keys(), ...have.keys()])].filter((path) => want.get(path) !== have.get(path)).sort();
	if (stale.length > 0) {
		console.error(`docs/api/ is out of date (${stale.length} file(s): ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', ...' : ''}).`);
		console.error('The public API changed: run `npm run api` and commit docs/api/.');
		process.exitCode = 1;
	} else {
		console.log(`docs/api/ matches the public API (${want.size} files)`);
	}
} finally {
	rmSync(fresh, { recursive: true, force: true });
}
