// `npm run test:newest`: the suite again on what a user who installs steadfetch today gets. For every runtime dependency
// and optional peer, the newest version its range in package.json allows is asked of the registry; those that differ from
// the lockfile's are installed in place (`--no-save`), then the build, the type-check and the specs run on them, and the lockfile's
// versions are put back, whatever the outcome. A release in range that breaks steadfetch fails here, not for users.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const root = new URL('../', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
	dependencies?: Record<string, string>;
	peerDependencies?: Record<string, string>;
};
const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8')) as { packages: Record<string, { version?: string }> };
const ranges: Record<string, string> = { ...manifest.peerDependencies, ...manifest.dependencies };

const npm = (parameters: readonly string[]): string => execFileSync('npm', parameters, { cwd: root, encoding: 'utf8' });

/** The newest published version in `range`: `npm view` lists every match, oldest first. */
const newestIn = (name: string, range: string): string => {
	const listed = JSON.parse(npm(['view', `${name}@${range}`, 'version', '--json'])) as string | string[];
	const newest = Array.isArray(listed) ? listed.at(-1) : listed;
	if (!newest) {
		throw new Error(`No published version of ${name} matches ${range}.`);
	}
	return newest;
};

const rows = Object.entries(ranges).map(([name, range]) => ({
	name,
	range,
	locked: lock.packages[`node_modules/${name}`]?.version ?? '(none)',
	newest: newestIn(name, range),
}));
for (const { name, range, locked, newest } of rows) {
	console.log(`${name} ${range}: lockfile ${locked}, newest in range ${newest}${newest === locked ? '' : '  <- differs'}`);
}
const newer = rows.filter(({ locked, newest }) => locked !== newest);
if (newer.length === 0) {
	console.log("test:newest: every newest in-range version is the lockfile's, which the suite above ran on.");
	process.exit(0);
}

const install = (specs: readonly string[]): void => {
	npm(['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', ...specs]);
};
let failed = false;
try {
	install(newer.map(({ name, newest }) => `${name}@${newest}`));
	console.log(
		`test:newest: running the build, the type-check and the specs on ${newer.map(({ name, newest }) => `${name}@${newest}`).join(', ')}`,
	);
	for (const script of ['build', 'typecheck', 'spec']) {
		// Bounded: a release that leaves a handle open must fail the run, not hold CI until its limit.
		const run = spawnSync('npm', ['run', script], { cwd: root, stdio: 'inherit', timeout: 15 * 60_000, killSignal: 'SIGKILL' });
		if (run.status !== 0) {
			failed = true;
			console.error(`test:newest: \`npm run ${script}\` failed on the newest in-range versions.`);
			break;
		}
	}
} finally {
	// Back to what the lockfile says, so that a run on a developer's machine leaves the tree as `npm ci` made it.
	install(newer.filter(({ locked }) => locked !== '(none)').map(({ name, locked }) => `${name}@${locked}`));
}
process.exit(failed ? 1 : 0);
