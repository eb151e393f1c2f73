// The benchmark's API, in its own process so that its CPU is not billed to the clients: a small JSON body on
// 127.0.0.1, scripted by path. /ok answers 200; /flaky/<id> answers 500 to a seeded 30% of attempts; /outage
// answers 500 always. The plan is bench/plan.ts. The parent asks for counts over IPC ('reset' → zero them, 'stats' → the counts).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fails } from './plan.ts';

const body = JSON.stringify({ id: 42, name: 'steadfetch', tags: ['bench', 'json'], ok: true });
let requests = 0;
const attempts = new Map<string, number>();

const server = createServer((request, response) => {
	requests++;
	const url = request.url ?? '/';
	let status = 200;
	if (url.startsWith('/flaky/') || url.startsWith('/outage/')) {
		const id = url.slice(url.indexOf('/', 1) + 1);
		const attempt = (attempts.get(id) ?? 0) + 1;
		attempts.set(id, attempt);
		status = url.startsWith('/outage/') || fails(id, attempt) ? 500 : 200;
	}
	response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
	response.end(body);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('message', (message) => {
	if (message === 'reset') {
		requests = 0;
		attempts.clear();
	}
	process.send?.({ requests, maxAttempts: Math.max(0, ...attempts.values()) });
});
// The parent's exit (or its disconnect) ends this process too: nothing is left running.
process.on('disconnect', () => {
	server.closeAllConnections();
	server.close();
});
