// `node --cpu-prof --cpu-prof-dir=<dir> bench/profile.ts <contender> [requests]`: one contender's happy path under the
// profiler, against the benchmark server in its own process; then `node bench/profile.ts --top <file.cpuprofile>`
// prints the functions with the most self time.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { contenders } from './contenders.ts';

if (process.argv[2] === '--top') {
	const profile = JSON.parse(readFileSync(process.argv[3] ?? '', 'utf8')) as {
		nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
		samples: number[];
	};
	const self = new Map<number, number>();
	for (const sample of profile.samples) {
		self.set(sample, (self.get(sample) ?? 0) + 1);
	}
	const byFrame = new Map<string, number>();
	for (const node of profile.nodes) {
		const { functionName, url, lineNumber } = node.callFrame;
		const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/')}:${lineNumber + 1}`;
		byFrame.set(key, (byFrame.get(key) ?? 0) + (self.get(node.id) ?? 0));
	}
	const total = profile.samples.length;
	for (const [frame, count] of [...byFrame.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[4] ?? 25))) {
		console.log(`${((count / total) * 100).toFixed(1).padStart(5)}%  ${frame}`);
	}
} else {
	const contender = contenders.find(({ name }) => name === process.argv[2]);
	if (!contender) {
		throw new TypeError(`Expected a contender: ${contenders.map(({ name }) => name).join(', ')}`);
	}
	const server = fork(new URL('server.ts', import.meta.url).pathname);
	const { port } = await new Promise<{ port: number }>((resolve) =>
		server.once('message', (message) => resolve(message as { port: number })),
	);
	const call = contender.make(3, 1);
	const n = Number(process.argv[3] ?? 20_000);
	let next = 0;
	await Promise.all(
		Array.from({ length: 64 }, async () => {
			while (next++ < n) {
				await call(`http://127.0.0.1:${port}/ok`);
			}
		}),
	);
	server.disconnect();
}
