/*
What a response says about time: the wait it asks for before the next request (`readWait`, read by the policy on a failed
attempt) and the quota left in the current window (`readQuota`, for pacing). Pure: the time is handed in, in epoch ms.
The table of headers, who sends them and when each is read is in docs/retries.md ("Rate-limit headers");
spec/ratelimit.spec.ts holds one spec per row. Sources: RFC 9110 (§10.2.3 Retry-After, §5.6.7 HTTP-date), RFC 9651
(structured fields), draft-ietf-httpapi-ratelimit-headers, ky 2.1 `core/retry-timing.js`, and the rate-limit pages of
GitHub, OpenAI and Anthropic.
*/

/** The largest time a Date can hold, in epoch milliseconds: a wait reaching past it would make `retryAt` an Invalid Date. */
export const maxTime = 8.64e15;
const clampWait = (waitMs: number, now: number): number => Math.min(Math.max(0, waitMs), Math.max(0, maxTime - now));

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// RFC 9110 §5.6.7: recipients MUST accept IMF-fixdate and the two obsolete forms. V8's Date.parse accepts nearly
// anything ('-5' is a date), so each form is matched strictly: IMF-fixdate, RFC 850, asctime.
const imfFixdate = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const rfc850 = /^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const asctime = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

// The parts of an HTTP-date in any of its three forms, in one order: day, month (0-11), year, hours, minutes, seconds.
const dateParts = (value: string, now: number): number[] | undefined => {
	const fixed = imfFixdate.exec(value);
	if (fixed) {
		return [fixed[1], months.indexOf(fixed[2] ?? ''), fixed[3], fixed[4], fixed[5], fixed[6]].map(Number);
	}
	const obsolete = rfc850.exec(value);
	if (obsolete) {
		// A two-digit year more than 50 years ahead is the latest past year with those digits (RFC 9110 §5.6.7).
		const thisYear = new Date(now).getUTCFullYear();
		let year = thisYear - (thisYear % 100) + Number(obsolete[3]);
		if (year > thisYear + 50) {
			year -= 100;
		}
		return [obsolete[1], months.indexOf(obsolete[2] ?? ''), year, obsolete[4], obsolete[5], obsolete[6]].map(Number);
	}
	const ansi = asctime.exec(value);
	return ansi ? [ansi[2], months.indexOf(ansi[1] ?? ''), ansi[6], ansi[3], ansi[4], ansi[5]].map(Number) : undefined;
};

/** An HTTP-date as epoch ms; undefined when malformed. */
const httpDate = (value: string, now: number): number | undefined => {
	const parts = dateParts(value, now);
	if (!parts) {
		return undefined;
	}
	const [day, month, year, hours, minutes, seconds] = parts as [number, number, number, number, number, number];
	// A leap second (23:59:60) is a valid time of day (RFC 9110 §5.6.7, after RFC 5322): it ends a second after :59, as
	// ky reads it. Date.UTC would roll it into the next minute before the round-trip check below.
	const time = Date.UTC(year, month, day, hours, minutes, Math.min(seconds, 59));
	const parsed = new Date(time);
	// Date.UTC rolls 31 Feb over into March: a date that does not round-trip is malformed.
	if (month < 0 || parsed.getUTCDate() !== day || parsed.getUTCMonth() !== month || hours > 23 || minutes > 59 || seconds > 60) {
		return undefined;
	}
	return seconds === 60 ? time + 1000 : time;
};

/**
`retry-after-ms` (milliseconds, OpenAI-style APIs), else `Retry-After` as delay-seconds or an HTTP-date; a date in the
past means 0. The body of the public `parseRetryAfter` (policy.ts), which keeps its signature and its behaviour.
*/
export function readRetryAfter(headers: Headers, now: number): number | undefined {
	const milliseconds = headers.get('retry-after-ms')?.trim();
	if (milliseconds && /^\d+(?:\.\d+)?$/.test(milliseconds)) {
		return Math.ceil(Number(milliseconds));
	}
	const value = headers.get('retry-after')?.trim();
	if (!value) {
		return undefined;
	}
	if (/^\d+$/.test(value)) {
		return Number(value) * 1000;
	}
	const time = httpDate(value, now);
	return time === undefined ? undefined : Math.max(0, time - now);
}

// ky 2.1's rule: a number in a reset header is an epoch timestamp when, read as seconds, it is past 2024-01-01 (older
// epochs look like ordinary delays); else delay-seconds. We add epoch milliseconds (a number that is already past
// 2024-01-01 as ms: no delay runs 54,000 years), which some APIs put in X-RateLimit-Reset, and an HTTP-date.
const epoch2024 = Date.UTC(2024, 0, 1);
const resetWait = (value: string, now: number): number | undefined => {
	if (/^\d+(?:\.\d+)?$/.test(value)) {
		const number = Number(value);
		return number >= epoch2024 ? number - now : number * 1000 >= epoch2024 ? number * 1000 - now : number * 1000;
	}
	const time = httpDate(value, now);
	return time === undefined ? undefined : time - now;
};

// OpenAI sends resets as Go durations (time.Duration.String: `6m0s`, `1.2s`, `20ms`).
const goUnits: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };
const goDuration = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/;
const durationWait = (value: string): number | undefined => {
	if (!goDuration.test(value)) {
		return undefined;
	}
	let total = 0;
	for (const [, amount, unit = ''] of value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) {
		total += Number(amount) * (goUnits[unit] ?? Number.NaN);
	}
	// Round away float noise (1.1 * 1000 is 1100.0000000000002) before rounding up to a whole millisecond.
	return Math.ceil(Math.round(total * 1e6) / 1e6);
};

// Anthropic sends resets as RFC 3339 times (`2026-11-27T12:00:30Z`); the offset and a leap second (:60) are honoured.
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const timestampWait = (value: string, now: number): number | undefined => {
	const match = rfc3339.exec(value);
	if (!match) {
		return undefined;
	}
	const [year, month, day, hours, minutes, seconds] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
	const [offsetHours, offsetMinutes] = [Number(match[9] ?? 0), Number(match[10] ?? 0)];
	const time = Date.UTC(year, month - 1, day, hours, minutes, Math.min(seconds, 59));
	const parsed = new Date(time);
	// Date.UTC rolls 31 Feb over into March (and years below 100 into the 1900s): a time that does not round-trip is malformed.
	const roundTrips = parsed.getUTCFullYear() === year && parsed.getUTCMonth() === month - 1 && parsed.getUTCDate() === day;
	if (!roundTrips || hours > 23 || minutes > 59 || seconds > 60 || offsetHours > 23 || offsetMinutes > 59) {
		return undefined;
	}
	const offset = (offsetHours * 60 + offsetMinutes) * 60_000 * (match[8] === '-' ? -1 : 1);
	return time + (seconds === 60 ? 1000 : 0) + Number(match[7] ?? 0) * 1000 - offset - now;
};

/** One window a response reports: requests (or tokens) left, and the wait until it resets; either may be unreadable. */
interface Window {
	readonly remaining: number | undefined;
	readonly waitMs: number | undefined;
}

/**
The furthest reset a rate-limit header may announce: 24 hours, the longest window of the APIs we read (a daily quota).
Further is nonsense (a 20-digit reset, `t=999999999999999`, a stale epoch such as 1700000000 read as 54 years of
delay-seconds) and is unreadable: the call backs off, and pacing never sees it, where one such response would have held
every later call to its origin until the year 275760. `Retry-After` is not bounded by it: it is a server's explicit
order, read per response, and never held for later calls.
*/
export const maxResetMs = 86_400_000;
const sane = (waitMs: number | undefined): number | undefined => (waitMs !== undefined && waitMs <= maxResetMs ? waitMs : undefined);

const count = (value: string | null | undefined): number | undefined =>
	value && /^\d{1,15}$/.test(value.trim()) ? Number(value) : undefined;

// A remaining/reset pair of headers; nothing when the reset header is absent.
const pair = (
	headers: Headers,
	remaining: string,
	reset: string,
	read: (value: string, now: number) => number | undefined,
	now: number,
): Window[] => {
	const value = headers.get(reset)?.trim();
	return value ? [{ remaining: count(headers.get(remaining)), waitMs: sane(read(value, now)) }] : [];
};

// Split a structured field (RFC 9651) on `separator` outside strings: a policy name may hold a comma or a semicolon.
const splitOutside = (value: string, separator: string): string[] => {
	const parts: string[] = [];
	let quoted = false;
	let start = 0;
	for (let index = 0; index < value.length; index++) {
		const char = value[index];
		if (char === '\\' && quoted) {
			index++;
		} else if (char === '"') {
			quoted = !quoted;
		} else if (char === separator && !quoted) {
			parts.push(value.slice(start, index).trim());
			start = index + 1;
		}
	}
	parts.push(value.slice(start).trim());
	return parts;
};

// The members of a List (RFC 9651 §3.1): the policy name (a string or a token) and its parameters. A member whose
// name is neither is dropped, so a Dictionary (`limit=100, remaining=0`) reads as nothing.
const sfName = /^(?:"(?:[^"\\]|\\.)*"|[A-Za-z*][\w!#$%&'*+.^`|~:/-]*)$/;
const members = (value: string): { name: string; params: Map<string, string> }[] =>
	splitOutside(value, ',').flatMap((member) => {
		const [name = '', ...params] = splitOutside(member, ';');
		if (!sfName.test(name)) {
			return [];
		}
		return {
			name: name.replace(/^"|"$/g, ''),
			// A parameter without a value is the boolean true (RFC 9651 §3.1.2).
			params: new Map(
				params.map((param) => {
					const at = param.indexOf('=');
					return at < 0 ? ([param, '?1'] as const) : ([param.slice(0, at).trim(), param.slice(at + 1).trim()] as const);
				}),
			),
		};
	});

// A policy's window is its name's, within its partition (`pk`: the draft's key of the quota's owner).
const bucketOf = (name: string, partition: string | undefined): string => (partition === undefined ? name : `${name};pk=${partition}`);

/**
draft-ietf-httpapi-ratelimit-headers (-08 on): `RateLimit: "default";r=0;t=30`, a List with one member per policy, `r`
the quota left and `t` the seconds until it resets. `RateLimit-Policy` (`"default";q=100;w=60;qu="requests"`) gives
no wait; it is read only to leave out, for `readQuota`, a policy whose quota unit is not requests.
*/
const structured = (headers: Headers, requestsOnly: boolean): (Window & { bucket: string })[] => {
	const field = headers.get('ratelimit');
	if (!field) {
		return [];
	}
	const policies = requestsOnly ? members(headers.get('ratelimit-policy') ?? '') : [];
	const units = new Map(policies.map(({ name, params }) => [name, params.get('qu')?.replace(/^"|"$/g, '') ?? 'requests']));
	// `r` is required (a member without it says nothing); `t` is the wait.
	return members(field).flatMap(({ name, params }) => {
		const remaining = count(params.get('r'));
		const seconds = count(params.get('t'));
		return remaining === undefined || (units.get(name) ?? 'requests') !== 'requests'
			? []
			: { remaining, waitMs: sane(seconds === undefined ? undefined : seconds * 1000), bucket: bucketOf(name, params.get('pk')) };
	});
};

const openAi = (kind: string) => (headers: Headers, now: number) =>
	pair(headers, `x-ratelimit-remaining-${kind}`, `x-ratelimit-reset-${kind}`, durationWait, now);
const anthropic = (kind: string) => (headers: Headers, now: number) =>
	pair(headers, `anthropic-ratelimit-${kind}-remaining`, `anthropic-ratelimit-${kind}-reset`, timestampWait, now);

// The wait signals after Retry-After, in order: ky's four reset headers, each with the remaining header that goes with
// it (RateLimit-Reset/-Remaining are also the older IETF drafts' pair), then the IETF structured field, OpenAI, Anthropic.
const families: readonly ((headers: Headers, now: number) => Window[])[] = [
	(headers, now) => pair(headers, 'ratelimit-remaining', 'ratelimit-reset', resetWait, now),
	(headers, now) => pair(headers, 'x-ratelimit-remaining', 'x-ratelimit-retry-after', resetWait, now), // Symfony
	(headers, now) => pair(headers, 'x-ratelimit-remaining', 'x-ratelimit-reset', resetWait, now), // GitHub
	(headers, now) => pair(headers, 'x-rate-limit-remaining', 'x-rate-limit-reset', resetWait, now), // Twitter/X
	(headers) => structured(headers, false),
	(headers, now) => [...openAi('requests')(headers, now), ...openAi('tokens')(headers, now)],
	(headers, now) => ['requests', 'tokens', 'input-tokens', 'output-tokens'].flatMap((kind) => anthropic(kind)(headers, now)),
];

/**
The wait in milliseconds a response asks for before the next request, or undefined (then the caller backs off).
Precedence: `retry-after-ms`, `Retry-After`, then the rate-limit resets in the order of `families`; the first readable
signal wins and garbage falls through to the next. A reset counts only on a 429 or 503, or when the remaining count that
goes with it is 0: GitHub and others send resets on every response, and a 500 whose hourly window resets in 40 minutes
must not wait 40 minutes. Among several windows (OpenAI requests and tokens, Anthropic's four), the longest reset of
those at 0 wins; on a 429 or 503 where none says 0, the longest reset of all. A reset in the past means 0; one further
than `maxResetMs` is unreadable; the wait never reaches past what a Date can hold.
*/
export function readWait(headers: Headers, status: number, now: number): number | undefined {
	const asked = readRetryAfter(headers, now);
	if (asked !== undefined) {
		return clampWait(asked, now);
	}
	const throttled = status === 429 || status === 503;
	for (const family of families) {
		let exhausted: number | undefined;
		let longest: number | undefined;
		for (const { remaining, waitMs } of family(headers, now)) {
			if (waitMs !== undefined) {
				longest = Math.max(longest ?? waitMs, waitMs);
				exhausted = remaining === 0 ? Math.max(exhausted ?? waitMs, waitMs) : exhausted;
			}
		}
		const wait = exhausted ?? (throttled ? longest : undefined);
		if (wait !== undefined) {
			return clampWait(wait, now);
		}
	}
	return undefined;
}

/** One request window a response reports: how many requests it has left, when it resets, and whose it is. */
export interface Quota {
	/**
	The bucket the response names: GitHub's `x-ratelimit-resource` (`core`, `search`), an IETF policy's name with its
	partition key (`day;pk=:YWxpY2U=:`); else undefined, and the window is the endpoint's that answered. `family` keeps
	apart the unnamed windows of one response that several header families describe.
	*/
	readonly bucket: string | undefined;
	readonly family: string;
	readonly remaining: number;
	/** Epoch ms. */
	readonly resetAt: number;
}

const windowsOf = (family: string, bucket: string | undefined, found: Window[], now: number, into: Quota[]): void => {
	for (const { remaining, waitMs } of found) {
		if (remaining !== undefined && waitMs !== undefined) {
			into.push({ bucket, family, remaining, resetAt: now + clampWait(waitMs, now) });
		}
	}
};

/**
The request windows a response reports (any status), for pacing: GitHub's `x-ratelimit-remaining`/`-reset` (named by
`x-ratelimit-resource`) and Twitter's `x-rate-limit-*`, each policy of the IETF `RateLimit` field (request policies
only, named with their partition key `pk`), the older `RateLimit-Remaining`/`-Reset`, OpenAI's and Anthropic's requests
pairs. Runs on every response, so one pass over the header names (no `get`) decides that none of these is there.
*/
export function readQuotas(headers: Headers, now: number): Quota[] {
	let present = false;
	for (const name of headers.keys()) {
		if (name.includes('ratelimit') || name.includes('rate-limit')) {
			present = true;
			break;
		}
	}
	const quotas: Quota[] = [];
	if (!present) {
		return quotas;
	}
	const resource = headers.get('x-ratelimit-resource')?.trim() || undefined;
	windowsOf('x-ratelimit', resource, pair(headers, 'x-ratelimit-remaining', 'x-ratelimit-reset', resetWait, now), now, quotas);
	windowsOf('x-rate-limit', undefined, pair(headers, 'x-rate-limit-remaining', 'x-rate-limit-reset', resetWait, now), now, quotas);
	for (const policy of structured(headers, true)) {
		windowsOf('ratelimit', policy.bucket, [policy], now, quotas);
	}
	windowsOf('ratelimit-pair', undefined, pair(headers, 'ratelimit-remaining', 'ratelimit-reset', resetWait, now), now, quotas);
	windowsOf('openai', undefined, openAi('requests')(headers, now), now, quotas);
	windowsOf('anthropic', undefined, anthropic('requests')(headers, now), now, quotas);
	return quotas;
}
