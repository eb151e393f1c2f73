// Issue 23 item 3: ky's own test suite run against a client configured to ky's defaults. Every test ky passes should
// pass, or fail only on a difference docs/retries.md lists ("How the client runs ky").
// Run (Node 24), from this repository, with a checkout of ky's repository whose dev dependencies are installed
// (`git archive <commit> | tar -x -C /tmp/ky-src && cd /tmp/ky-src && npm install --ignore-scripts`; docs/retries.md,
// "Measured against ky's own tests", names the commit measured):
//   npm run build && node scripts/ky-suite.ts <ky checkout> [--ky] [ava arguments, e.g. test/retry.ts --match '*413*']
// Every import of the checkout's `source/index.js` by its tests is answered by a module that exports the installed ky's
// named exports (HTTPError, isHTTPError...: the classes steadfetch's errors extend) and, as the default, this
// repository's dist/ `createClient` with ky's defaults (`kyDefaults` below); with --ky, the installed ky itself (the
// baseline for the version steadfetch runs on). Tests that import ky's internals (`source/utils/...`) get them as they
// are. ava prints TAP; without test files, every test/*.ts runs but test/browser.ts (Playwright's own browsers).
// Not part of npm test: CI has no ky checkout (it is a measurement tool, not a spec).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** ky 2.1's defaults, in the client's words, with steadfetch's own guards off. */
export const kyDefaults = {
	retry: {
		limit: 2,
		methods: ['get', 'put', 'head', 'delete', 'options', 'trace', 'query'],
		statusCodes: [408, 413, 429, 500, 502, 503, 504],
		afterStatusCodes: [413, 429, 503],
		jitter: false,
		retryOnTimeout: false,
		// ky sleeps any wait (maxRetryAfter Infinity): the longest a timer holds, so that no wait fails the call early.
		maxDelayMs: 2_147_483_647,
	},
	budget: false,
	breaker: false,
	rateLimit: false,
} as const;

const alias = 'ky-suite:ky';
const { KY_SUITE_CHECKOUT: checkout, KY_SUITE_TARGET: target } = process.env;

if (import.meta.main) {
	const [path, ...rest] = process.argv.slice(2);
	if (!path) {
		throw new TypeError('Expected the path of a ky checkout: node scripts/ky-suite.ts <ky checkout> [--ky] [ava arguments]');
	}
	const root = resolve(path);
	const ava = rest.filter((argument) => argument !== '--ky');
	const files = ava.some((argument) => argument.startsWith('test/'))
		? []
		: readdirSync(resolve(root, 'test')).flatMap((name) => (name.endsWith('.ts') && name !== 'browser.ts' ? [`test/${name}`] : []));
	const { status } = spawnSync(
		process.execPath,
		['node_modules/ava/entrypoints/cli.mjs', '--tap', `--node-arguments=--import=${import.meta.url}`, ...files, ...ava],
		{
			cwd: root,
			stdio: 'inherit',
			env: { ...process.env, KY_SUITE_CHECKOUT: root, KY_SUITE_TARGET: rest.includes('--ky') ? 'ky' : 'client' },
		},
	);
	process.exitCode = status ?? 1;
} else if (checkout) {
	// In ava's workers: the tests' `../source/index.js` (tsx makes it the .ts) becomes the alias.
	const index = pathToFileURL(resolve(checkout, 'source/index')).href;
	const ky = import.meta.resolve('ky');
	const client = new URL('../dist/index.js', import.meta.url).href;
	const source =
		target === 'ky'
			? `export * from '${ky}'; export { default } from '${ky}';`
			: `export * from '${ky}'; import { createClient } from '${client}'; export default createClient(${JSON.stringify(kyDefaults)});`;
	registerHooks({
		resolve: (specifier, context, next) =>
			specifier === alias ||
			(context.parentURL?.startsWith(pathToFileURL(resolve(checkout, 'test')).href) &&
				new URL(specifier, context.parentURL).href.replace(/\.[jt]s$/, '') === index)
				? { url: alias, shortCircuit: true }
				: next(specifier, context),
		load: (url, context, next) => (url === alias ? { format: 'module', source, shortCircuit: true } : next(url, context)),
	});
}
