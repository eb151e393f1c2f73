import assert from 'node:assert/strict';
import { createClient, redactUrl, type SteadfetchError } from '../src/index.ts';
import { headerValueError } from '../src/secrets/header-values.ts';
import { redactHeaders, secretsOf } from '../src/secrets/headers.ts';
import { secretMask } from '../src/secrets/mask.ts';
import { isSecretName, minSecretLength } from '../src/secrets/names.ts';
import { redactor } from '../src/secrets/redactor.ts';
import { describeRequest, safeHeaders, sanitizeRuntimeError } from '../src/secrets/runtime-errors.ts';
import { redactText } from '../src/secrets/urls.ts';
import { startLoopback } from './support/loopback.ts';
import { assertNoSecret as assertNoSecretIn } from './support/renderings.ts';
import { origin, serve, times } from './support/server.ts';

const secrets = ['sk-live-SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', 'SECRET5', 'SECRET6', 'SECRET7', 'SECRET8'];

const assertNoSecret = (error: unknown): void => assertNoSecretIn(error, secrets);

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
		assert.equal(redactUrl('https://api.test/k/se cret/x', ['se cret']), 'https://api.test/k/***/x');
		assert.equal(redactUrl('https://api.test/k/SE%2fCRET/x', ['SE/CRET']), 'https://api.test/k/***/x');
	});

	it(`never searches free text for a secret under ${minSecretLength} characters: it would mangle the rest`, () => {
		assert.equal(redactUrl('https://api.test/k/abc/x?id=abc', ['abc']), 'https://api.test/k/abc/x?id=abc');
		assert.equal(redactUrl('https://api.test/k/x?token=abc', ['abc']), 'https://api.test/k/x?token=***');
	});

	it('masks credential matrix parameters and keeps the others', () => {
		assert.equal(redactUrl('https://api.test/a;token=t1;v=2/b;jsessionid=s1'), 'https://api.test/a;token=***;v=2/b;jsessionid=***');
	});

	it('masks user-info in a URL it cannot parse', () => {
		assert.equal(redactUrl('http://user:PASSW0RD@[bad/x?token=TQ'), 'http://***@[bad/x');
		assert.equal(redactUrl('//u:p@w:rd@[bad'), '//***@[bad');
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

// Names from real APIs' docs: the header or query parameter that carries the credential, and names beside them that do not.
const credentialNames: readonly (readonly [string, string])[] = [
	['Authorization', 'Stripe, GitHub, OpenAI, SendGrid, Slack (Bearer or Basic)'],
	['Proxy-Authorization', 'RFC 9110'],
	['Cookie', 'RFC 6265'],
	['Set-Cookie', 'RFC 6265'],
	['Stripe-Signature', 'Stripe webhooks'],
	['X-Hub-Signature-256', 'GitHub webhooks'],
	['x-api-key', 'Anthropic'],
	['api-key', 'Azure OpenAI'],
	['Ocp-Apim-Subscription-Key', 'Azure API Management'],
	['X-Amz-Credential', 'AWS SigV4 query'],
	['X-Amz-Signature', 'AWS SigV4 query'],
	['X-Amz-Security-Token', 'AWS SigV4 query'],
	['AWSAccessKeyId', 'AWS SigV2 query'],
	['Signature', 'AWS SigV2 query'],
	['sig', 'Azure SAS'],
	['key', 'Google APIs'],
	['X-Goog-Api-Key', 'Google APIs'],
	['access_token', 'Google, Facebook, OAuth 2'],
	['api_key', 'Swagger petstore'],
	['X-CMC_PRO_API_KEY', 'CoinMarketCap'],
	['appid', 'OpenWeatherMap'],
	['hapikey', 'HubSpot (legacy)'],
	['X-Twilio-Signature', 'Twilio'],
	['token', 'Slack'],
	['X-Slack-Signature', 'Slack'],
	['X-Shopify-Access-Token', 'Shopify'],
	['X-Shopify-Hmac-Sha256', 'Shopify webhooks'],
	['PRIVATE-TOKEN', 'GitLab'],
	['private_token', 'GitLab'],
	['X-Vault-Token', 'HashiCorp Vault'],
	['X-Algolia-API-Key', 'Algolia'],
	['DD-API-KEY', 'Datadog'],
	['DD-APPLICATION-KEY', 'Datadog'],
	['X-RapidAPI-Key', 'RapidAPI'],
	['X-Postmark-Server-Token', 'Postmark'],
	['Circle-Token', 'CircleCI'],
	['X-Figma-Token', 'Figma'],
	['X-Auth-Key', 'Cloudflare'],
	['apikey', 'Mailchimp'],
	['client_secret', 'OAuth 2'],
	['refresh_token', 'OAuth 2'],
	['id_token', 'OpenID Connect'],
	['code_verifier', 'OAuth 2 PKCE'],
	['client_assertion', 'OAuth 2 JWT client auth'],
	['oauth_token', 'OAuth 1'],
	['oauth_signature', 'OAuth 1'],
	['oauth_consumer_key', 'OAuth 1'],
	['PHPSESSID', 'PHP session cookie'],
	['JSESSIONID', 'Java session cookie'],
	['connect.sid', 'Express session cookie'],
	['password', 'form logins'],
	['user[password]', 'Rails forms'],
	['x-cmc_pro_api_key', 'issue 15'],
	['X_API_KEY', 'issue 15'],
	['x-jwt', 'issue 15'],
	['X-Bearer', 'issue 15'],
	['accessToken', 'issue 15'],
	['apiToken', 'issue 15'],
	['authToken', 'issue 15'],
	['refreshToken', 'issue 15'],
	['token[]', 'issue 15'],
	['APIKey', 'camelCase with an acronym'],
	['wskey', 'OCLC WorldCat'],
	['serviceKey', 'data.go.kr'],
	['authkey', 'one word ending in key'],
	['appkey', 'one word ending in key'],
	['servicekey', 'one word ending in key'],
	['licensekey', 'one word ending in key'],
	['userkey', 'one word ending in key'],
	['masterkey', 'one word ending in key'],
	['devkey', 'one word ending in key'],
	['x-appkey', 'a response header, lower-cased'],
	['x-authkey', 'a response header, lower-cased'],
	['awssecretkey', 'one word ending in secretkey'],
];
const ordinaryNames: readonly (readonly [string, string])[] = [
	['page', 'pagination'],
	['per_page', 'GitHub'],
	['cursor', 'Slack'],
	['q', 'search'],
	['sort', 'GitHub'],
	['keyword', 'search'],
	['monkey', 'a word that ends in key'],
	['keyboard', 'a word that starts with key'],
	['turkey', 'a word that ends in key'],
	['hockey', 'a word that ends in key'],
	['donkey', 'a word that ends in key'],
	['jockey', 'a word that ends in key'],
	['whiskey', 'a word that ends in key'],
	['x-whiskey', 'a header whose word ends in key'],
	['turnkey', 'a word that ends in key'],
	['Idempotency-Key', 'Stripe'],
	['X-Idempotency-Key', 'Adyen'],
	['content-type', 'RFC 9110'],
	['x-request-id', 'tracing'],
	['X-GitHub-Api-Version', 'GitHub'],
	['anthropic-version', 'Anthropic'],
	['OpenAI-Organization', 'OpenAI'],
	['Stripe-Account', 'Stripe Connect'],
	['X-Amz-Date', 'AWS SigV4 query'],
	['X-Amz-SignedHeaders', 'AWS SigV4 query'],
	['X-Amz-Algorithm', 'AWS SigV4 query'],
	['X-Amz-Expires', 'AWS SigV4 query'],
	['X-Amz-Content-Sha256', 'AWS SigV4'],
	['sv', 'Azure SAS'],
	['se', 'Azure SAS'],
	['sp', 'Azure SAS'],
	['sr', 'Azure SAS'],
	['api-version', 'Azure'],
	['pageToken', 'Google APIs'],
	['nextPageToken', 'Google APIs'],
	['NextToken', 'AWS'],
	['continuation-token', 'S3 ListObjectsV2'],
	['$skiptoken', 'Microsoft Graph'],
	['X-OAuth-Scopes', 'GitHub'],
	['x-ratelimit-remaining-tokens', 'OpenAI'],
	['anthropic-ratelimit-input-tokens-limit', 'Anthropic'],
	['WWW-Authenticate', 'RFC 9110: a challenge, not a credential'],
	['author', 'a word that starts with auth'],
	['X-Algolia-Application-Id', 'Algolia'],
	['X-RapidAPI-Host', 'RapidAPI'],
	['client_id', 'OAuth 2'],
	['redirect_uri', 'OAuth 2'],
	['state', 'OAuth 2'],
	['scope', 'OAuth 2'],
	['grant_type', 'OAuth 2'],
];

describe('the rule for credential names', () => {
	for (const [name, source] of credentialNames) {
		it(`masks ${name} (${source}) as a header and as a query parameter`, () => {
			assert.ok(isSecretName(name));
			assert.equal(redactHeaders(new Headers([[name.replace(/[[\]]/g, ''), 'v4lue']])).get(name.replace(/[[\]]/g, '')), '***');
			assert.equal(new URL(redactUrl(`https://api.test/x?${encodeURIComponent(name)}=v4lue`)).searchParams.get(name), '***');
		});
	}
	for (const [name, source] of ordinaryNames) {
		it(`keeps ${name} (${source})`, () => {
			assert.ok(!isSecretName(name));
			assert.equal(redactHeaders(new Headers([[name.replace('$', ''), 'v4lue']])).get(name.replace('$', '')), 'v4lue');
			assert.equal(new URL(redactUrl(`https://api.test/x?${encodeURIComponent(name)}=v4lue`)).searchParams.get(name), 'v4lue');
		});
	}
});

describe('masks every encoding of a secret value', () => {
	const secret = 'sk-live Ä/+=?&"\\x';
	const hide = secretMask([secret]);
	const forms: Record<string, string> = {
		literal: secret,
		encodeURIComponent: encodeURIComponent(secret),
		'encodeURIComponent, lowercase hex': encodeURIComponent(secret).replace(/%[\dA-F]{2}/g, (hex) => hex.toLowerCase()),
		encodeURI: encodeURI(secret),
		'+ for spaces': encodeURIComponent(secret).replaceAll('%20', '+'),
		'form-encoded': new URLSearchParams({ s: secret }).toString().slice(2),
		'JSON-escaped': JSON.stringify(secret).slice(1, -1),
		'JSON-escaped, ASCII only': JSON.stringify(secret).slice(1, -1).replace('Ä', '\\u00c4'),
		base64: btoa(String.fromCharCode(...new TextEncoder().encode(secret))),
		"base64 of Basic auth's `key:`": btoa(String.fromCharCode(...new TextEncoder().encode(`${secret}:`))),
	};
	for (const [name, form] of Object.entries(forms)) {
		it(name, () => {
			assert.equal(hide(`before ${form} after`), 'before *** after');
		});
	}

	it('finds the secrets a request carries: credential headers and their parts, query and matrix parameters', () => {
		const request = new Request('https://api.test/a;sid=matrix1/x?apiToken=query12&page=2', {
			headers: {
				authorization: `Basic ${btoa('user:pa55word')}`,
				cookie: 'sessionid=cookie12; theme=dark',
				'x-sig': 'AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=abcdef12',
				accept: 'application/json',
			},
		});
		const found = secretsOf(request, ['literal1']);
		for (const value of ['literal1', 'user:pa55word', 'pa55word', 'cookie12', 'abcdef12', 'AKIA/x', 'query12', 'matrix1']) {
			assert.ok(found.includes(value), value);
		}
		assert.ok(!found.includes('application/json'));
		assert.ok(!found.includes('host'));
		assert.deepEqual(secretsOf(new Request('https://api.test/', { headers: { authorization: 'Basic !not-base64!' } }), []), [
			'Basic !not-base64!',
			'!not-base64!',
		]);
	});

	it('masks a secret in a body too large to keep, before the body is cut', async () => {
		const apiKey = 'sk-live-LARGE-BODY';
		// The key straddles the 8 KiB cut: masked first, no piece of it is left on either side.
		serve('GET', '/v1/large', [{ status: 400, body: { filler: 'x'.repeat(8160), key: apiKey, more: 'y'.repeat(100) } }]);
		const error = (await createClient({ baseUrl: `${origin}/v1/`, apiKey })
			.get('large')
			.catch((caught: unknown) => caught)) as SteadfetchError;
		assert.equal(typeof error.data, 'string');
		assert.match(error.data as string, /"key":"\*\*\*"/);
		assert.ok(!(error.data as string).includes('sk-live'));
	});
});

// Issue 15: the encodings of other languages and layers, each written here as its encoder writes it.
describe('masks the encodings other servers echo a secret in', () => {
	const secret = "sk-live-Ab/c'd~KEY(1)";
	const utf8 = (text: string) => Array.from(new TextEncoder().encode(text));
	const percent = (text: string, keep: RegExp, upper = true) =>
		Array.from(text, (character) =>
			keep.test(character)
				? character
				: utf8(character)
						.map((byte) => `%${byte.toString(16).padStart(2, '0')}`)
						.map((hex) => (upper ? hex.toUpperCase() : hex))
						.join(''),
		).join('');
	const base64 = btoa(String.fromCharCode(...utf8(secret)));
	const forms: Record<string, string> = {
		"PHP's rawurlencode": percent(secret, /[A-Za-z\d\-_.~]/),
		"PHP's urlencode": percent(secret, /[A-Za-z\d\-_.]/),
		"Python's quote (keeps /)": percent(secret, /[A-Za-z\d\-_.~/]/),
		'every character as %XX, lowercase hex': percent(secret, /(?!)/, false),
		'percent-encoded twice': encodeURIComponent(encodeURIComponent(secret)),
		'rawurlencode twice': encodeURIComponent(percent(secret, /[A-Za-z\d\-_.~]/)),
		base64url: base64.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, ''),
		"PHP's json_encode (escapes /)": JSON.stringify(secret).slice(1, -1).replaceAll('/', '\\/'),
		"PHP's json_encode with JSON_HEX_APOS": JSON.stringify(secret).slice(1, -1).replaceAll("'", '\\u0027'),
		"HTML, &#x27; (Python's html.escape)": secret.replaceAll("'", '&#x27;'),
		'HTML, &#39;': secret.replaceAll("'", '&#39;'),
		'HTML, &apos;': secret.replaceAll("'", '&apos;'),
		'mixed: some characters encoded, some not': "sk-live-Ab%2fc'd~KEY%281)",
		'in another letter case, as a server that upper-cases it': "SK-LIVE-AB/C'D~KEY(1)",
	};
	for (const [name, form] of Object.entries(forms)) {
		it(`${name}: ${form}`, () => {
			assert.notEqual(form, secret);
			assert.equal(secretMask([secret])(`key=${form}&next=1`), 'key=***&next=1');
		});
	}

	it('HTML entities for &, <, > and ", named and numeric', () => {
		const hide = secretMask(['a&b<c>d"e f']);
		for (const form of ['a&amp;b&lt;c&gt;d&quot;e f', 'a&#38;b&#60;c&#62;d&#34;e&#32;f', 'a&#x26;b&#X3C;c&#x3e;d&#x22;e+f']) {
			assert.equal(hide(`<p>${form}</p>`), '<p>***</p>');
		}
	});

	it('a numeric secret echoed as a JSON number, and only that number', () => {
		const redact = redactor(['31415926']);
		assert.deepEqual(redact.data({ pin: 31415926, other: 27182818, nested: [31415926] }), { pin: '***', other: 27182818, nested: ['***'] });
	});

	it('leaves text alone that only resembles a secret', () => {
		const hide = secretMask([secret]);
		for (const text of ["sk-live-Ab/c'd~KEY(2)", "sk-live-Ab%2Fc'd~KEY(", 'sk-live-Ab%2Xc', 'sk-live-Ab&#47c', "sk_live-Ab/c'd~KEY(1)"]) {
			assert.equal(hide(text), text);
		}
	});
});

describe('redacts what a response sends back', () => {
	it('resolves Location and Content-Location, and redacts them only when a name marks something', () => {
		const headers = redactHeaders(
			new Headers({
				location: '/cb?access_token=t0ken1&state=s#frag',
				'content-location': '/plain?page=2#top',
				link: '</next?apiToken=t0ken2>; rel="next", <https://h.test/p?page=2>; rel="prev"',
				refresh: '0; url=https://h.test/x?token=t0ken3',
			}),
			[],
			[],
			'https://api.test/v1/items',
		);
		assert.equal(headers.get('location'), 'https://api.test/cb?access_token=***&state=s');
		assert.equal(headers.get('content-location'), '/plain?page=2#top');
		assert.equal(headers.get('link'), '<https://api.test/next?apiToken=***>; rel="next", <https://h.test/p?page=2>; rel="prev"');
		assert.equal(headers.get('refresh'), '0; url=https://h.test/x?token=***');
	});

	it('drops a fragment that holds a credential (OAuth implicit flow)', () => {
		assert.equal(redactText('go to https://app.test/cb#access_token=t0k3n&x=1 now'), 'go to https://app.test/cb now');
		assert.equal(redactText('see https://app.test/docs#section-2.'), 'see https://app.test/docs#section-2.');
	});

	// Issue 27: URLs are found from each `://` back to their scheme, no longer by a regular expression; the same URLs.
	it('finds a URL in text where its scheme begins a word, up to a space, a quote, a bracket or a backtick', () => {
		const cases: [string, string][] = [
			['(see https://h.test/x?token=t0k3n)', '(see https://h.test/x?token=***)'],
			['"url":"https://h.test/x?token=t0k3n","next":1', '"url":"https://h.test/x?token=***","next":1'],
			// The scheme begins at the word's first letter: `x.https` here, `https` after a digit and a dot.
			['x.https://h.test/x?token=t0k3n', 'x.https://h.test/x?token=***'],
			['1.https://h.test/x?token=t0k3n', '1.https://h.test/x?token=***'],
			['a https://h.test/?token=1 and wss://h.test/?api_key=2', 'a https://h.test/?token=*** and wss://h.test/?api_key=***'],
			// No word boundary before a letter after `_`, and nothing after `://`: no URL.
			['_https://h.test/x?token=t0k3n', '_https://h.test/x?token=t0k3n'],
			['https:// h.test/?token=t0k3n', 'https:// h.test/?token=t0k3n'],
			['://h.test/?token=t0k3n', '://h.test/?token=t0k3n'],
		];
		for (const [text, redacted] of cases) {
			assert.equal(redactText(text), redacted, text);
		}
	});

	it("reads a Link reference up to its `>`, and a signature's parameters where their names begin", () => {
		assert.equal(
			redactHeaders(new Headers({ link: '<<https://h.test/n?apiToken=t0ken>; rel="next"' })).get('link'),
			'<<https://h.test/n?apiToken=***>; rel="next"',
		);
		const found = secretsOf(
			new Request(origin, { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/x,SignedHeaders=host, Signature="abcdef12"' } }),
			[],
		);
		assert.ok(found.includes('AKIA/x') && found.includes('abcdef12'), found.join(' | '));
	});
});

describe('sanitizeRuntimeError', () => {
	const frames = (error: unknown) => (error as Error).stack?.split('\n').slice(1).join('\n');

	it('rewrites the credentials error of Request, keeping the frames', () => {
		let original: unknown;
		try {
			new Request('http://user:PASSW0RD@h.test/x?token=TQ&page=1');
		} catch (error) {
			original = error;
		}
		const clean = sanitizeRuntimeError(original) as TypeError;
		assert.ok(clean instanceof TypeError);
		assert.equal(clean.message, 'Request cannot be constructed from a URL that includes credentials: http://***@h.test/x?token=***&page=1');
		assert.equal(frames(clean), frames(original));
	});

	it("rewrites Node's ERR_INVALID_URL without its input and base fields", () => {
		let original: unknown;
		try {
			new URL('//[bad/x?token=TQ', 'http://user:PASSW0RD@h.test/?api_key=BASEKEY');
		} catch (error) {
			original = error;
		}
		assert.equal((original as { input?: string }).input, '//[bad/x?token=TQ');
		const clean = sanitizeRuntimeError(original) as TypeError & Record<string, unknown>;
		assert.equal(clean.message, 'Invalid URL: //[bad/x');
		assert.equal(JSON.stringify(clean), '{}');
		assert.equal(clean.cause, undefined);
	});

	it('names the header of a bad value, from any HeadersInit, and never quotes the value', () => {
		for (const headers of [
			{ Authorization: 'Bearer SEC\nRET' },
			[['Authorization', 'Bearer SEC\nRET']],
			new Map([['Authorization', 'Bearer SEC\nRET']]),
		]) {
			let original: unknown;
			try {
				new Headers(headers as HeadersInit);
			} catch (error) {
				original = error;
			}
			assert.match(String(original), /SEC\nRET/);
			const clean = sanitizeRuntimeError(original, [], headers) as Error;
			assert.equal(clean.message, 'Expected `headers.Authorization` to be a string without CR, LF or NUL characters.');
			assert.equal(headerValueError(headers)?.message, clean.message);
		}
	});

	it('names the header of a value beyond Latin-1, instead of telling a character of it', () => {
		const headers = { 'X-Api-Key': 'SECRET€' };
		assert.throws(() => new Headers(headers), /ByteString/);
		let original: unknown;
		try {
			new Headers(headers);
		} catch (error) {
			original = error;
		}
		assert.equal(
			(sanitizeRuntimeError(original, [], headers) as Error).message,
			'Expected `headers.X-Api-Key` to be a string of Latin-1 characters (the value is not shown).',
		);
	});

	it('builds Headers, or names the bad header', () => {
		assert.equal(safeHeaders([['a', 'b']]).get('a'), 'b');
		assert.throws(() => safeHeaders({ 'X-Token': 'SEC\nRET' }), {
			message: 'Expected `headers.X-Token` to be a string without CR, LF or NUL characters.',
		});
	});

	it('describes a request without user-info, keeping what a Request can hold', () => {
		const full = describeRequest('https://user:PASSW0RD@h.test/x?page=2', { method: 'PUT', headers: { accept: 'json' } });
		assert.equal(full.url, 'https://h.test/x?page=2');
		assert.equal(full.method, 'PUT');
		assert.equal(full.headers.get('accept'), 'json');
		const headerless = describeRequest('https://h.test/x', { method: 'POST', headers: [['x-token', 'SEC\nRET']] });
		assert.equal(headerless.method, 'POST');
		assert.equal([...headerless.headers].length, 0);
		assert.equal(describeRequest('https://h.test/x', { method: 'CONNECT' }).method, 'GET');
		assert.equal(describeRequest('not a url', {}).url, 'about:blank');
	});

	it('passes any other error through as it is', () => {
		const error = new TypeError('`input` must be a string, URL, or Request');
		assert.equal(sanitizeRuntimeError(error), error);
		const range = new RangeError('x');
		assert.equal(sanitizeRuntimeError(range), range);
	});
});
