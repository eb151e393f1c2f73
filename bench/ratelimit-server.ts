// The rate-limited API of bench/ratelimit.ts, in its own process so that its work never stalls the callers' timers. Each
// port is a fresh API: `limit` requests per fixed window of `windowMs`, the windows aligned to this process's clock
// (window k is [k * windowMs, (k + 1) * windowMs) in epoch ms), and a 429 beyond. Every response, 200 or 429, says how
// many requests remain in the window and when it resets, in GitHub's headers or the IETF structured field; a 429 also
// carries `Retry-After`. Both forms have a resolution of one second, as the real ones do.
import { createServer } from 'node:http';
import { type Api, serveApis } from './child.ts';

/**
`github`: `x-ratelimit-remaining` and `x-ratelimit-reset` (epoch seconds, rounded up: exact when the windows fall on whole
seconds). `ietf`: `RateLimit: "default";r=R;t=S` with `RateLimit-Policy: "default";q=N;w=W`, `t` the seconds until the
reset, rounded up (draft-ietf-httpapi-ratelimit-headers): up to a second late.
*/
export type Style = 'github' | 'ietf';
export interface Limit {
	readonly limit: number;
	readonly windowMs: number;
	readonly style: Style;
}
export interface PortStats {
	readonly requests: number;
	readonly ok: number;
	readonly limited: number;
	/** The most requests answered 200 in one window: never above `limit` (a check of the server itself). */
	readonly maxOkPerWindow: number;
}
const okBody = JSON.stringify({ id: 42, name: 'steadfetch', tags: ['bench', 'json'], ok: true });
const limitedBody = JSON.stringify({ message: 'API rate limit exceeded', documentation_url: 'https://example.com/rate-limits' });

function quotaHeaders({ limit, windowMs, style }: Limit, remaining: number, resetAt: number, now: number): Record<string, string> {
	if (style === 'github') {
		return {
			'x-ratelimit-limit': String(limit),
			'x-ratelimit-remaining': String(remaining),
			'x-ratelimit-used': String(limit - remaining),
			'x-ratelimit-reset': String(Math.ceil(resetAt / 1000)),
			'x-ratelimit-resource': 'core',
		};
	}
	return {
		'ratelimit-policy': `"default";q=${limit};w=${Math.ceil(windowMs / 1000)}`,
		ratelimit: `"default";r=${remaining};t=${Math.ceil((resetAt - now) / 1000)}`,
	};
}

function open(spec: Limit): Api<PortStats> {
	let window = -1;
	let used = 0;
	let requests = 0;
	let ok = 0;
	let limited = 0;
	let maxOkPerWindow = 0;
	const server = createServer((_request, response) => {
		const now = Date.now();
		const current = Math.floor(now / spec.windowMs);
		if (current !== window) {
			window = current;
			used = 0;
		}
		requests++;
		const resetAt = (window + 1) * spec.windowMs;
		const allowed = used < spec.limit;
		if (allowed) {
			used++;
			ok++;
			maxOkPerWindow = Math.max(maxOkPerWindow, used);
		} else {
			limited++;
		}
		const body = allowed ? okBody : limitedBody;
		response.writeHead(allowed ? 200 : 429, {
			'content-type': 'application/json',
			'content-length': Buffer.byteLength(body),
			...quotaHeaders(spec, spec.limit - used, resetAt, now),
			...(allowed ? {} : { 'retry-after': String(Math.ceil((resetAt - now) / 1000)) }),
		});
		response.end(body);
	});
	return { server, finish: () => ({ requests, ok, limited, maxOkPerWindow }) };
}

serveApis(open);
