import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { createClient, redactUrl, type SteadfetchError } from '../src/index.ts';
import { redactHeaders, redactText } from '../src/redact.ts';
import { startLoopback } from './support/loopback.ts';
import { origin, serve, times } from './support/server.ts';

const secrets = ['sk-live-SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', 'SECRET5', 'SECRET6', 'SECRET7', 'SECRET8'];

// Every string reachable from the value: own properties (hidden and symbol-keyed too), causes, headers, URLs.
const reachable = (value: unknown, seen = new Set<unknown>()): string[] => {
	if (typeof value === 'string') {
		return [value];
	}
	if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) {
		return [];
	}
	seen.add(value);
	const strings: string[] = [];
	if (value instanceof Headers) {
		for (const [name, text] of value) {
			strings.push(name, text);
		}
	}
	if (value instanceof Request || value instanceof Response) {
		strings.push(value.url, ...reachable(value.headers, seen));
	}
	for (const key of Reflect.ownKeys(value)) {
		const descriptor = Object.getOwnPropertyDescriptor(value, key);
		if (descriptor && 'value' in descriptor) {
			strings.push(...reachable(descriptor.value, seen));
		}
	}
	return strings;
};

const renderings = (error: SteadfetchError): Record<string, string> => ({
	message: error.message,
	stack: error.stack ?? '',
	string: String(error),
	json: JSON.stringify(error),
	inspect: inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
	reachable: reachable(error).join('\n'),
});

const assertNoSecret = (error: unknown): void => {
	for (const [name, text] of Object.entries(renderings(error as SteadfetchError))) {
		for (const secret of secrets) {
			assert.ok(!text.includes(secret), `${secret} leaked through ${name}`);
		}
	}
};

const client = () =>
	createClient({
		baseUrl: `${origin}/v1/`,
		apiKey: 'sk-live-SECRET1',
		headers: { 'X-Api-Key': 'SECRET2', Cookie: 'session=SECRET3', 'Proxy-Authorization': 'Basic SECRET4' },
		retry: { baseDelayMs: 1, maxDelayMs: 2 },
	});

describe('keeps secrets out of every rendering of an error', () => {
	it('redacts headers, query credentials and the API key from a 500 after retries', async () => {
		const seen = serve(
			'GET',
			'/v1/items?api_key=SECRET5&token=SECRET6&page=2',
			times(3, { status: 500, headers: { 'set-cookie': 'sid=SECRET8' }, body: 'oops' }),
		);
		const error = await client()
			.get('items', { searchParams: { api_key: 'SECRET5', token: 'SECRET6', page: 2 } })
			.catch((caught: unknown) => caught);
		assert.equal(seen.count, 3);
		assert.equal(seen.headers[0]?.authorization, 'Bearer sk-live-SECRET1', 'the key was sent');
		assertNoSecret(error);
		const { request, response } = error as SteadfetchError & { response: Response };
		assert.equal(request.headers.get('authorization'), '***');
		assert.equal(request.headers.get('x-api-key'), '***');
		assert.equal(request.url, `${origin}/v1/items?api_key=***&token=***&page=2`);
		assert.equal(response.headers.get('set-cookie'), '***');
	});

	it('masks the API key wherever it appears, the path included', async () => {
		serve('GET', '/v1/keys/sk-live-SECRET1', [{ status: 404 }]);
		const error = await client()
			.get('keys/sk-live-SECRET1')
			.catch((caught: unknown) => caught);
		assertNoSecret(error);
		assert.match((error as Error).message, /\/v1\/keys\/\*\*\*:/);
	});

	it('redacts a network error and its cause chain', async () => {
		const server = await startLoopback([{ reset: true }, { reset: true }, { reset: true }]);
		const error = await createClient({ apiKey: 'sk-live-SECRET1', apiKeyHeader: 'X-Api-Key', retry: { baseDelayMs: 1 } })
			.get(`${server.url}/x?signature=SECRET7`)
			.catch((caught: unknown) => caught);
		await server.close();
		assert.equal(server.headers[0]?.['x-api-key'], 'sk-live-SECRET1', 'the key was sent raw in its own header');
		assertNoSecret(error);
	});

	it('never quotes a bad API key in the validation error', () => {
		assert.throws(
			() => createClient({ apiKey: 'SECRET5\r\nX-Evil: 1' }),
			(error: unknown) => error instanceof TypeError && !error.message.includes('SECRET5'),
		);
	});

	it('never quotes a bad header value in the validation error', () => {
		assert.throws(
			() => createClient({ headers: { 'X-Token': 'SECRET6\n' } }),
			(error: unknown) => error instanceof TypeError && /`headers.X-Token`/.test(error.message) && !error.message.includes('SECRET6'),
		);
	});
});

describe('redactUrl', () => {
	for (const [input, expected] of [
		['https://api.test/v1/items?api_key=a&page=2', 'https://api.test/v1/items?api_key=***&page=2'],
		[
			'https://api.test/?apikey=a&APIKEY=b&key=c&token=d&access_token=e',
			'https://api.test/?apikey=***&APIKEY=***&key=***&token=***&access_token=***',
		],
		[
			'https://api.test/?client_secret=a&password=b&signature=c&sig=d',
			'https://api.test/?client_secret=***&password=***&signature=***&sig=***',
		],
		[
			'https://s3.test/o?X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-Security-Token=c',
			'https://s3.test/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***',
		],
		['https://user:pass@api.test/x', 'https://***@api.test/x'],
		['https://api.test/cb#access_token=a', 'https://api.test/cb'],
		['https://api.test/search?q=monkey&keyboard=1', 'https://api.test/search?q=monkey&keyboard=1'],
	]) {
		it(`redacts ${input}`, () => {
			assert.equal(redactUrl(input ?? ''), expected);
		});
	}

	it('masks a known secret in the path, raw or percent-encoded', () => {
		assert.equal(redactUrl('https://api.test/k/a b/x', ['a b']), 'https://api.test/k/***/x');
	});

	it('drops the query of a URL it cannot parse', () => {
		assert.equal(redactUrl('not a url?token=abc'), 'not a url');
	});

	it('redacts every URL inside a text', () => {
		assert.equal(
			redactText('error sending request for url (https://h.test/?token=abc): refused'),
			'error sending request for url (https://h.test/?token=***): refused',
		);
	});

	it('masks credential headers and keeps the rest', () => {
		const headers = redactHeaders(
			new Headers({ authorization: 'a', 'x-auth-token': 'b', cookie: 'c', 'idempotency-key': 'k', accept: 'json', 'x-custom': 'd' }),
			['X-Custom'],
		);
		assert.deepEqual(Object.fromEntries(headers), {
			accept: 'json',
			authorization: '***',
			cookie: '***',
			'idempotency-key': 'k',
			'x-auth-token': '***',
			'x-custom': '***',
		});
	});
});
