import type { Attributes } from '@opentelemetry/api';
import { Lru } from '../../engine/lru.ts';
import { mask } from '../../secrets/names.ts';

/*
The HTTP semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/), as `steadfetch/otel`
renders a call: the method from the known set, `url.full` redacted as the conventions write it, and attributes with
few values on metrics (a metric keeps a series per set of attribute values: an unbounded value is a memory leak in the
SDK and a bill at the backend).
*/

// The methods the conventions know (RFC 9110's, PATCH, and QUERY), matched exactly: they are case-sensitive.
const knownMethods = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);

/** `http.request.method`: a known method as it is, any other `_OTHER`. */
export const methodOf = (method: string): string => (knownMethods.has(method) ? method : '_OTHER');

/**
The method's attributes on a span: `http.request.method`, and `http.request.method_original` when it is `_OTHER`.
Metrics take only `http.request.method`: the original is anything a caller wrote.
*/
export const methodAttributes = (method: string): Attributes => {
	const known = methodOf(method);
	return known === method ? { 'http.request.method': known } : { 'http.request.method': known, 'http.request.method_original': method };
};

/** A span's name for a method: the conventions name an `_OTHER` one `HTTP`. */
export const spanNameOf = (method: string): string => (knownMethods.has(method) ? method : 'HTTP');

// What the conventions write for a redacted part of `url.full`.
const redacted = 'REDACTED';
const maskedUserInfo = /^([a-z][\w+.-]*:\/\/)\*\*\*@/i;

/**
`url.full` from a URL steadfetch redacted (`***` for user-info, a credential parameter's value, a secret the call sent,
wherever it stood): as the conventions write it, `REDACTED:REDACTED@` for user-info and `REDACTED` for every value.
*/
export const conventionalUrl = (url: string): string =>
	url.includes(mask) ? url.replace(maskedUserInfo, `$1${redacted}:${redacted}@`).replaceAll(mask, redacted) : url;

/** `server.address` and `server.port` of an origin (the port as the URL implies it: 443 for https); none for an origin the URL parser cannot read. */
export const parseServer = (origin: string): Attributes => {
	if (!URL.canParse(origin)) {
		return {};
	}
	const { hostname, port, protocol } = new URL(origin);
	return Object.freeze({ 'server.address': hostname, 'server.port': port ? Number(port) : protocol === 'https:' ? 443 : 80 });
};

const otherServer: Attributes = Object.freeze({ 'server.address': '_OTHER' });

/**
The server attributes of origins: on spans, each origin's own (a span is one event, not a series); on metrics, the
first `max` origins' own, and `server.address: _OTHER` for every origin after them, so that a crawler's endless hosts
cannot grow the metrics without bound. The first come keep their names until `disable()`: an origin that lost its
name to a newer one would split its series in two.
*/
export class Servers {
	readonly #max: number;
	// Every call reads its origin's attributes: parsed once for the last origins, as many as a client keeps guards for.
	readonly #parsed: Lru<string, Attributes>;
	readonly #named = new Set<string>();

	constructor(max: number, kept: number) {
		this.#max = max;
		this.#parsed = new Lru(kept);
	}

	/** The origin's `server.address` and `server.port`. */
	of(origin: string): Attributes {
		let server = this.#parsed.get(origin);
		if (!server) {
			server = parseServer(origin);
			this.#parsed.set(origin, server);
		}
		return server;
	}

	/** The origin's server attributes on metrics: its own while it is among the first `max`, else `_OTHER`. */
	metric(origin: string): Attributes {
		if (this.#named.has(origin)) {
			return this.of(origin);
		}
		if (this.#named.size < this.#max) {
			this.#named.add(origin);
			return this.of(origin);
		}
		return otherServer;
	}
}
