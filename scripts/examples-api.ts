// The API that `npm run check:examples` runs the docs' examples against: a loopback server that answers what the
// examples call, and that misbehaves on purpose as the demo's API does (scripts/demo.ts), so that an example claiming
// retries shows them: the first request to each path that may be retried (a GET, or a request with an Idempotency-Key)
// gets a 500. A wrong key gets a 401; a path no example calls gets a 404.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The key the examples' prelude and environment give every client (`API_KEY`, `OPENAI_API_KEY`, `key`). */
export const exampleKey = 'sk-demo-valid';

export interface ExampleRequest {
	readonly method: string;
	readonly path: string;
	readonly status: number;
}

export interface ExamplesApi {
	readonly port: number;
	/** Every request the API answered, in order. */
	readonly requests: readonly ExampleRequest[];
	readonly close: () => Promise<void>;
}

// What each path answers once it has failed its first time. The hosts of the examples (api.example.com, api.openai.com,
// api.github.com) all land here: routes go by path alone.
const routes: readonly { readonly method: string; readonly path: RegExp; readonly body: (match: RegExpExecArray) => unknown }[] = [
	{ method: 'GET', path: /^\/v1\/users\/(\w+)$/, body: ([, id]) => ({ id, name: 'Ada Lovelace' }) },
	{ method: 'GET', path: /^\/v1\/exports\/latest$/, body: () => ({ items: [{ id: 1 }, { id: 2 }] }) },
	{ method: 'GET', path: /^\/v1\/items$/, body: () => [{ id: 1 }, { id: 2 }] },
	{ method: 'POST', path: /^\/v1\/(orders|sync|deliveries)$/, body: ([, what]) => ({ [what ?? 'ok']: 'accepted' }) },
	{
		method: 'POST',
		path: /^\/v1\/chat\/completions$/,
		body: () => ({
			id: 'chatcmpl-1',
			object: 'chat.completion',
			created: 0,
			model: 'gpt-5-mini',
			choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
		}),
	},
	{ method: 'POST', path: /^\/graphql$/, body: () => ({ data: { viewer: { login: 'octocat' } } }) },
	{ method: 'GET', path: /^\/repos\/([\w-]+)\/([\w-]+)$/, body: ([, owner, repo]) => ({ full_name: `${owner}/${repo}` }) },
];

const retriable = (request: IncomingMessage) => request.method === 'GET' || request.headers['idempotency-key'] !== undefined;

/** Start one API, with a state of its own: one per example. */
export async function startExamplesApi(): Promise<ExamplesApi> {
	const requests: ExampleRequest[] = [];
	const failed = new Set<string>();
	const server = createServer((request, response) => {
		const { pathname } = new URL(request.url ?? '/', 'http://127.0.0.1');
		const method = request.method ?? 'GET';
		const reply = (status: number, body: unknown) => {
			if (pathname !== '/__ready') {
				requests.push({ method, path: pathname, status });
			}
			response.writeHead(status, { 'content-type': 'application/json' });
			response.end(JSON.stringify(body));
		};
		// The body is read whole before the answer, as a real server does: a retried POST sends it again.
		request.resume();
		request.on('end', () => {
			const route = routes.find((candidate) => candidate.method === method && candidate.path.test(pathname));
			const match = route?.path.exec(pathname);
			const authorization = request.headers.authorization;
			if (pathname === '/__ready') {
				reply(200, {});
			} else if (authorization !== undefined && authorization !== `Bearer ${exampleKey}`) {
				reply(401, { error: 'invalid_api_key' });
			} else if (!route || !match) {
				reply(404, { error: 'not_found', path: pathname });
			} else if (retriable(request) && !failed.has(`${method} ${pathname}`)) {
				failed.add(`${method} ${pathname}`);
				reply(500, { error: 'database briefly unavailable' });
			} else {
				reply(method === 'POST' && pathname.startsWith('/v1/orders') ? 201 : 200, route.body(match));
			}
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		port: (server.address() as AddressInfo).port,
		requests,
		close: () => {
			server.closeAllConnections();
			return new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}
