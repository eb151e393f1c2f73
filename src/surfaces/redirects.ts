/*
A redirect must never carry a client's API key to another origin. fetch drops `Authorization` on a redirect to another
origin (Fetch standard, HTTP-redirect fetch, step 13), but not an `X-Api-Key` or any other header: a 307 to another
host would deliver the key there. When the key travels in such a header, redirects are followed here instead, by the
standard's own rules, and a hop to another origin goes without the key. (A URL the caller names gets the key: the
caller chose it.)
*/

// The Fetch standard's limit: a twenty-first redirect is a network error.
const maxRedirects = 20;
const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/**
Where redirects can be followed by hand: a server runtime, where `redirect: 'manual'` hands back the 3xx and its
`Location`. A browser gives an opaque response instead, and asks the other origin's CORS consent before sending it
a custom header.
*/
export const canFollowByHand: boolean = (() => {
	const runtime = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown };
	return Boolean(runtime.process?.versions?.node || runtime.Deno || runtime.Bun);
})();

/**
Send `request`, following its redirects by hand when it would follow them anyway: `header` (the API key's) goes to
the request's own origin only. The method and body change as fetch changes them: 303 makes anything but HEAD a GET
without a body, 301 and 302 make a POST a GET; 307 and 308 keep both.
*/
export async function sendKeepingKey(
	send: (input: Request, init?: RequestInit) => Promise<Response>,
	request: Request,
	init: RequestInit | undefined,
	header: string,
): Promise<Response> {
	if (request.redirect !== 'follow') {
		return send(request, init);
	}
	const origin = new URL(request.url).origin;
	let current = request;
	for (let hop = 0; ; hop++) {
		// The body may be needed again for a 307 or 308: keep a copy before this hop consumes it.
		const spare = current.body === null ? current : current.clone();
		const response = await send(new Request(current, { redirect: 'manual' }), init);
		const location = response.headers.get('location');
		if (!redirectStatuses.has(response.status) || location === null) {
			return response;
		}
		if (hop === maxRedirects) {
			void response.body?.cancel().catch(() => undefined);
			throw new TypeError(`Too many redirects (more than ${maxRedirects}).`);
		}
		void response.body?.cancel().catch(() => undefined);
		const target = new URL(location, current.url);
		const keepsBody = response.status === 307 || response.status === 308;
		const toGet =
			(response.status === 303 && spare.method !== 'HEAD') ||
			((response.status === 301 || response.status === 302) && spare.method === 'POST');
		const headers = new Headers(spare.headers);
		if (target.origin !== origin) {
			headers.delete(header);
			// fetch's own rule for Authorization, kept here since fetch no longer sees the hop.
			headers.delete('authorization');
		}
		if (toGet) {
			for (const name of ['content-encoding', 'content-language', 'content-location', 'content-type', 'content-length']) {
				headers.delete(name);
			}
		}
		current = new Request(target, {
			method: toGet ? 'GET' : spare.method,
			headers,
			signal: spare.signal,
			redirect: 'follow',
			...(keepsBody && !toGet && spare.body !== null ? { body: spare.body, duplex: 'half' } : {}),
		} as RequestInit);
	}
}
