// Issue 24 item 3: when the drop-in fetch refuses a call without sending it (pacing: the rate-limit window is spent until
// later than `retry.maxDelayMs`; or the circuit breaker is open), what do the SDKs that take a custom fetch make of it?
// Every cell runs an SDK against a server of its own on 127.0.0.1 with one of three fetch shapes:
//   A   `createFetch({ throwHttpErrors: true })`: the refusal rejects with steadfetch's error (a 429 `ClientError` with
//       stopReason 'rate-limited'; a `CircuitOpenError`), the drop-in fetch's default before issue 24.
//   R   `createFetch()`'s defaults: the refusal resolves with a local Response (src/engine/refusal.ts): 429 with
//       `Retry-After` and `x-should-retry: false` for a rate-limit window, 503 with `Retry-After` and `retry-after-ms` for
//       an open circuit, both marked `x-steadfetch-refused: <stopReason>`, with the JSON body
//       `{"message", "error": {"message", "type": "steadfetch_refused", "code"}}`.
//   C   plain fetch against a server that really answers 429 with Retry-After (or 503): the reference.
// Scenarios: 'rl 2h' (reset 2 h ahead, default retry.maxDelayMs 30 s), 'rl 3s' (reset 3 s ahead, retry.maxDelayMs 1 s:
// a reset OpenAI would wait for, it waits up to 60 s), 'circuit' (breaker opened by two 500s, openMs 2 s).
// Guards are per domain (src/engine/guards/domains.ts, windows.ts, scope.ts): a breaker per endpoint (origin, method,
// path) for statuses, a rate-limit window per tenant (the credential's hash) and endpoint when the response names no
// bucket. So each cell primes the very route the SDK then calls, with the SDK's credential: OpenAI's
// POST /v1/chat/completions with `Authorization: Bearer sk-test`, Octokit's GET /repos/octocat/hello (no token),
// graphql-request's POST /graphql.
// Counts: calls the SDK made into the fetch it was given, requests that reached the server after priming, time.
// Run: npm run build && node scripts/sdk-refusals.ts (Node 24). Cells run side by side: about 5 s in all.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/core';
import { GraphQLClient } from 'graphql-request';
import OpenAI from 'openai';
import { createFetch, isCircuitOpenError, isHttpStatusError, isRefusal, isSteadfetchError } from '../dist/index.js';

type Scenario = 'rl 2h' | 'rl 3s' | 'circuit';
type Shape = 'A' | 'R' | 'C';
type Sdk = 'openai' | 'openai (maxRetries 0)' | 'octokit' | 'graphql-request';

const scenarios: readonly Scenario[] = ['rl 2h', 'rl 3s', 'circuit'];
const shapes: readonly Shape[] = ['A', 'R', 'C'];
const sdks: readonly Sdk[] = ['openai', 'openai (maxRetries 0)', 'octokit', 'graphql-request'];
const marker = 'x-steadfetch-refused';
const openMs = 2000;
const apiKey = 'sk-test';
/** No cell may take longer: past it, the cell is reported as timed out (and the whole run ends by 30 s regardless). */
const cellLimitMs = 25_000;

// One body every SDK takes as a success: a chat completion to OpenAI, a repository to Octokit, a result to GraphQL.
const success = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [], data: { viewer: { login: 'octocat' } } });
const json = { 'content-type': 'application/json' };

/** The route each SDK calls, as its own request carries it: priming must spend the same endpoint's (and tenant's) guards. */
function routeOf(sdk: Sdk, base: string): { url: string; init: RequestInit } {
	if (sdk === 'octokit') {
		return { url: `${base}/repos/octocat/hello`, init: { method: 'GET', headers: { accept: 'application/vnd.github.v3+json' } } };
	}
	if (sdk === 'graphql-request') {
		return {
			url: `${base}/graphql`,
			init: { method: 'POST', headers: json, body: JSON.stringify({ query: '{ viewer { login } }' }) },
		};
	}
	return {
		url: `${base}/v1/chat/completions`,
		init: {
			method: 'POST',
			headers: { ...json, authorization: `Bearer ${apiKey}` },
			body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
		},
	};
}

interface Server {
	base: string;
	hits: () => number;
	close: () => void;
}

/** The server of one cell: what it answers, and how many requests reached it. */
function startServer(scenario: Scenario, real: boolean): Promise<Server> {
	let hits = 0;
	// GitHub's headers, the reset in epoch seconds: the reset is put on a whole second so that the server and the header agree.
	const resetAt = Math.ceil((Date.now() + (scenario === 'rl 2h' ? 7_200_000 : 3000)) / 1000) * 1000;
	const answer = (res: ServerResponse): void => {
		const now = Date.now();
		if (scenario === 'circuit') {
			// Behind steadfetch, the API fails (500s open the breaker); the reference API says 503 with a wait.
			const headers = real ? { ...json, 'retry-after': String(openMs / 1000) } : json;
			res.writeHead(real ? 503 : 500, headers).end(JSON.stringify({ message: 'upstream down', error: { message: 'upstream down' } }));
			return;
		}
		const spent = now < resetAt;
		const quota = {
			'x-ratelimit-limit': '60',
			'x-ratelimit-remaining': spent ? '0' : '59',
			'x-ratelimit-reset': String((spent ? resetAt : resetAt + 60_000) / 1000),
		};
		if (real && spent) {
			const body = { message: 'API rate limit exceeded', error: { message: 'API rate limit exceeded', type: 'requests' } };
			res.writeHead(429, { ...json, ...quota, 'retry-after': String(Math.ceil((resetAt - now) / 1000)) }).end(JSON.stringify(body));
			return;
		}
		// Behind steadfetch, the answer that spends the window is a success: the next call on the route is the one refused.
		res.writeHead(200, { ...json, ...quota }).end(success);
	};
	const server = createServer((req: IncomingMessage, res: ServerResponse) => {
		req.resume();
		req.on('end', () => {
			hits++;
			answer(res);
		});
	});
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as AddressInfo;
			resolve({
				base: `http://127.0.0.1:${port}`,
				hits: () => hits,
				close: () => {
					server.closeAllConnections();
					server.close();
				},
			});
		});
	});
}

/** Whether a rejection of the drop-in fetch is its refusal of the call (A's shape). */
const isRefusalError = (error: unknown): boolean =>
	isCircuitOpenError(error) || (isHttpStatusError(error, 429) && (error.stopReason === 'rate-limited' || error.stopReason === 'deadline'));

/** A drop-in fetch of `shape` ('A' or 'R') whose route for `sdk` is already refusing: the window spent, or the breaker open. */
async function primedFetch(sdk: Sdk, scenario: Scenario, shape: Shape, base: string): Promise<typeof fetch> {
	const { url, init } = routeOf(sdk, base);
	const throwHttpErrors = shape === 'A' ? { throwHttpErrors: true } : {};
	if (scenario !== 'circuit') {
		// One success on the route with the SDK's credential, answered with `x-ratelimit-remaining: 0`.
		const steadfetch = createFetch({ ...throwHttpErrors, ...(scenario === 'rl 3s' ? { retry: { maxDelayMs: 1000 } } : {}) });
		await (await steadfetch(url, init)).text();
		return steadfetch;
	}
	// Two 500s on the route open its breaker (a GET may spend both in one call: steadfetch retries it); then a call is refused.
	const steadfetch = createFetch({ ...throwHttpErrors, breaker: { failureThreshold: 2, failureWindowMs: 0, openMs } });
	for (let tries = 0; tries < 5; tries++) {
		try {
			const response = await steadfetch(url, init);
			await response.text();
			if (isRefusal(response)) {
				return steadfetch;
			}
		} catch (error) {
			if (isRefusalError(error)) {
				return steadfetch;
			}
			// A: the 500s reject with steadfetch's ServerError; anything else is a bug of this script.
			if (!isHttpStatusError(error, 500)) {
				throw error;
			}
		}
	}
	throw new Error(`${sdk}, ${shape}: the breaker did not open`);
}

/** One SDK call through `fetch`; it resolves with what the call threw, or 'ok'. */
async function callSdk(sdk: Sdk, base: string, fetch: typeof globalThis.fetch): Promise<unknown> {
	try {
		if (sdk === 'openai' || sdk === 'openai (maxRetries 0)') {
			const openai = new OpenAI({
				apiKey,
				baseURL: `${base}/v1`,
				fetch,
				timeout: cellLimitMs,
				...(sdk === 'openai' ? {} : { maxRetries: 0 }),
			});
			await openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
		} else if (sdk === 'octokit') {
			const octokit = new Octokit({ baseUrl: base, request: { fetch } });
			await octokit.request('GET /repos/{owner}/{repo}', { owner: 'octocat', repo: 'hello' });
		} else {
			await new GraphQLClient(`${base}/graphql`, { fetch }).request('{ viewer { login } }');
		}
		return 'ok';
	} catch (error) {
		return error;
	}
}

interface Row {
	sdk: Sdk;
	scenario: Scenario;
	shape: Shape;
	error: string;
	status: string;
	message: string;
	calls: number;
	hits: number;
	ms: number;
	local: string;
}

type HeaderBag = Headers | Record<string, string | number | undefined> | undefined;
const header = (headers: HeaderBag, name: string): string | undefined => {
	const value = headers instanceof Headers ? headers.get(name) : headers?.[name];
	return value === null || value === undefined ? undefined : String(value);
};

/** Where a user can still tell that the call was refused locally: the marker header, or steadfetch's error itself. */
function localClues(error: unknown): string {
	const fields = error as { headers?: HeaderBag; response?: { headers?: HeaderBag }; cause?: unknown; error?: { type?: unknown } };
	const clues: string[] = [];
	const onError = header(fields.headers, marker);
	if (onError) {
		clues.push(`error.headers[${marker}]=${onError}`);
	}
	const onResponse = header(fields.response?.headers, marker);
	if (onResponse) {
		clues.push(`error.response.headers[${marker}]=${onResponse}`);
	}
	if (fields.error?.type === 'steadfetch_refused') {
		clues.push('error.error.type');
	}
	if (isSteadfetchError(error)) {
		clues.push('the error is steadfetch`s');
	} else if (isSteadfetchError(fields.cause)) {
		clues.push('error.cause (steadfetch`s)');
	}
	return clues.join(', ') || 'no';
}

/** What the SDK threw, as one row of the table. */
function describe(error: unknown): Pick<Row, 'error' | 'status' | 'message' | 'local'> {
	if (error === 'ok') {
		return { error: 'none (succeeded)', status: '-', message: '-', local: '-' };
	}
	const fields = error as { name?: unknown; status?: unknown; message?: unknown; response?: { status?: unknown } };
	const status = typeof fields.status === 'number' ? fields.status : fields.response?.status;
	const message = typeof fields.message === 'string' ? fields.message.replace(/\s+/g, ' ') : '';
	const name = String(fields.name);
	// steadfetch's own classes are said so: its `ClientError` is no graphql-request `ClientError`.
	const className = (error as object).constructor.name;
	const own = isSteadfetchError(error) ? ' (steadfetch)' : '';
	return {
		error: className === name ? `${className}${own}` : `${className}${own} (name ${name})`,
		status: status === undefined ? '-' : `${String(status)}${typeof fields.status === 'number' ? '' : ' (response.status)'}`,
		message: message.length > 60 ? `${message.slice(0, 60)}…` : message || '-',
		local: localClues(error),
	};
}

async function runCell(sdk: Sdk, scenario: Scenario, shape: Shape): Promise<Row> {
	const server = await startServer(scenario, shape === 'C');
	let timer: ReturnType<typeof setTimeout> | undefined;
	try {
		const inner = shape === 'C' ? globalThis.fetch : await primedFetch(sdk, scenario, shape, server.base);
		let calls = 0;
		const counted: typeof fetch = (input, init) => {
			calls++;
			return inner(input, init);
		};
		const primingHits = server.hits();
		const start = performance.now();
		const timedOut = new Promise<string>((resolve) => {
			timer = setTimeout(resolve, cellLimitMs, 'timed out');
		});
		const error = await Promise.race([callSdk(sdk, server.base, counted), timedOut]);
		const ms = Math.round(performance.now() - start);
		const described =
			error === 'timed out' ? { error: `timed out after ${cellLimitMs} ms`, status: '-', message: '-', local: '-' } : describe(error);
		return { sdk, scenario, shape, ...described, calls, hits: server.hits() - primingHits, ms };
	} finally {
		clearTimeout(timer);
		server.close();
	}
}

// The whole run is bounded: a cell that hangs past its limit is reported, and nothing may keep the process past 30 s.
setTimeout(() => {
	console.error('sdk-refusals: still running after 30 s, giving up.');
	process.exit(1);
}, 30_000).unref();

const cells: Promise<Row>[] = [];
for (const sdk of sdks) {
	for (const scenario of scenarios) {
		for (const shape of shapes) {
			cells.push(runCell(sdk, scenario, shape));
		}
	}
}
const started = performance.now();
const rows = await Promise.all(cells);
const cell = (text: string | number): string => String(text).replaceAll('|', '\\|');
console.log('| SDK | scenario | shape | error thrown | status | message | fetch calls | server hits | ms | local refusal visible via |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
	const values = [row.sdk, row.scenario, row.shape, row.error, row.status, row.message, row.calls, row.hits, row.ms, row.local];
	console.log(`| ${values.map(cell).join(' | ')} |`);
}
console.log(`\n${rows.length} cells in ${Math.round(performance.now() - started)} ms (side by side).`);
