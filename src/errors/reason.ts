/*
What the server said went wrong, in its own words, read from a failing response's body: RFC 9457 problem details, and
the shapes most APIs use (docs/errors.md, "The server's reason"). Read from the body as parsed, before it is cut to
8 KiB; `reasonLine` masks the secrets in it and bounds it for the message.
*/
import type { Redactor } from '../secrets/redactor.ts';
import type { ProblemDetails } from '../types.ts';

type Members = Readonly<Record<string, unknown>>;

const isRecord = (value: unknown): value is Members => typeof value === 'object' && value !== null && !Array.isArray(value);
// Own members only: a body's `__proto__` key is data, and nothing inherited is the server's.
const member = (value: unknown, key: string): unknown => (isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined);
const textOf = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
const mediaTypeOf = (response: Response): string =>
	(response.headers.get('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';

// RFC 9457's members and their types; a member of another type is ignored (section 3.1).
const standard = new Map<string, 'string' | 'number'>([
	['type', 'string'],
	['title', 'string'],
	['status', 'number'],
	['detail', 'string'],
	['instance', 'string'],
]);

/**
The body as problem details: a JSON object sent as `application/problem+json` (RFC 9457), or one whose `status` is the
response's and that has a string `title` or `detail`, as frameworks send it as `application/json`. `whole` says whether
the body is kept whole on the error; a larger one keeps only the five standard members.
*/
export function problemOf(data: unknown, response: Response, whole: boolean): ProblemDetails | undefined {
	if (!isRecord(data)) {
		return undefined;
	}
	const shaped =
		member(data, 'status') === response.status && (textOf(member(data, 'title')) ?? textOf(member(data, 'detail'))) !== undefined;
	if (mediaTypeOf(response) !== 'application/problem+json' && !shaped) {
		return undefined;
	}
	// fromEntries defines own members: a `__proto__` extension stays data.
	return Object.fromEntries(
		Object.entries(data).filter(([key, value]) => {
			const type = standard.get(key);
			return type ? typeof value === type : whole;
		}),
	);
}

// One entry of a list of errors, as a line: where it points (`pointer` as in RFC 9457's example, GitHub's `field`), then
// what it says (a string, or `detail`, `message`, GraphQL's and FastAPI's `msg`, else its `code`).
const entryOf = (entry: unknown): string | undefined => {
	const says =
		textOf(entry) ??
		textOf(member(entry, 'detail')) ??
		textOf(member(entry, 'message')) ??
		textOf(member(entry, 'msg')) ??
		textOf(member(entry, 'code'));
	const where = textOf(member(entry, 'pointer')) ?? textOf(member(entry, 'field'));
	return says && where ? `${where}: ${says}` : says;
};

// The first of a list of errors, and how many more there are.
const firstOf = (list: unknown): string | undefined => {
	const first = Array.isArray(list) ? entryOf(list[0]) : undefined;
	const more = Array.isArray(list) ? list.length - 1 : 0;
	return first && more > 0 ? `${first}, +${more} more` : first;
};

/**
What the server said went wrong, as it said it; undefined when its body says nothing this can read. The first that is a
non-empty string: problem details' `detail`, then `title`; else `message` (GitHub), `error.message` (Stripe, OpenAI,
Google, Anthropic), `error_description` (OAuth 2.0), `error` as a string, `detail` (Django REST framework, FastAPI). The
first entry of an `errors` list follows it in parentheses (RFC 9457's validation example, GitHub's 422), or stands alone
(JSON:API, GraphQL). A `text/plain` body gives its first line; any other text (an HTML page) nothing.
*/
export function reasonOf(data: unknown, response: Response, problem: ProblemDetails | undefined): string | undefined {
	if (typeof data === 'string') {
		return mediaTypeOf(response) === 'text/plain' ? textOf(data.trim().split(/\r?\n/, 1)[0]) : undefined;
	}
	const error = member(data, 'error');
	const said = problem
		? (textOf(problem.detail) ?? textOf(problem.title))
		: (textOf(member(data, 'message')) ??
			textOf(member(error, 'message')) ??
			textOf(member(data, 'error_description')) ??
			textOf(error) ??
			textOf(member(data, 'detail')));
	const first = firstOf(member(data, 'errors') ?? member(error, 'errors'));
	return said && first && !first.startsWith(said) ? `${said} (${first})` : (said ?? first);
}

/** The most of the server's reason a message carries, in UTF-16 units: a longer one is cut, ending with `…`. */
export const maxReasonLength = 200;

// Line breaks, tabs, other control characters and bidirectional controls: in a log line they could forge a line or
// disguise what follows.
const unprintable = /[\s\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]+/gu;
// Without its closing stops and spaces, by a loop: `/[.!\s]+$/` would rescan a long run of dots from each of them.
const comparable = (text: string): string => {
	let end = text.length;
	while (end > 0 && '.! '.includes(text.charAt(end - 1))) {
		end--;
	}
	return text.slice(0, end).toLowerCase();
};

/**
The reason as a message shows it: secrets masked, on one line, at most `maxReasonLength` long; undefined when it only
says the status's `title` again (GitHub's `"message": "Not Found"` on a 404).
*/
export function reasonLine(reason: string, redact: Redactor, title: string): string | undefined {
	// Masked before the cut, so that no part of a secret survives it; and once more on one line, where a secret with a
	// space in it may have been spread over lines.
	const line = redact.text(redact.text(reason).replace(unprintable, ' ').trim());
	if (line === '' || comparable(line) === comparable(title.trim())) {
		return undefined;
	}
	if (line.length <= maxReasonLength) {
		return line;
	}
	const end = maxReasonLength - 1;
	// Never half of a surrogate pair.
	const cut = /[\ud800-\udbff]/.test(line.charAt(end - 1)) ? end - 1 : end;
	return `${line.slice(0, cut)}…`;
}
