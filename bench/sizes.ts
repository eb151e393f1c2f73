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
