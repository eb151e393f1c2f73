import type { SteadfetchError } from '../types.ts';

/*
A call a guard refused, handed back as a local Response where the caller does not throw on its status (the drop-in
fetch, a client with `throwHttpErrors: false`): fetch's contract is a Response for every status and a rejection only for
a failure of the network, and SDKs built on it report a rejection as a connection error (OpenAI's
`APIConnectionError`) or a 500 (Octokit), never sent or not. A 429 or 503 with `Retry-After` is what each SDK reads as
what it is, and the header `x-steadfetch-refused` marks it as local, as Envoy marks its local replies. Measured with
openai, @octokit/core and graphql-request in `scripts/sdk-refusals.ts` (docs/fetch.md).
*/

/** The header that marks a Response no server sent: its value is the `stopReason` (`rate-limited`, `deadline`, `circuit-open`). */
export const refusalHeader = 'x-steadfetch-refused';

/** The local Response for a call a guard refused: 429 for a rate-limit window, 503 for an open circuit. */
export function refusalResponse(error: SteadfetchError, now: number): Response {
	const circuit = error.stopReason === 'circuit-open';
	const status = circuit ? 503 : 429;
	const waitMs = error.retryAt ? Math.max(0, error.retryAt.getTime() - now) : 0;
	const headers = new Headers({
		'content-type': 'application/json',
		'retry-after': String(Math.ceil(waitMs / 1000)),
		[refusalHeader]: error.stopReason ?? 'refused',
	});
	if (circuit) {
		// The SDK's own retry then comes when the breaker lets its probe through.
		headers.set('retry-after-ms', String(Math.ceil(waitMs)));
	} else {
		// A window spent until its reset: an SDK that honours Retry-After without a cap (Anthropic's) would sleep for
		// hours; the Stainless SDKs (OpenAI, Anthropic) read this header first. steadfetch's own `maxDelayMs` is the knob.
		headers.set('x-should-retry', 'false');
	}
	const code = circuit ? 'circuit_open' : error.stopReason === 'deadline' ? 'deadline' : 'rate_limited';
	// A top-level `message` is what Octokit's error says; `error` is OpenAI's and most APIs' shape. Without the status in
	// front: every SDK puts the status in front of the body's message itself.
	const message = error.message.replace(/^\d{3} /, '');
	const body = JSON.stringify({ message, error: { message, type: 'steadfetch_refused', code } });
	return new Response(body, { status, statusText: circuit ? 'Service Unavailable' : 'Too Many Requests', headers });
}

/** Whether a Response is a call steadfetch refused without sending it (a rate-limit window, an open circuit), not the server's. */
export function isRefusal(response: Response): boolean {
	return response.headers.has(refusalHeader);
}
