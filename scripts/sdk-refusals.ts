// Issue 24 item 3: when the drop-in fetch refuses a call without sending it (pacing: the rate-limit window is spent until
// later than `retry.maxDelayMs`; or the circuit breaker is open), what do the SDKs that take a custom fetch make of it?
// Every cell runs an SDK against a server of its own on 127.0.0.1 with one of four fetch shapes:
//   A   today's drop-in fetch: the refusal rejects (steadfetch's 429 `ClientError`, stopReason 'rate-limited'; `CircuitOpenError`).
//   B   a wrapper that resolves the refusal with a local Response: 429 / 503, `Retry-After` (seconds, rounded up), the
//       rate-limit headers the guard stands for, `x-steadfetch-refused`, a JSON body `{"error": {"message", "type"}}`.
//   R   the shape recommended in the report: B without the `x-ratelimit-*` headers (Octokit's throttling plugin sleeps
//       until their reset), with a top-level `message` in the body (Octokit's message), and per kind: a rate-limit
//       refusal adds `x-should-retry: false` (Stainless-generated SDKs, OpenAI and Anthropic, then give up at once:
//       steadfetch alone decides how long a call may wait); a circuit refusal adds `retry-after-ms` (the probe is due
//       within `breaker.openMs`, 100 ms by default, finer than Retry-After's seconds) and leaves the SDK's retry be.
//   C   plain fetch against a server that really answers 429 with Retry-After (or 503): the reference.
// Scenarios: 'rl 2h' (reset 2 h ahead, default retry.maxDelayMs 30 s), 'rl 3s' (reset 3 s ahead, retry.maxDelayMs 1 s:
// a reset OpenAI would wait for, it waits up to 60 s), 'circuit' (breaker opened by 500s, openMs 2 s).
// Counts: calls the SDK made into the fetch it was given, requests that reached the server (priming aside), time.
// Run: node scripts/sdk-refusals.ts (Node 24, after `npm run build`). Cells run side by side: about 5 s in all.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/core';
import { GraphQLClient } from 'graphql-request';
import OpenAI from 'openai';
import { createFetch, isCircuitOpenError, isHttpStatusError, isSteadfetchError } from '../dist/index.js';

type Scenario = 'rl 2h' | 'rl 3s' | 'circuit';
type Shape = 'A' | 'B' | 'R' | 'C';
type Sdk = 'openai' | 'openai (maxRetries 0)' | 'octokit' | 'graphql-request';

const scenarios: readonly Scenario[] = ['rl 2h', 'rl 3s', 'circuit'];
const shapes: readonly Shape[] = ['A', 'B', 'R', 'C'];
const sdks: readonly Sdk[] = ['openai', 'openai (maxRetries 0)', 'octokit', 'graphql-request'];
const marker = 'x-steadfetch-refused';
const openMs = 2000;

// One body every SDK takes as a success: a chat completion to OpenAI, a repository to Octokit, a result to GraphQL.
const success = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [], data: { viewer: { login: 'octocat' } } });
const json = { 'content-type': 'application/json' };

/** The server of one cell: what it answers, and how many requests reached it. */
function startServer(scenario: Scenario, real: boolean): Promise<{ base: string; hits: () => number; close: () => void }> {
	let hits = 0;
	const resetAt = Date.now() + (scenario === 'rl 2h' ? 7_200_000 : 3000);
	const answer = (res: ServerResponse): void => {
		const now = Date.now();
		if (scenario === 'circuit') {
			// Behind steadfetch, the API fails until the breaker opens; the reference API says 503 with a wait.
			const headers = real ? { ...json, 'retry-after': String(openMs / 1000) } : json;
			res.writeHead(real ? 503 : 500, headers).end(JSON.stringify({ message: 'upstream down', error: { message: 'upstream down' } }));
			return;
		}
		const spent = now < resetAt;
		// GitHub's headers; the reset in epoch ms (steadfetch reads it), so that a 3 s window is not rounded to a second.
		const quota = {
			'x-ratelimit-limit': '60',
			'x-ratelimit-remaining': spent ? '0' : '59',
			'x-ratelimit-reset': String(spent ? resetAt : resetAt + 60_000),
		};
		if (real && spent) {
			const body = { message: 'API rate limit exceeded', error: { message: 'API rate limit exceeded', type: 'requests' } };
			res.writeHead(429, { ...json, ...quota, 'retry-after': String(Math.ceil((resetAt - now) / 1000)) }).end(JSON.stringify(body));
			return;
		}
		// Behind steadfetch, the answer that spends the window is a success: the next call is the one refused.
		res.writeHead(200, { ...json, ...quota }).end(success);
	};
	const server = createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			hits++;
			answer(res);
		});
	});
	return new Promise((resolve) => {
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as AddressInfo;
			resolve({ base: `http://127.0.0.1:${port}`, hits: () => hits, close: () => server.close() });
		});
	});
}

/** What a refusal of the drop-in fetch stands for, or undefined for any other error. */
function refusalOf(error: unknown): { kind: 'rate-limited' | 'circuit-open'; retryAt: Date | undefined } | undefined {
	if (isCircuitOpenError(error)) {
		return { kind: 'circuit-open', retryAt: error.retryAt };
	}
	if (isHttpStatusError(error, 429) && error.stopReason === 'rate-limited') {
		return { kind: 'rate-limited', retryAt: error.retryAt };
	}
	return undefined;
}

/** B and R: the drop-in fetch, with its refusals resolved as local responses instead of rejections. */
function refusalsAsResponses(inner: typeof fetch, recommended: boolean): typeof fetch {
	return async (input, init) => {
		try {
			return await inner(input, init);
		} catch (error) {
			const refusal = refusalOf(error);
			if (!refusal) {
				throw error;
			}
			const rateLimited = refusal.kind === 'rate-limited';
			const retryAt = refusal.retryAt?.getTime() ?? Date.now();
			const message = rateLimited
				? `Not sent: the API's rate limit for this origin is spent until ${new Date(retryAt).toISOString()} (steadfetch).`
				: `Not sent: the circuit breaker for this origin is open until ${new Date(retryAt).toISOString()} (steadfetch).`;
			const waitMs = Math.max(0, retryAt - Date.now());
			const headers = new Headers({
				'content-type': 'application/json',
				'retry-after': String(Math.ceil(waitMs / 1000)),
				[marker]: refusal.kind,
			});
			if (!recommended && rateLimited) {
				headers.set('x-ratelimit-remaining', '0');
				headers.set('x-ratelimit-reset', String(Math.ceil(retryAt / 1000)));
			} else if (recommended && rateLimited) {
				headers.set('x-should-retry', 'false');
			} else if (recommended) {
				headers.set('retry-after-ms', String(Math.ceil(waitMs)));
			}
			const body = { ...(recommended ? { message } : {}), error: { message, type: 'steadfetch_refused', code: refusal.kind } };
			return new Response(JSON.stringify(body), {
				status: rateLimited ? 429 : 503,
				statusText: rateLimited ? 'Too Many Requests' : 'Service Unavailable',
				headers,
			});
		}
	};
}

/** A drop-in fetch whose origin is already refusing: the window spent, or the breaker open. */
async function primedFetch(scenario: Scenario, base: string): Promise<typeof fetch> {
	if (scenario !== 'circuit') {
		const steadfetch = createFetch(scenario === 'rl 3s' ? { retry: { maxDelayMs: 1000 } } : {});
		await (await steadfetch(`${base}/prime`)).text();
		return steadfetch;
	}
	const steadfetch = createFetch({ breaker: { failureThreshold: 2, failureWindowMs: 0, openMs } });
	for (let tries = 0; tries < 5; tries++) {
		try {
			await (await steadfetch(`${base}/prime`)).text();
		} catch (error) {
			if (isCircuitOpenError(error)) {
				return steadfetch;
			}
			throw error;
		}
	}
	throw new Error('the breaker did not open');
}

/** One SDK call through `fetch`; it resolves with what the call threw, or 'ok'. */
async function callSdk(sdk: Sdk, base: string, fetch: typeof globalThis.fetch): Promise<unknown> {
	try {
		if (sdk === 'openai' || sdk === 'openai (maxRetries 0)') {
			const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${base}/v1`, fetch, ...(sdk === 'openai' ? {} : { maxRetries: 0 }) });
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

type HeaderBag = Headers | Record<string, string | undefined> | undefined;
const header = (headers: HeaderBag, name: string): string | null | undefined =>
	headers instanceof Headers ? headers.get(name) : headers?.[name];

/** Where a user can still tell that the call was refused locally: the marker header, or steadfetch's error itself. */
function localClues(error: unknown): string {
	const fields = error as { headers?: HeaderBag; response?: { headers?: HeaderBag }; cause?: unknown; type?: unknown };
	const clues: string[] = [];
	if (header(fields.headers, marker)) {
		clues.push(`error.headers[${marker}]`);
	}
	if (header(fields.response?.headers, marker)) {
		clues.push(`error.response.headers[${marker}]`);
	}
	if (fields.type === 'steadfetch_refused') {
		clues.push('error.type');
	}
	if (isSteadfetchError(error)) {
		clues.push('the error is steadfetch`s');
	} else if (isSteadfetchError(fields.cause)) {
		clues.push('error.cause (steadfetch`s)');
	}
	return clues.join(', ') || 'no';
}

async function runCell(sdk: Sdk, scenario: Scenario, shape: Shape): Promise<Row> {
	const server = await startServer(scenario, shape === 'C');
	try {
		const inner = shape === 'C' ? globalThis.fetch : await primedFetch(scenario, server.base);
		const shaped = shape === 'B' || shape === 'R' ? refusalsAsResponses(inner, shape === 'R') : inner;
		let calls = 0;
		const counted: typeof fetch = (input, init) => {
			calls++;
			return shaped(input, init);
		};
		const primingHits = server.hits();
		const start = performance.now();
		const error = await callSdk(sdk, server.base, counted);
		const ms = Math.round(performance.now() - start);
		const fields = error as { name?: unknown; status?: unknown; message?: unknown; response?: { status?: unknown } };
		const status = typeof fields.status === 'number' ? fields.status : fields.response?.status;
		const message = typeof fields.message === 'string' ? fields.message.replace(/\s+/g, ' ') : '';
		return {
			sdk,
			scenario,
			shape,
			error: error === 'ok' ? 'none (succeeded)' : `${(error as object).constructor.name} (name ${String(fields.name)})`,
			status: status === undefined ? '-' : `${status}${typeof fields.status === 'number' ? '' : ' (response.status)'}`,
			message: message.length > 70 ? `${message.slice(0, 70)}…` : message || '-',
			calls,
			hits: server.hits() - primingHits,
			ms,
			local: error === 'ok' ? '-' : localClues(error),
		};
	} finally {
		server.close();
	}
}

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
