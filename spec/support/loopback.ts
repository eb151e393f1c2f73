import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted answer of the loopback server: a response, a connection reset before any response, a body cut off, or a body that stalls. */
export type LoopbackReply =
	| { readonly status: number; readonly body?: string; readonly headers?: Record<string, string>; readonly delayMs?: number }
	| { readonly reset: true }
	| { readonly cut: number }
	| { readonly stall: number };

/** A real HTTP server on 127.0.0.1 that answers from a script and counts what it saw. */
export interface Loopback {
	readonly url: string;
	readonly count: number;
	readonly headers: IncomingHttpHeaders[];
	/** The body of each request, as text, once it has arrived. */
	readonly bodies: Promise<string>[];
	close(): Promise<void>;
}

/**
Start a server on 127.0.0.1 (port chosen by the OS) that answers request n with `replies[n]`, and with 599 past the end of the script.
*/
export async function startLoopback(replies: readonly LoopbackReply[]): Promise<Loopback> {
	const headers: IncomingHttpHeaders[] = [];
	const bodies: Promise<string>[] = [];
	const timers = new Set<NodeJS.Timeout>();
	const server: Server = createServer((request, response) => {
		const reply = replies[headers.length] ?? { status: 599, body: 'unscripted request' };
		headers.push(request.headers);
		bodies.push(
			new Promise((resolve) => {
				const chunks: Buffer[] = [];
				request.on('data', (chunk: Buffer) => chunks.push(chunk));
				request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
				request.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
			}),
		);
		if ('reset' in reply) {
			request.socket.destroy();
			return;
		}
		if ('stall' in reply) {
			// Headers, a few bytes of the body, then nothing more until the server closes.
			response.writeHead(reply.stall, { 'content-type': 'application/json' });
			response.write('{"partial":');
			return;
		}
		if ('cut' in reply) {
			// Headers promise 1000 bytes; a few arrive, then the connection drops.
			response.writeHead(reply.cut, { 'content-type': 'application/json', 'content-length': '1000' });
			response.write('{"partial":');
			setTimeout(() => request.socket.destroy(), 10);
			return;
		}
		const send = () => {
			if (response.destroyed) {
				return;
			}
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
		bodies,
		async close() {
			for (const timer of timers) {
				clearTimeout(timer);
			}
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

/** Run `run` against a loopback server answering from `replies`, and close the server whatever happens. */
export async function withLoopback(replies: readonly LoopbackReply[], run: (server: Loopback) => Promise<void>): Promise<void> {
	const server = await startLoopback(replies);
	try {
		await run(server);
	} finally {
		await server.close();
	}
}
