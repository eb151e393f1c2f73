import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
One scripted answer: a response (`cut`: its body is cut off mid-way, after the headers and `body` were sent), a
connection reset before any response, or no answer at all (`hang`: held until the server closes).
*/
export type ScriptedReply =
	| { readonly status: number; readonly body?: string; readonly headers?: Record<string, string>; readonly cut?: true }
	| { readonly reset: true }
	| { readonly hang: true };

/** One request as the server saw it. */
export interface SeenRequest {
	readonly method: string;
	readonly headers: IncomingHttpHeaders;
}

/** What a recording server saw so far. */
export interface Recorder {
	readonly url: string;
	readonly requests: readonly SeenRequest[];
}

/**
A real HTTP server on 127.0.0.1 that answers request n with `replies[n]` (599 past the end of the script) and records
the method and headers of each request: support/loopback.ts keeps headers only, and the surfaces spec compares methods.
Runs `run`, then closes the server whatever happens.
*/
export async function withRecorder(replies: readonly ScriptedReply[], run: (server: Recorder) => Promise<void>): Promise<void> {
	const requests: SeenRequest[] = [];
	const server: Server = createServer((request, response) => {
		const reply = replies[requests.length] ?? { status: 599, body: 'unscripted request' };
		requests.push({ method: request.method ?? '', headers: request.headers });
		// Drain the body, so that a reply is never held up by an unread upload.
		request.resume();
		if ('hang' in reply) {
			return;
		}
		if ('reset' in reply) {
			request.socket.destroy();
			return;
		}
		const body = reply.body ?? '';
		if (reply.cut) {
			// A length the body never reaches: the client has the headers and part of the body when the connection breaks.
			response.writeHead(reply.status, {
				'content-type': 'application/json',
				'content-length': String(body.length + 100),
				...reply.headers,
			});
			response.write(body, () => request.socket.destroy());
			return;
		}
		response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
		response.end(body);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	try {
		await run({ url: `http://127.0.0.1:${port}`, requests });
	} finally {
		server.closeAllConnections();
		await new Promise<void>((resolve) => server.close(() => resolve()));
	}
}
