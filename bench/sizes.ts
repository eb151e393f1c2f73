// Browser bundles built the same way for every library: esbuild, platform browser, ES2022, minified; gzip level 9.
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export interface SizeRow {
	readonly bundle: string;
	/** Bytes, minified. */
	readonly min: number;
	/** Bytes, minified and gzipped. */
	readonly gzip: number;
}

/** Bundle one entry (a file, or module source that imports packages) and return its code. */
export async function bundle(
	root: string,
	entry: { readonly file: string } | { readonly source: string },
	external: readonly string[] = [],
): Promise<Uint8Array> {
	const output = await build({
		...('file' in entry
			? { entryPoints: [join(root, entry.file)] }
			: { stdin: { contents: entry.source, resolveDir: root, loader: 'js' as const } }),
		bundle: true,
		minify: true,
		format: 'esm',
		platform: 'browser',
		target: 'es2022',
		write: false,
		external: [...external],
		logLevel: 'silent',
	});
	return output.outputFiles[0]?.contents ?? new Uint8Array();
}

export const measure = (bundleName: string, code: Uint8Array): SizeRow => ({
	bundle: bundleName,
	min: code.length,
	gzip: gzipSync(code, { level: 9 }).length,
});

/** steadfetch's main imports, each bundled alone from dist/ with its dependencies, as a user's bundler sees them. */
export const steadfetchImports = {
	createFetch: "export { createFetch } from './dist/index.js';",
	createClient: "export { createClient } from './dist/index.js';",
	retryJob: "export { retryJob } from './dist/index.js';",
	'whole entry': "export * from './dist/index.js';",
} as const;

/** What users compare each import with, bundled the same way in the same run. */
export const peerImports = {
	ky: "export { default } from 'ky';",
	'p-retry': "export { default } from 'p-retry';",
	'ky + p-retry': "export { default } from 'ky'; export { default as pRetry } from 'p-retry';",
	'fetch-retry': "export { default } from 'fetch-retry';",
	'p-retry around fetch': "import pRetry from 'p-retry'; export const retryingFetch = (input, init) => pRetry(() => fetch(input, init));",
	'cockatiel with a breaker':
		"import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleAll, retry, wrap } from 'cockatiel'; export const policy = wrap(retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }), circuitBreaker(handleAll, { halfOpenAfter: 10000, breaker: new ConsecutiveBreaker(5) }));",
	ofetch: "export { ofetch } from 'ofetch';",
	'axios + axios-retry': "export { default as axios } from 'axios'; export { default as axiosRetry } from 'axios-retry';",
} as const;

/** Each of steadfetch's imports and each peer, bundled alone in one run. */
export async function importSizes(root: string): Promise<Record<string, SizeRow>> {
	const rows: Record<string, SizeRow> = {};
	for (const [name, source] of [...Object.entries(steadfetchImports), ...Object.entries(peerImports)]) {
		rows[name] = measure(name, await bundle(root, { source }));
	}
	return rows;
}

/** steadfetch's own code and with its dependencies (from dist/), and the libraries a user might pick instead. */
export async function bundleSizes(root: string): Promise<SizeRow[]> {
	const library = (name: string) => ({ source: `export * from '${name}'; export { default } from '${name}';` });
	return [
		measure("steadfetch's own code", await bundle(root, { file: 'dist/index.js' }, ['ky', 'p-retry', 'is-network-error'])),
		measure('steadfetch with ky, p-retry, is-network-error', await bundle(root, { file: 'dist/index.js' })),
		measure('ky', await bundle(root, library('ky'))),
		measure('ofetch', await bundle(root, { source: "export * from 'ofetch';" })),
		measure('axios', await bundle(root, library('axios'))),
		measure(
			'axios + axios-retry',
			await bundle(root, { source: "export { default as axios } from 'axios'; export { default as axiosRetry } from 'axios-retry';" }),
		),
		measure('fetch-retry', await bundle(root, { source: "export { default } from 'fetch-retry';" })),
	];
}
