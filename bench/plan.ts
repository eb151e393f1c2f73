// The seeded plan of the flaky and partial scenarios, shared by the servers (bench/server.ts, bench/fault-server.ts:
// they answer by it) and the harnesses (which know from it how many calls the retries can save). Attempt n of call id
// fails when a well-mixed hash of (seed, id, n) falls under the failure rate: independent draws, whatever the ids look like.
export const failureRate: number = Number(process.env.BENCH_FAILURE_RATE ?? 0.3);
const seed = Number(process.env.BENCH_SEED ?? 20261125);

export function fails(id: string, attempt: number, rate: number = failureRate): boolean {
	// FNV-1a over the whole key, then murmur3's finalizer: nearby ids give unrelated draws.
	let hash = 0x811c9dc5;
	for (const character of `${seed}:${id}:${attempt}`) {
		hash = Math.imul(hash ^ character.charCodeAt(0), 0x01000193);
	}
	hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
	hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
	return ((hash ^ (hash >>> 16)) >>> 0) / 4294967296 < rate;
}

/** Whether retries can save the call: not all of its first `attempts` planned attempts fail. */
export const recoverable = (id: string, attempts: number, rate: number = failureRate): boolean =>
	Array.from({ length: attempts }, (_, index) => index + 1).some((attempt) => !fails(id, attempt, rate));
