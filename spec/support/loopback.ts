import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted answer of the loopback server: a response, or a connection reset before any response. */
export type LoopbackReply =
	| { readonly status: number; readonly body?: string; readonly headers?: Record<string, string>; readonly delayMs?: number }
	| { readonly reset: true };

/** A real HTTP server on 127.0.0.1 that answers from a script and counts what it saw. */
export interface Loopback {
	readonly url: string;
	readonly count: number;
	readonly headers: IncomingHttpHeaders[];
	close(): Promise<void>;
}

/**
Start a server on 127.0.0.1 (port chosen by the OS) that answers request n with `replies[n]`, and with 599 past the end of the script.
*/
export async function startLoopback(replies: readonly LoopbackReply[]): Promise<Loopback> {
	const headers: IncomingHttpHeaders[] = [];
	const timers = new Set<NodeJS.Timeout>();
	const server: Server = createServer((request, response) => {
		const reply = replies[headers.length] ?? { status: 599, body: 'unscripted request' };
		headers.push(request.headers);
		request.resume();
		if ('reset' in reply) {
			request.socket.destroy();
			return;
		}
		const send = () => {
			response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
			response.end(reply.body ?? '');
		};
		if (reply.delayMs) {
			const timer = setTimeout(send, reply.delayMs);
			timers.add(timer);
		} else {
			send();
		}
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		get count() {
			return headers.length;
		},
		headers,
		async close() {
			for (const timer of timers) {
				clearTimeout(timer);
			}
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}
