/*
What the runtime says went wrong when no response arrived. Node's fetch (undici) rejects with `TypeError: fetch failed`
and puts the code on its `cause` (`ECONNREFUSED`, `ENOTFOUND`, undici's `UND_ERR_SOCKET`), or on an AggregateError's
entries when several addresses were tried; Bun puts it on the TypeError itself; Deno and browsers give none.
docs/errors.md has the table, checked on each runtime by spec/runtimes.spec.ts and spec/browser.spec.ts.
*/

// The runtime's error, its cause, and the entries of an AggregateError below them.
const maxDepth = 4;
// A code is an identifier (`ECONNREFUSED`, `UND_ERR_SOCKET`, `ERR_TLS_CERT_ALTNAME_INVALID`), never free text; a
// DOMException's `code` is a number.
const identifier = /^[A-Z][A-Z\d_]{1,63}$/;

/** The first error code in the error, its `cause` chain and an AggregateError's `errors`; undefined for none. */
export function networkCode(error: unknown, depth: number = maxDepth): string | undefined {
	if (typeof error !== 'object' || error === null || depth === 0) {
		return undefined;
	}
	try {
		const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
		if (typeof code === 'string' && identifier.test(code)) {
			return code;
		}
		for (const inner of [cause, ...(Array.isArray(errors) ? errors : [])]) {
			const found = networkCode(inner, depth - 1);
			if (found) {
				return found;
			}
		}
	} catch {
		// A getter that throws (an error of a custom fetch's making): it names nothing.
	}
	return undefined;
}

// The codes of a connection that failed: POSIX's (ECONNREFUSED, ECONNRESET, ENOTFOUND), getaddrinfo's (EAI_AGAIN),
// undici's (UND_ERR_SOCKET), TLS's and a certificate's faults; not Node's ERR_INVALID_URL and kin, which say the input
// was wrong.
const connectionCode = /^(?:E[A-Z]+|EAI_[A-Z]+|UND_ERR_[A-Z_]+|ERR_(?:TLS|SSL)_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)$/;

/**
True for fetch's TypeError when the connection failed and the runtime says so by its code rather than by a message
is-network-error knows: Bun rejects with `TypeError: ECONNREFUSED: Unable to connect…` (code `ECONNREFUSED`), or
`getaddrinfo ENOTFOUND …`.
*/
export const isConnectionFailure = (error: unknown): boolean =>
	error instanceof Error && error.name === 'TypeError' && connectionCode.test(networkCode(error) ?? '');

const happened = new Map([
	['ECONNREFUSED', 'the connection was refused'],
	['ECONNRESET', 'the connection was reset'],
	['ENOTFOUND', 'the host name was not found'],
	['EAI_AGAIN', 'the host name could not be looked up for now'],
	['ETIMEDOUT', 'the connection timed out'],
	['EHOSTUNREACH', 'the host is unreachable'],
	['ENETUNREACH', 'the network is unreachable'],
	['EPIPE', 'the connection closed while the request was sent'],
	['UND_ERR_SOCKET', 'the connection closed'],
	['UND_ERR_CONNECT_TIMEOUT', 'connecting timed out'],
	['UND_ERR_HEADERS_OVERFLOW', "the response's headers were too large"],
]);
// Node names the fault it found in a certificate: CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT,
// UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID...
const tls = /CERT|SIGNATURE|TLS|SSL/;

/** The code as a message says it: `ECONNREFUSED: the connection was refused`, or `Error code X` for one not listed. */
export const describeCode = (code: string): string => {
	const words = happened.get(code) ?? (tls.test(code) ? 'the TLS handshake failed' : undefined);
	return words ? `${code}: ${words}` : `Error code ${code}`;
};
