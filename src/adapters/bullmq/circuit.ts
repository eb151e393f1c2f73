import type { RedisClient } from 'bullmq';

/*
The queue's own circuit, kept in Redis so that every worker of a queue, on every machine, shares it: when a run fails on
an outage, the queue stops handing out runs that would send requests, and lets one probe through per probing interval,
as one client's circuit breaker does (docs/resilience.md: one probe every `breaker.openMs`). A fleet of workers then
costs an outage what one client costs it, not that times the fleet's size.

Three keys beside the queue's own (`<prefix>:<queue>:steadfetch:...`): `outage`, whose value is the failed probes in a
row; `probe`, held for one probing interval by the run that probes; and BullMQ's own rate-limit key, which pauses every
worker of the queue. Each step is one Lua script: Redis runs it whole, so two workers never both take the probe.
*/

/** What a run may do when it starts. */
export type Admission =
	/** No outage: run as usual. */
	| { readonly kind: 'run' }
	/** An outage, and this run is its probe: it may send, with no retry of its own. */
	| { readonly kind: 'probe' }
	/** An outage, and another run probes: send nothing; the queue is paused for `waitMs` (at most `probeMs`), then asks again. */
	| { readonly kind: 'wait'; readonly waitMs: number };

/** The probing interval: `probeMs` at first, doubled by each failed probe in a row, at most `maxProbeMs`. */
export interface ProbeSettings {
	readonly probeMs: number;
	readonly maxProbeMs: number;
}

// BullMQ's `setRateLimit(ms)` stores this value under the limiter key; its moveToActive script reads any value at least
// the worker's `limiter.max` as "rate-limited" for the key's PTTL.
const limited = String(Number.MAX_SAFE_INTEGER);

// Pause the queue for ARGV[1] ms unless it is paused for longer already: a 429's long wait set by one worker must not be
// cut short by another worker's short pause. The key also holds the limiter's own count (a small number with the
// limiter's duration as TTL): only a value of at least ARGV[2] is a pause.
const pauseScript = `
local ms = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[2]) or redis.call('PTTL', KEYS[1]) < ms then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
end
return ms`;

// KEYS: outage, probe, limiter. ARGV: probeMs, maxProbeMs, limited value. A run held back pauses the queue until the
// next probe may go, but for `probeMs` at most: a worker that sleeps a pause cannot be woken, so once the probe finds the
// API back the queue resumes within `probeMs`, not at the end of a long interval.
const admitScript = `
local failed = redis.call('GET', KEYS[1])
if not failed then
	return -1
end
local interval = math.min(tonumber(ARGV[1]) * 2 ^ math.min(tonumber(failed), 30), tonumber(ARGV[2]))
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', math.floor(interval)) then
	return 0
end
local wait = redis.call('PTTL', KEYS[2])
if wait <= 0 then
	wait = math.floor(interval)
end
wait = math.min(wait, tonumber(ARGV[1]))
if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[3]) or redis.call('PTTL', KEYS[3]) < wait then
	redis.call('SET', KEYS[3], ARGV[3], 'PX', wait)
end
return wait`;

// KEYS: outage, limiter. ARGV: probeMs, limited value, outage TTL. A run that saw the outage opens the circuit (unless
// open) and pauses the queue for one probing interval.
const openScript = `
redis.call('SET', KEYS[1], '0', 'NX', 'PX', ARGV[3])
local ms = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[2]) or redis.call('PTTL', KEYS[2]) < ms then
	redis.call('SET', KEYS[2], ARGV[2], 'PX', ms)
end
return 1`;

// KEYS: outage. ARGV: outage TTL. A failed probe: one more in a row.
const failScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then
	redis.call('INCR', KEYS[1])
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1`;

// KEYS: outage, probe. The probe reached a working API.
const closeScript = `
redis.call('DEL', KEYS[1], KEYS[2])
return 1`;

// KEYS: outage. Whether the circuit is open.
const isOpenScript = `return redis.call('EXISTS', KEYS[1])`;

const commands = {
	steadfetchPause: { numberOfKeys: 1, lua: pauseScript },
	steadfetchAdmit: { numberOfKeys: 3, lua: admitScript },
	steadfetchOpen: { numberOfKeys: 2, lua: openScript },
	steadfetchProbeFailed: { numberOfKeys: 1, lua: failScript },
	steadfetchClose: { numberOfKeys: 2, lua: closeScript },
	steadfetchIsOpen: { numberOfKeys: 1, lua: isOpenScript },
} as const;

// An outage that no run reports on for this long is forgotten: a queue idle for an hour starts afresh, with a probe.
const outageTtlMs = 10 * 60_000;

/** What a queue exposes for its circuit: its Redis client and its key builder. */
export interface CircuitHost {
	readonly toKey: (type: string) => string;
	getBackend(): { readonly client: Promise<RedisClient> };
}

/** The circuit of one queue, shared through Redis with every worker of that queue. */
export class QueueCircuit {
	readonly #host: CircuitHost;
	readonly #settings: ProbeSettings;
	#client: Promise<RedisClient> | undefined;

	constructor(host: CircuitHost, settings: ProbeSettings) {
		this.#host = host;
		this.#settings = settings;
	}

	async #run(name: keyof typeof commands, keys: readonly string[], args: readonly (string | number)[]): Promise<number> {
		this.#client ??= this.#host
			.getBackend()
			.client.then((client) => {
				for (const [command, definition] of Object.entries(commands)) {
					client.defineCommand(command, definition);
				}
				return client;
			})
			.catch((error: unknown) => {
				this.#client = undefined;
				throw error;
			});
		const client = await this.#client;
		return Number(await client.runCommand(name, [...keys, ...args.map(String)]));
	}

	#key(name: string): string {
		return this.#host.toKey(`steadfetch:${name}`);
	}

	/** Whether a run may start now, as itself, as the outage's probe, or not at all. */
	async admit(): Promise<Admission> {
		const { probeMs, maxProbeMs } = this.#settings;
		const result = await this.#run(
			'steadfetchAdmit',
			[this.#key('outage'), this.#key('probe'), this.#host.toKey('limiter')],
			[probeMs, maxProbeMs, limited],
		);
		return result < 0 ? { kind: 'run' } : result === 0 ? { kind: 'probe' } : { kind: 'wait', waitMs: result };
	}

	/** Whether a run has seen an outage that no probe has seen end. */
	async isOpen(): Promise<boolean> {
		return (await this.#run('steadfetchIsOpen', [this.#key('outage')], [])) === 1;
	}

	/** A run failed on an outage: open the circuit (unless open) and pause the queue for one probing interval. */
	async open(): Promise<void> {
		await this.#run('steadfetchOpen', [this.#key('outage'), this.#host.toKey('limiter')], [this.#settings.probeMs, limited, outageTtlMs]);
	}

	/** The probe failed on the outage: the next waits twice as long, up to `maxProbeMs`. */
	async probeFailed(): Promise<void> {
		await this.#run('steadfetchProbeFailed', [this.#key('outage')], [outageTtlMs]);
	}

	/** The probe reached a working API (a success, or any answer that is no outage): close the circuit. */
	async close(): Promise<void> {
		await this.#run('steadfetchClose', [this.#key('outage'), this.#key('probe')], []);
	}

	/** Pause the whole queue for `ms`, unless it is paused for longer already. */
	async pause(ms: number): Promise<void> {
		await this.#run('steadfetchPause', [this.#host.toKey('limiter')], [Math.max(1, Math.ceil(ms)), limited]);
	}
}
