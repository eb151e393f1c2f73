import nock from 'nock';

/** The fake API every nock spec talks to. */
export const origin = 'https://api.example.test';

/** One scripted answer. Connection failures are scripted on a real server (support/loopback.ts): nock's replyWithError leaves fetch hanging. */
export type Reply = {
	readonly status: number;
	readonly body?: string | Record<string, unknown>;
	readonly headers?: Record<string, string>;
	readonly delayMs?: number;
};

/** What the fake API saw. */
export interface Seen {
	/** How many requests reached it. */
	readonly count: number;
	/** The headers of each request, in order. */
	readonly headers: Record<string, string | string[] | undefined>[];
	/** The body of each request, in order. */
	readonly bodies: string[];
}

/**
Script the answers to `method path`, one per request, in order. Requests beyond the script find no interceptor and fail with nock's error, which the counts in each spec would show.
*/
export function serve(method: string, path: string, replies: readonly Reply[]): Seen {
	const seen = { count: 0, headers: [] as Seen['headers'], bodies: [] as string[] };
	for (const reply of replies) {
		const scope = nock(origin)
			.intercept(path, method)
			.delay(reply.delayMs ?? 0)
			.reply(reply.status, reply.body ?? '', reply.headers);
		scope.on('request', (request: { headers: Headers | Record<string, string> }, _interceptor: unknown, body: string) => {
			seen.count++;
			// nock hands fetch requests over with a Headers object, http requests with a plain one.
			seen.headers.push(Object.fromEntries(new Headers(request.headers as HeadersInit)));
			seen.bodies.push(body);
		});
	}
	return seen;
}

/** `n` copies of a reply. */
export const times = <R extends object>(n: number, reply: R): R[] => Array.from({ length: n }, () => reply);

// No spec reaches the network; loopback stays open for the specs that run a real server.
nock.disableNetConnect();
nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);

export const mochaHooks = {
	afterEach(): void {
		nock.cleanAll();
	},
};
