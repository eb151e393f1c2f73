// `npm run check:package`: the package as users get it. Packs the tarball, then checks its files, runs publint and
// Are the Types Wrong on it, bundles the browser entry (no Node-only code may be reachable), and holds the size budget.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { bundle, importSizes, measure, type SizeRow } from '../bench/sizes.ts';

// Bytes, min+gzip: the one place for size budgets. Set from measurement with a little headroom; raise them only on
// purpose, and say why in the commit. History (own code, whole entry with dependencies): 11.1/20.5 KB on 2026-11-25;
// 13.5/22.7 KB on the morning of 2026-11-27; 20.2/29.4 KB that evening (attempt engine, secrets masked on every path,
// every rate-limit header and pacing, ky's retry vocabulary, diagnostics channels).
// Later on 2026-11-27: each import bundled alone, as the weight issue measures; the error classes no longer import ky (the
// client links them to ky's when it is made), so the drop-in fetch and jobs carry no ky: createFetch 23.6 -> 15.7 KB.
// Then, the same day: options read once (getters and Proxies named), retryJob's \`fetch\` option, the diagnostics' call
// start and call object with the tracing hook for steadfetch/otel, and the client's instance wrapper opening each call
// (CPU per request down 3-5%, in bytes up 0.8 KB min): own 21.4 KB, createFetch 16.3, createClient 26.7, retryJob
// 18.2, whole entry 30.6 KB. The weight issue's targets are reported below, not met.
// Then each raised by what the audit of issues 12 and 15 added, as measured (own +718, createFetch +588, createClient
// +782, retryJob +630, whole entry +798 B): a secret found however each of its characters comes back (percent-encoded
// once or twice, JSON and HTML escapes, base64url, a JSON number) by a matcher without backtracking, most of it; one-word
// `...key` credential names; `data` bounded in UTF-8 bytes; rate-limit resets past a day unreadable; a call's timeouts,
// `json` and symbol header values checked; `maxRetryAfter` raising `maxDelayMs`.
// Then raised by what keeping steadfetch's own hooks first costs, as measured (own +383, createClient +388, whole entry
// +395 B): a call or extend() that clears or replaces ky's hooks (\`undefined\`, replaceOption) dropped the enrichment
// of errors at the retry limit and the Idempotency-Key hook; their merge is now worked out and ours put back in front.
// Then raised by what the client's own loop costs (#23), as measured on 2026-12-07 (own 23,698, createFetch 17,752,
// createClient 29,186, retryJob 19,724, whole entry 32,959 B): the loop shared by client and fetch (src/engine/loop.ts: the
// attempt's own timer, the failing body read within it, forced retries, the deadline on pacing), ky's afterResponse and
// beforeRetry hooks run by it (surfaces/ky-hooks.ts), every ky option merged and checked per extend() and per call,
// throwHttpErrors as a function, create(), and the one job binding; less the hooks it no longer merges into ky's.
// Then, the same day, by what ky's own test suite asked for (own 24,357, createFetch 18,224, createClient 29,883,
// retryJob 20,197, whole entry 33,688 B): the attempt's timer racing a fetch or a body read that ignores its signal, the
// read of a success's body bounded again, shouldRetry over a custom fetch's own errors, forced retries as a class, ky's
// rules for 413, JSON media types and leap seconds, and one LRU for the per-origin state of the engine and of otel.
// Then by what src/ laid out by layer costs (#23), measured on 2026-12-07 (own 24,511, createFetch 18,329, createClient
// 30,232, retryJob 20,327, whole entry 34,072 B): no code added, but the client's call split from its instance (its
// shared state handed as a context object), a call's messages to subscribers in a class of their own, and modules that
// esbuild concatenates in another order (createClient +322 B min, +305 B min+gzip).
// Then by guards that know the API's domains (#24), measured on 2026-12-07 (own 26,848, createFetch 20,626, createClient
// 32,551, retryJob 22,642, whole entry 36,458 B; +2.3 KB each): breakers and budgets per endpoint beside the origin's,
// rate-limit windows per tenant (a credential hash) and bucket with the endpoint's list of them, a pacer that counts the
// requests in flight and wakes its waiters on an answer, the sampled LRU, `rateLimit.key`, and refusals as local Responses.
// Then by errors that say what the server and the network said (#27), measured on 2026-12-07 as db0fb80 with only #27's
// changes (own 26,988 -> 28,694, createFetch 20,779 -> 22,481, createClient 32,710 -> 34,417, retryJob 22,793 -> 24,458,
// whole entry 36,611 -> 38,287 B; +1.7 KB each; db0fb80 alone was already ~100 B over the budgets before): the server's
// reason read from RFC 9457 problem details and the common body shapes, bounded and redacted (errors/reason.ts, 1.6 KB
// min), the network code read from the cause chain with a phrase per common code and Bun's errors counted as network
// failures (errors/network-code.ts, 1.2 KB min), and redaction made linear: URLs in text found from each `://`, base64 of
// a secret written as bytes (+0.8 KB min in secrets/).
// Then by telemetry that tells the truth (#25) and guards whose state is made only once a domain fails, measured on
// 2026-12-07 (own 29,723, createFetch 23,476, createClient 35,448, retryJob 25,448, whole entry 39,342 B; +0.9 KB for
// #25): the call's messages redacted with every credential it sent, one classed end per call (error.type from a closed
// set, a body's read ending the call), the publisher that keeps a subscriber's exception from the process.
// Then by what ky's own test suite run against the client found (#23 item 3, scripts/ky-suite.ts), measured on 2026-12-07
// (own 29,818, createFetch 23,534, createClient 35,535, retryJob 25,505, whole entry 39,436 B; +94 B on the whole entry):
// a parseJson that never settles bounded by the failing body's read time, an afterResponse hook's exception cancelling
// both bodies, create() refusing what is not an object, the runtime's TypeError kept a TypeError in the redacted cause.
export const budget = {
	own: 29_840,
	createFetch: 23_560,
	createClient: 35_560,
	retryJob: 25_530,
	'whole entry': 39_460,
};
/** The weight issue's targets, against the peers measured in the same run: reported until met, not yet enforced. */
const targets: Record<string, (peers: Record<string, SizeRow>) => { limit: number; says: string }> = {
	createFetch: () => ({ limit: 7000, says: '7 KB' }),
	createClient: (peers) => ({ limit: (peers.ky?.gzip ?? 0) + 7000, says: 'ky + 7 KB' }),
	'whole entry': (peers) => ({ limit: (peers['ky + p-retry']?.gzip ?? 0) + 8000, says: 'ky + p-retry + 8 KB' }),
};
// Imports that must not pull a dependency into a user's bundle: the drop-in fetch and jobs never call ky.
const mustNotImport: Record<string, readonly string[]> = {
	"export { createFetch } from './dist/index.js';": ['ky', 'p-retry'],
	"export { retryJob } from './dist/index.js';": ['ky'],
};
const dependencies = ['ky', 'p-retry', 'is-network-error'];
// Uses of Node's globals, not words in strings ('processed') or other names (ArrayBuffer).
const nodeOnly: Record<string, RegExp> = {
	process: /(?<![\w$.])process\s*\./,
	Buffer: /(?<![\w$.])Buffer\s*\./,
	require: /(?<![\w$.])require\s*\(/,
};
const allowed = /^(?:package\.json|README\.md|LICENSE|dist\/.+\.(?:js|d\.ts)|docs\/.+\.(?:md|svg))$/;

const root = new URL('../', import.meta.url).pathname;
const problems: string[] = [];
const work = mkdtempSync(join(tmpdir(), 'steadfetch-pack-'));
try {
	const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' })) as {
		filename: string;
		files: { path: string }[];
	}[];
	if (!packed) {
		throw new Error('npm pack produced nothing');
	}
	const tarball = join(work, packed.filename);
	console.log(`packed ${packed.filename}: ${packed.files.length} files`);

	for (const { path } of packed.files) {
		if (!allowed.test(path)) {
			problems.push(`the tarball holds ${path}, which a user does not need`);
		}
	}

	const { messages, pkg } = await publint({
		pack: { tarball: readFileSync(tarball).buffer as ArrayBuffer },
		level: 'suggestion',
		strict: true,
	});
	for (const message of messages) {
		problems.push(`publint: ${formatMessage(message, pkg) ?? message.code}`);
	}
	console.log(`publint: ${messages.length} messages`);

	try {
		// ESM only: CommonJS callers reach it through require(esm), which Node 22.12+ provides (spec/runtimes.spec.ts).
		execFileSync(join(root, 'node_modules/.bin/attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped'], {
			encoding: 'utf8',
			stdio: 'pipe',
		});
		console.log('attw: no problems');
	} catch (error) {
		problems.push(`attw: ${(error as { stdout?: string }).stdout ?? error}`);
	}

	// The browser platform fails on any node: import; the scans below catch Node globals.
	const own = await bundle(root, { file: 'dist/index.js' }, dependencies);
	const text = new TextDecoder().decode(own);
	for (const [global, use] of Object.entries(nodeOnly)) {
		if (use.test(text)) {
			problems.push(`the browser bundle uses ${global}: Node-only code is reachable`);
		}
	}
	for (const [source, forbidden] of Object.entries(mustNotImport)) {
		const code = new TextDecoder().decode(await bundle(root, { source }, dependencies));
		for (const name of forbidden) {
			if (new RegExp(`from\\s*["']${name}["']|import\\s*["']${name}["']`).test(code)) {
				problems.push(`\`${source}\` bundles ${name}, which it never calls`);
			}
		}
	}
	const sizes: Record<string, SizeRow> = { own: measure('own', own), ...(await importSizes(root)) };
	for (const [name, limit] of Object.entries(budget)) {
		const size = sizes[name];
		const target = targets[name]?.(sizes);
		const goal = target ? `; target ${target.says} = ${target.limit} B: ${size && size.gzip <= target.limit ? 'met' : 'NOT met'}` : '';
		console.log(
			`browser bundle, ${name === 'own' ? "steadfetch's own code (dependencies external)" : `${name} alone, with dependencies`}: ${size?.min} B min, ${size?.gzip} B min+gzip (budget ${limit} B${goal})`,
		);
		if (!size || size.gzip > limit) {
			problems.push(`the ${name} bundle is ${size?.gzip} B min+gzip, over its budget of ${limit} B`);
		}
	}
	for (const [name, size] of Object.entries(sizes)) {
		if (!(name in budget)) {
			console.log(`  peer, same run: ${name}: ${size.min} B min, ${size.gzip} B min+gzip`);
		}
	}
} finally {
	rmSync(work, { recursive: true, force: true });
}

if (problems.length > 0) {
	console.error(`\n${problems.length} package problem(s):\n- ${problems.join('\n- ')}`);
	process.exitCode = 1;
} else {
	console.log('package: no problems');
}
