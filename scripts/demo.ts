// `npm run demo`: a local API on 127.0.0.1 that misbehaves on purpose, and a steadfetch client that copes with it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, createFetch, isSteadfetchError, type RetryEvent, retryJob } from '../src/index.ts';

const validKey = 'sk-demo-valid';
const tty = process.stdout.isTTY;
const dim = (text: string) => (tty ? `\u001B[2m${text}\u001B[22m` : text);
const bold = (text: string) => (tty ? `\u001B[1m${text}\u001B[22m` : text);
const started = performance.now();
const clock = () => dim(`t+${String(Math.round(performance.now() - started)).padStart(5)} ms`);

// The API: /v1/reports/today fails twice before it answers; /v1/users/999 does not exist; a wrong key gets a 401;
// /v1/quota is rate limited once (with Retry-After); /v1/export fails three times before it answers; /v1/search is
// rate limited as GitHub does it (below).
let reportCalls = 0;
let quotaCalls = 0;
let exportCalls = 0;
// /v1/search allows 3 requests per window of 1 s, the windows on whole seconds, and says so on every response in GitHub's
// headers: `x-ratelimit-remaining`, and `x-ratelimit-reset` in epoch seconds; a 429 has no Retry-After. Another client
// has spent the window the first request meets, until a reset 1.5 to 2.5 s ahead (epoch seconds: whole seconds only).
const searchQuota = 3;
let searchResetAt = 0;
let searchUsed = 0;
const searchRequests: { at: number; status: number }[] = [];
const server = createServer((request, response) => {
	const url = new URL(request.url ?? '/', 'http://127.0.0.1');
	const reply = (status: number, body: unknown, note = '') => {
		console.log(`${clock()}   ${dim(`api: ${request.method} ${url.pathname} -> ${status}${note}`)}`);
		response.writeHead(status, { 'content-type': 'application/json' });
		response.end(JSON.stringify(body));
	};
	if (request.headers.authorization !== `Bearer ${validKey}`) {
		reply(401, { error: 'invalid_api_key' });
	} else if (url.pathname === '/v1/quota') {
		quotaCalls++;
		if (quotaCalls === 1) {
			response.setHeader('retry-after-ms', '250');
		}
		reply(...((quotaCalls === 1 ? [429, { error: 'rate_limited' }] : [200, { remaining: 99 }]) as [number, unknown]));
	} else if (url.pathname === '/v1/search') {
		const now = Date.now();
		if (searchResetAt === 0) {
			searchResetAt = Math.ceil((now + 1500) / 1000) * 1000;
			searchUsed = searchQuota;
		} else if (now >= searchResetAt) {
			searchResetAt = (Math.floor(now / 1000) + 1) * 1000;
			searchUsed = 0;
		}
		const status = searchUsed < searchQuota ? 200 : 429;
		searchUsed += status === 200 ? 1 : 0;
		searchRequests.push({ at: performance.now(), status });
		response.setHeader('x-ratelimit-limit', searchQuota);
		response.setHeader('x-ratelimit-remaining', searchQuota - searchUsed);
		response.setHeader('x-ratelimit-reset', searchResetAt / 1000);
		const note = ` (x-ratelimit-remaining: ${searchQuota - searchUsed}, x-ratelimit-reset: ${searchResetAt / 1000}, in ${searchResetAt - now} ms)`;
		reply(status, status === 200 ? { total_count: 7 } : { message: 'API rate limit exceeded' }, note);
	} else if (url.pathname === '/v1/export') {
		exportCalls++;
		reply(...((exportCalls <= 3 ? [503, { error: 'export worker restarting' }] : [200, { exported: 1200 }]) as [number, unknown]));
	} else if (url.pathname === '/v1/reports/today') {
		reportCalls++;
		reply(
			...((reportCalls <= 2 ? [500, { error: 'database briefly unavailable' }] : [200, { report: 'today', rows: 42 }]) as [
				number,
				unknown,
			]),
		);
	} else {
		reply(404, { error: 'not_found', path: url.pathname });
	}
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;

const onRetry = ({ error, attempt, maxAttempts, delayMs }: RetryEvent) =>
	console.log(
		`${clock()}   retrying ${error.request.method} ${new URL(error.request.url).pathname} in ${delayMs} ms (attempt ${attempt} of ${maxAttempts}): ${error.status} ${error.title}`,
	);
const api = createClient({ baseUrl, apiKey: validKey, retry: { baseDelayMs: 200 }, onRetry });
const show = (error: unknown) => {
	if (!isSteadfetchError(error)) {
		throw error;
	}
	console.log(`${clock()}   ${bold(error.name)} after ${error.attempts} request(s)`);
	console.log(`           message:  ${error.message}`);
	console.log(`           cause:    ${error.advice.cause}`);
	console.log(`           solution: ${error.advice.solution}`);
	return error;
};

try {
	console.log(bold('\n1. A request that recovers from two 500s (exponential backoff with full jitter)'));
	const report = await api.get('reports/today').json();
	console.log(`${clock()}   got ${JSON.stringify(report)} after ${reportCalls} requests`);

	console.log(bold('\n2. A 404 fails at once: one request, no retry'));
	await api
		.get('users/999')
		.json()
		.catch((error: unknown) => show(error));

	console.log(bold('\n3. A 401 prints the advice of the API docs'));
	const wrongKey = createClient({ baseUrl, apiKey: 'sk-demo-typo', onRetry });
	const unauthenticated = await wrongKey
		.get('reports/today?api_key=sk-demo-typo')
		.json()
		.catch((error: unknown) => show(error));

	console.log(bold('\n4. One enriched error as JSON, ready for a log line (the key in the query is redacted)'));
	console.log(JSON.stringify(unauthenticated, null, 2));

	console.log(bold('\n5. The drop-in fetch: same retries, plain fetch semantics (a 429 with Retry-After, then a 404 returned as is)'));
	const fetch = createFetch({ onRetry });
	const headers = { authorization: `Bearer ${validKey}` };
	const quota = await fetch(`${baseUrl}quota`, { headers });
	console.log(`${clock()}   fetch resolved ${quota.status} ${JSON.stringify(await quota.json())}`);
	const missing = await fetch(`${baseUrl}users/999`, { headers });
	console.log(`${clock()}   fetch resolved ${missing.status} (one request: the SDK calling it sees the 404 as the server sent it)`);

	console.log(bold('\n6. A background job: the job and its requests share one allowance of retries (limit 4: at most 5 requests)'));
	const exported = await retryJob((job) => job.client(api).get('export').json(), {
		retry: { limit: 4, baseDelayMs: 100 },
		onRetry: ({ error, attempt, delayMs }) =>
			console.log(
				`${clock()}   job retrying in ${delayMs} ms (job attempt ${attempt}): ${isSteadfetchError(error) ? `${error.status} ${error.title}, ${error.attempts} requests so far` : error.message}`,
			),
	});
	console.log(`${clock()}   job done: ${JSON.stringify(exported)} after ${exportCalls} requests`);

	console.log(
		bold('\n7. A GitHub-style 429: no Retry-After, but x-ratelimit-remaining: 0 and x-ratelimit-reset: the retry waits for the reset'),
	);
	const asked = performance.now();
	const found = await api.get('search').json();
	const [limited, answered] = searchRequests;
	console.log(
		`${clock()}   got ${JSON.stringify(found)}: the retry went ${Math.round((answered?.at ?? 0) - (limited?.at ?? 0))} ms after the 429, at the reset, and succeeded (${Math.round(performance.now() - asked)} ms in all)`,
	);

	console.log(
		bold('\n8. Pacing: once the API says no request remains, the next call waits for the reset instead of spending a request on a 429'),
	);
	const seen = searchRequests.length;
	for (const call of [1, 2, 3]) {
		const start = performance.now();
		await api.get('search').json();
		const held = Math.round((searchRequests.at(-1)?.at ?? start) - start);
		console.log(`${clock()}   call ${call} done${held > 50 ? `: held ${held} ms before it was sent, until the reset` : ''}`);
	}
	const statuses = searchRequests.slice(seen).map(({ status }) => status);
	console.log(
		`${clock()}   the API saw ${statuses.length} requests for 3 calls (${statuses.join(', ')}): ${statuses.filter((status) => status === 429).length} answered 429`,
	);
} finally {
	server.close();
}
