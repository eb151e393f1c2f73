/*
Redaction, for everything steadfetch throws or hands to a callback, in two kinds documented in docs/errors.md: by name
(this file: a credential's header, query or matrix parameter, URL user-info, masked whatever the value) and by value
(mask.ts: the secrets one call sent, searched for in free text in every encoding they travel in).
*/

/** What stands in for a secret in every rendering of an error. */
export const mask = '***';

/** Secret values shorter than this are masked only where their name marks them: free text is never searched for them. */
export const minSecretLength = 6;

// The rule for names (headers, query and matrix parameters): split into words; a credential word, a word with a
// credential ending, or two neighbouring words that join into one (app id), marks a credential, unless the word is one
// of the ordinary ones (a page token pages, an idempotency key deduplicates). spec/redact.spec.ts holds real APIs to it.
const credentialWords = new Set(
	'key apikey accesskey secretkey privatekey token secret password passwd pwd pass passphrase otp auth authorization credential credentials bearer jwt signature sig session sessionid sid cookie cookies appid hmac verifier assertion'.split(
		' ',
	),
);
// A word that ends in `key` marks a credential only after one of these stems (`authkey`, `x-appkey`): `key` alone ends
// too many ordinary words (monkey, turkey, hockey, whiskey).
const credentialEndings = [
	...'token secret password passwd accesskeyid sessionid sessid'.split(' '),
	...'api auth app ws service license user master dev client subscription account signing secret private access'
		.split(' ')
		.map((stem) => `${stem}key`),
];
const ordinaryWords = new Set([
	...'idempotency public sort partition primary foreign cache routing'.split(' ').map((word) => `${word}key`),
	...'page nextpage next continuation sync resume skip delta'.split(' ').map((word) => `${word}token`),
]);

// An acronym ends before the capital that begins a word (`APIKey`: API, Key). The run of capitals is not matched whole:
// from each of its letters it would be scanned to its end again, quadratic in a long name (a server's `Location` query).
const wordsOf = (name: string): string[] =>
	name
		.replace(/([a-z\d])([A-Z])/g, '$1 $2')
		.replace(/([A-Z]{2})(?=[A-Z][a-z])/g, '$1 ')
		.replace(/([a-z])(\d)/gi, '$1 $2')
		.toLowerCase()
		.split(/[^a-z\d]+/)
		.filter(Boolean);

const isCredentialWord = (word: string): boolean =>
	!ordinaryWords.has(word) && (credentialWords.has(word) || credentialEndings.some((ending) => word.endsWith(ending)));

/** True for a header, query or matrix parameter name that carries a credential (`X-Api-Key`, `access_token`, `appid`...). */
export function isSecretName(name: string): boolean {
	const words = wordsOf(name);
	return words.some((word, index) => {
		const joined = index > 0 ? `${words[index - 1]}${word}` : '';
		return !ordinaryWords.has(joined) && (isCredentialWord(word) || (joined !== '' && isCredentialWord(joined)));
	});
}

/** True for a header whose value is a credential; `extra` names more (the client's `apiKeyHeader`). */
export const isSecretHeader = (name: string, extra: readonly string[] = []): boolean =>
	isSecretName(name) || extra.some((header) => header.toLowerCase() === name.toLowerCase());
