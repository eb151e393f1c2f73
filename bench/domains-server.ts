// The APIs of bench/domains.ts, in their own process (bench/child.ts) so that their work never stalls the callers'
// timers. Each port is a fresh API with its own quota: every contender gets ports of its own, so no two share a window.
// Each kind of API answers as a real one does, on 127.0.0.1 only, and counts the requests it saw by a label (the
// bucket, the model, the API key, the endpoint) so that the driver can tell the requests of the calls it measures from
// those that set the scene.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Api, serveApis } from './child.ts';
import { fails } from './plan.ts';

/**
`github`: GitHub's buckets on one origin, named by `x-ratelimit-resource`: `/search/...` draws on `search`
(`searchLimit` per window, the window resetting `searchResetMs` after the port opened), everything else on `core`
(`coreLimit`, resetting in an hour). Every response carries the five `x-ratelimit-*` headers; a spent bucket answers
`spentStatus` (403 or 429, as GitHub does) with `x-ratelimit-remaining: 0`, and no `Retry-After`.

`polling`: GitHub's conditional requests. A request without `If-None-Match` is answered 200 with an `ETag` and spends
one request; one with the current ETag is answered 304 and spends nothing (GitHub's rule), so every response reports
`remaining` requests left, the reset an hour ahead.

`openai`: POST /v1/chat/completions with a JSON body `{model}`: a request window per model, in OpenAI's headers
(`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go durations). `spentModel`'s window is spent until
`spentResetMs` after the port opened (429, as OpenAI answers, without `Retry-After`); the other models have plenty.

`partitions`: one quota per API key (`Authorization: Bearer <key>`). `ietf`: draft-ietf-httpapi-ratelimit-headers with
partition keys, `RateLimit-Policy: "burst";q=100;w=60, "day";q=1000;w=86400` and
`RateLimit: "burst";r=..;t=..;pk=:<base64 key>:, "day";r=..;t=..;pk=:<base64 key>:`. `github`: the `x-ratelimit-*`
headers of the key's own bucket. The keys in `spentKeys` have spent their day (`spentResetSeconds` until it resets) and
get `spentStatus`.

`faults`: `/broken/<id>` always fails (`broken`: a 500, a 503, or no answer at all); every other path is healthy but for
the attempts the seeded plan (bench/plan.ts) fails at `healthyFailRate`, with a 503.

`fail`: every response a 500 (one of the many origins of the many-origins scenario).
*/
export type Spec =
	| {
			readonly kind: 'github';
			readonly coreLimit: number;
			readonly searchLimit: number;
			readonly searchResetMs: number;
			readonly spentStatus: 403 | 429;
	  }
	| { readonly kind: 'polling'; readonly limit: number; readonly remaining: number }
	| { readonly kind: 'openai'; readonly spentModel: string; readonly spentResetMs: number; readonly limit: number }
	| {
			readonly kind: 'partitions';
			readonly style: 'ietf' | 'github';
			readonly spentKeys: readonly string[];
			readonly spentResetSeconds: number;
			readonly spentStatus: 403 | 429;
	  }
	| { readonly kind: 'faults'; readonly broken: 500 | 503 | 'hang'; readonly healthyFailRate: number }
	| { readonly kind: 'fail' };

/** What a port saw: its requests in all, by label, and by status (`hung` for those never answered). */
export interface Seen {
	readonly requests: number;
	readonly byLabel: Record<string, number>;
	readonly byStatus: Record<string, number>;
}

const okBody = JSON.stringify({ id: 42, name: 'steadfetch', ok: true });
const limitedBody = JSON.stringify({ message: 'API rate limit exceeded', documentation_url: 'https://example.com/rate-limits' });
const hourMs = 3_600_000;

/** A Go duration as OpenAI sends it (time.Duration.String, whole milliseconds): `6ms`, `45s`, `1m2s`, `1h0m0s`. */
export function goDuration(ms: number): string {
	const whole = Math.max(0, Math.round(ms));
	if (whole < 1000) {
		return `${whole}ms`;
	}
	const hours = Math.floor(whole / hourMs);
	const minutes = Math.floor((whole % hourMs) / 60_000);
	const seconds = (whole % 60_000) / 1000;
	const secondsText = `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3).replace(/0+$/, '')}s`;
	return hours > 0 ? `${hours}h${minutes}m${secondsText}` : minutes > 0 ? `${minutes}m${secondsText}` : secondsText;
}

const bearer = (request: IncomingMessage) => /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? 'anonymous';
const base64 = (text: string) => Buffer.from(text).toString('base64');

async function readBody(request: IncomingMessage): Promise<string> {
	const chunks: Buffer[] = [];
	for await (const chunk of request) {
		chunks.push(chunk as Buffer);
	}
	return Buffer.concat(chunks).toString('utf8');
}

/** A fixed window: `limit` requests until `resetAt` (epoch ms), then `limit` again for `windowMs`. */
class Window {
	readonly limit: number;
	readonly windowMs: number;
	resetAt: number;
	used = 0;
	constructor(limit: number, resetAt: number, windowMs: number) {
		this.limit = limit;
		this.resetAt = resetAt;
		this.windowMs = windowMs;
	}
	roll(now: number) {
		while (now >= this.resetAt) {
			this.resetAt += this.windowMs;
			this.used = 0;
		}
	}
	get remaining() {
		return Math.max(0, this.limit - this.used);
	}
}

function open(spec: Spec): Api<Seen> {
	const opened = Date.now();
	let requests = 0;
	const byLabel: Record<string, number> = {};
	const byStatus: Record<string, number> = {};
	const hung = new Set<ServerResponse>();
	const count = (label: string) => {
		byLabel[label] = (byLabel[label] ?? 0) + 1;
	};
	const send = (response: ServerResponse, status: number, headers: Record<string, string>, body = status < 300 ? okBody : limitedBody) => {
		byStatus[status] = (byStatus[status] ?? 0) + 1;
		const bytes = status === 304 ? '' : body;
		response.writeHead(status, {
			'content-type': 'application/json',
			...(status === 304 ? {} : { 'content-length': String(Buffer.byteLength(bytes)) }),
			...headers,
		});
		response.end(bytes);
	};
	const hang = (response: ServerResponse) => {
		byStatus.hung = (byStatus.hung ?? 0) + 1;
		hung.add(response);
		response.on('close', () => hung.delete(response));
	};
	const handle = handlerOf(spec, opened, count, send, hang);
	const server = createServer((request, response) => {
		requests++;
		handle(request, response).catch(() => response.destroy());
	});
	return {
		server,
		finish: () => {
			for (const response of hung) {
				response.destroy();
			}
			return { requests, byLabel: { ...byLabel }, byStatus: { ...byStatus } };
		},
	};
}

type Send = (response: ServerResponse, status: number, headers: Record<string, string>, body?: string) => void;
type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

function handlerOf(
	spec: Spec,
	opened: number,
	count: (label: string) => void,
	send: Send,
	hang: (response: ServerResponse) => void,
): Handler {
	switch (spec.kind) {
		case 'github': {
			const buckets = {
				core: new Window(spec.coreLimit, opened + hourMs, hourMs),
				search: new Window(spec.searchLimit, opened + spec.searchResetMs, 60_000),
			};
			return async (request, response) => {
				const now = Date.now();
				const resource = (request.url ?? '/').startsWith('/search/') ? 'search' : 'core';
				count(resource);
				const bucket = buckets[resource];
				bucket.roll(now);
				const allowed = bucket.used < bucket.limit;
				if (allowed) {
					bucket.used++;
				}
				send(response, allowed ? 200 : spec.spentStatus, {
					'x-ratelimit-limit': String(bucket.limit),
					'x-ratelimit-remaining': String(bucket.remaining),
					'x-ratelimit-reset': String(Math.ceil(bucket.resetAt / 1000)),
					'x-ratelimit-used': String(bucket.used),
					'x-ratelimit-resource': resource,
				});
			};
		}
		case 'polling': {
			const etag = '"bench-events-1"';
			const window = new Window(spec.limit, opened + hourMs, hourMs);
			window.used = spec.limit - spec.remaining - 1;
			return async (request, response) => {
				const now = Date.now();
				window.roll(now);
				const notModified = request.headers['if-none-match'] === etag;
				count(notModified ? 'conditional' : 'unconditional');
				if (!notModified) {
					window.used++;
				}
				send(response, notModified ? 304 : 200, {
					etag,
					'x-ratelimit-limit': String(window.limit),
					'x-ratelimit-remaining': String(window.remaining),
					'x-ratelimit-reset': String(Math.ceil(window.resetAt / 1000)),
					'x-ratelimit-used': String(window.used),
					'x-ratelimit-resource': 'core',
				});
			};
		}
		case 'openai': {
			const windows = new Map<string, Window>();
			const tokenLimit = 2_000_000;
			return async (request, response) => {
				const body = await readBody(request);
				let model = 'unknown';
				try {
					model = String((JSON.parse(body) as { model?: unknown }).model ?? 'unknown');
				} catch {
					// A body that is not JSON is counted under `unknown`.
				}
				count(model);
				const now = Date.now();
				let window = windows.get(model);
				if (!window) {
					const spent = model === spec.spentModel;
					// The spent model's window reached its limit before the port opened; the others reset every minute.
					window = new Window(spec.limit, spent ? opened + spec.spentResetMs : now + 60_000, 60_000);
					window.used = spent ? spec.limit : 0;
					windows.set(model, window);
				}
				window.roll(now);
				const allowed = window.used < window.limit;
				if (allowed) {
					window.used++;
				}
				// OpenAI's reset is the time until the window is whole again: a fraction of it per request used.
				const resetRequestsMs = allowed ? Math.ceil((window.used / window.limit) * 60_000) : window.resetAt - now;
				send(response, allowed ? 200 : 429, {
					'x-ratelimit-limit-requests': String(window.limit),
					'x-ratelimit-remaining-requests': String(window.remaining),
					'x-ratelimit-reset-requests': goDuration(resetRequestsMs),
					'x-ratelimit-limit-tokens': String(tokenLimit),
					'x-ratelimit-remaining-tokens': String(tokenLimit - window.used * 20),
					'x-ratelimit-reset-tokens': goDuration(Math.ceil((window.used * 20 * 60_000) / tokenLimit)),
				});
			};
		}
		case 'partitions': {
			const policies = { burst: { q: 100, w: 60 }, day: { q: 1000, w: 86_400 } } as const;
			const keys = new Map<string, { burst: Window; day: Window }>();
			return async (request, response) => {
				const key = bearer(request);
				count(key);
				const now = Date.now();
				let quota = keys.get(key);
				if (!quota) {
					const spent = spec.spentKeys.includes(key);
					quota = {
						burst: new Window(policies.burst.q, now + policies.burst.w * 1000, policies.burst.w * 1000),
						day: new Window(policies.day.q, opened + (spent ? spec.spentResetSeconds : 7200) * 1000, policies.day.w * 1000),
					};
					quota.day.used = spent ? policies.day.q : 0;
					keys.set(key, quota);
				}
				quota.burst.roll(now);
				quota.day.roll(now);
				const allowed = quota.burst.used < quota.burst.limit && quota.day.used < quota.day.limit;
				if (allowed) {
					quota.burst.used++;
					quota.day.used++;
				}
				const seconds = (window: Window) => Math.max(0, Math.ceil((window.resetAt - now) / 1000));
				const status = allowed ? 200 : spec.spentStatus;
				if (spec.style === 'ietf') {
					const pk = `pk=:${base64(key)}:`;
					send(response, status, {
						'ratelimit-policy': `"burst";q=${policies.burst.q};w=${policies.burst.w}, "day";q=${policies.day.q};w=${policies.day.w}`,
						ratelimit: `"burst";r=${quota.burst.remaining};t=${seconds(quota.burst)};${pk}, "day";r=${quota.day.remaining};t=${seconds(quota.day)};${pk}`,
					});
					return;
				}
				// GitHub reports the bucket a request drew on: the day's here, the one that runs out.
				send(response, status, {
					'x-ratelimit-limit': String(quota.day.limit),
					'x-ratelimit-remaining': String(quota.day.remaining),
					'x-ratelimit-reset': String(Math.ceil(quota.day.resetAt / 1000)),
					'x-ratelimit-used': String(quota.day.used),
					'x-ratelimit-resource': 'core',
				});
			};
		}
		case 'faults': {
			const attempts = new Map<string, number>();
			return async (request, response) => {
				const path = request.url ?? '/';
				if (path.startsWith('/broken/')) {
					count('broken');
					if (spec.broken === 'hang') {
						// Never answered: the client's timeout (or the driver's abort) ends it.
						hang(response);
						return;
					}
					send(response, spec.broken, {});
					return;
				}
				count('healthy');
				// Each call has its own path, so the plan decides attempt n of a call alike for every contender.
				const attempt = (attempts.get(path) ?? 0) + 1;
				attempts.set(path, attempt);
				send(response, fails(path, attempt, spec.healthyFailRate) ? 503 : 200, {});
			};
		}
		case 'fail':
			return async (_request, response) => {
				count('all');
				send(response, 500, {});
			};
	}
}

serveApis(open);
