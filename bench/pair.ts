// `node bench/pair.ts <contender A> <contender B> [rounds] [requests] [concurrency]`: two contenders alone, taking
// turns, CPU per request of A over B per round and the median: a quick check of one change to a success path.
import { fork } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { contenders } from './contenders.ts';
import { medianInterval } from './median.ts';

const [nameA = 'steadfetch client', nameB = 'ky', rounds = '10', requests = '3000', concurrency = '64'] = process.argv.slice(2);
const pick = (name: string) => {
	const contender = contenders.find((candidate) => candidate.name === name);
	if (!contender) {
		throw new TypeError(`Expected a contender: ${contenders.map(({ name: known }) => known).join(', ')}`);
	}
	return contender.make(3, 1);
};
const server = fork(new URL('server.ts', import.meta.url).pathname);
const { port } = await new Promise<{ port: number }>((resolve) =>
	server.once('message', (message) => resolve(message as { port: number })),
);
const url = `http://127.0.0.1:${port}/ok`;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const cpuPerRequest = async (call: (url: string) => Promise<unknown>) => {
	// Each side starts from a collected heap, so that neither pays for the other's garbage.
	gc();
	let next = 0;
	const cpu = process.cpuUsage();
	await Promise.all(
		Array.from({ length: Number(concurrency) }, async () => {
			while (next++ < Number(requests)) {
				await call(url);
			}
		}),
	);
	const used = process.cpuUsage(cpu);
	return (used.user + used.system) / Number(requests);
};
const [a, b] = [pick(nameA), pick(nameB)];
await cpuPerRequest(a);
await cpuPerRequest(b);
const ratios: number[] = [];
for (let round = 0; round < Number(rounds); round++) {
	const [first, second] = round % 2 ? [await cpuPerRequest(b), await cpuPerRequest(a)] : [await cpuPerRequest(a), await cpuPerRequest(b)];
	ratios.push(round % 2 ? second / first : first / second);
}
ratios.sort((x, y) => x - y);
const interval = medianInterval(ratios.length);
const within = interval ? `, 95% interval ${ratios[interval[0]]?.toFixed(3)}x to ${ratios[interval[1]]?.toFixed(3)}x` : '';
console.log(
	`${nameA} / ${nameB}: median ${ratios[Math.floor(ratios.length / 2)]?.toFixed(3)}x${within} over ${rounds} rounds at concurrency ${concurrency} (${ratios.map((ratio) => ratio.toFixed(2)).join(' ')})`,
);
server.disconnect();
