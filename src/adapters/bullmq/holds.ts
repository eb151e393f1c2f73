import type { RedisClient } from 'bullmq';

/*
What holds a queue back, kept in Redis so that every worker of a queue, on every machine, shares it: a pause the API asked
for (a 429's or 503's wait), and the outage circuit. When a run fails on an outage, the queue stops handing out runs
that would send requests, and lets one probe through per probing interval, as one client's circuit breaker does
(docs/resilience.md: one probe every `breaker.openMs`). A fleet of workers then costs an outage what one client costs
it, not that times the fleet's size.

The keys live under an epoch kept in the queue's meta hash (`<prefix>:<queue>:steadfetch:<epoch>:pause`, `:outage`, the
failed probes in a row, and `:probe`, held for one probing interval by the run that probes), so that `obliterate`,
which deletes the meta hash, leaves a new queue of the same name with nothing held. BullMQ's own rate-limit key, which
stops every worker of the queue fetching jobs, is only ever set for `rearmMs` at most: a long pause is ours, and is
checked again by each run, so no key of BullMQ's holds a queue for long. Each step is one Lua script: Redis runs it whole,
so two workers never both take the probe.
*/

/** What a run may do when it starts. */
export type Admission =
	/** Nothing holds the queue: run as usual. */
	| { readonly kind: 'run' }
	/** An outage, and this run is its probe: it may send, with no retry of its own. */
	| { readonly kind: 'probe' }
	/** Paused, or an outage another run probes: send nothing; the queue stops fetching jobs for `waitMs`, then asks again. */
	| { readonly kind: 'wait'; readonly waitMs: number };

/** The probing interval: `probeMs` at first, doubled by each failed probe in a row, at most `maxProbeMs`. */
export interface ProbeSettings {
	readonly probeMs: number;
	readonly maxProbeMs: number;
}

/** The longest BullMQ's own rate-limit key is set for: a pause or an interval past it is held in ours and checked again. */
export const rearmMs = 1000;

// BullMQ's `setRateLimit(ms)` stores this value under the limiter key; its moveToActive script reads any value at least
// the worker's `limiter.max` as "rate-limited" for the key's PTTL.
const limited = String(Number.MAX_SAFE_INTEGER);

// KEYS[1]: the queue's meta hash. ARGV[1]: the queue's key prefix, ARGV[2]: a fresh epoch, used if the queue has none.
const prologue = `
local epoch = redis.call('HGET', KEYS[1], 'steadfetch:epoch')
if not epoch then
	epoch = ARGV[2]
	redis.call('HSET', KEYS[1], 'steadfetch:epoch', epoch)
end
local base = ARGV[1] .. 'steadfetch:' .. epoch .. ':'
local function stopFetching(limiter, ms)
	ms = math.max(1, math.floor(math.min(ms, tonumber(ARGV[3]))))
	if tonumber(redis.call('GET', limiter) or '0') < tonumber(ARGV[4]) or redis.call('PTTL', limiter) < ms then
		redis.call('SET', limiter, ARGV[4], 'PX', ms)
	end
	return ms
end
`;
// Every script: KEYS meta, limiter; ARGV prefix, epoch, rearmMs, limited value, then its own.

// ARGV[5]: the pause in ms. Pause the queue unless it is paused for longer already: a 429's long wait set by one worker
// must not be cut short by another worker's short pause.
const pauseScript = `${prologue}
local ms = math.max(1, math.floor(tonumber(ARGV[5])))
if redis.call('PTTL', base .. 'pause') < ms then
	redis.call('SET', base .. 'pause', '1', 'PX', ms)
end
stopFetching(KEYS[2], ms)
return ms`;

// ARGV[5]: probeMs, ARGV[6]: maxProbeMs. -1: run; 0: this run probes; more: wait that long. A run held back stops the queue
// fetching jobs until the next probe may go, but for `probeMs` at most: a worker that sleeps a pause cannot be woken, so
// once the probe finds the API back the queue resumes within `probeMs`, not at the end of a long interval.
const admitScript = `${prologue}
local paused = redis.call('PTTL', base .. 'pause')
if paused > 0 then
	return stopFetching(KEYS[2], paused)
end
local failed = redis.call('GET', base .. 'outage')
if not failed then
	return -1
end
local interval = math.floor(math.min(tonumber(ARGV[5]) * 2 ^ math.min(tonumber(failed), 30), tonumber(ARGV[6])))
if redis.call('SET', base .. 'probe', '1', 'NX', 'PX', interval) then
	return 0
end
local wait = redis.call('PTTL', base .. 'probe')
if wait <= 0 then
	wait = interval
end
return stopFetching(KEYS[2], math.min(wait, tonumber(ARGV[5])))`;

// 0 when nothing holds the queue; else how long it is held for (a pause, or an open circuit: its probing interval).
// ARGV[5]: probeMs.
const heldScript = `${prologue}
local paused = redis.call('PTTL', base .. 'pause')
if paused > 0 then
	return paused
end
if redis.call('EXISTS', base .. 'outage') == 1 then
	return tonumber(ARGV[5])
end
return 0`;

// ARGV[5]: probeMs, ARGV[6]: outage TTL. A run that saw the outage opens the circuit (unless open) and stops the queue
// fetching jobs for one probing interval.
const openScript = `${prologue}
redis.call('SET', base .. 'outage', '0', 'NX', 'PX', ARGV[6])
return stopFetching(KEYS[2], tonumber(ARGV[5]))`;

// ARGV[5]: outage TTL. A failed probe: one more in a row; the next probe may go once its interval is over.
const failScript = `${prologue}
if redis.call('EXISTS', base .. 'outage') == 1 then
	redis.call('INCR', base .. 'outage')
	redis.call('PEXPIRE', base .. 'outage', ARGV[5])
end
return 1`;

// The probe got an answer that is no outage: close the circuit.
const closeScript = `${prologue}
redis.call('DEL', base .. 'outage', base .. 'probe')
return 1`;

// The probe sent nothing, or got no answer (the run threw before its request went out): it says nothing of the API; the
// next run probes.
const releaseScript = `${prologue}
redis.call('DEL', base .. 'probe')
return 1`;

// Lift every hold: the pause, the circuit, BullMQ's rate-limit key.
const liftScript = `${prologue}
redis.call('DEL', base .. 'pause', base .. 'outage', base .. 'probe', KEYS[2])
return 1`;

const commands = {
	steadfetchPause: pauseScript,
	steadfetchAdmit: admitScript,
	steadfetchHeld: heldScript,
	steadfetchOpen: openScript,
	steadfetchProbeFailed: failScript,
	steadfetchClose: closeScript,
	steadfetchRelease: releaseScript,
	steadfetchLift: liftScript,
} as const;

// An outage that no run reports on for this long is forgotten: a queue idle for ten minutes starts afresh, with a probe.
const outageTtlMs = 10 * 60_000;

/** What a queue or worker exposes for its holds: its Redis client and its key builder. */
export interface HoldsHost {
	readonly toKey: (type: string) => string;
	getBackend(): { readonly client: Promise<RedisClient> };
}

/** The holds of one queue, shared through Redis with every worker of that queue. */
export class QueueHolds {
	readonly #host: HoldsHost;
	readonly #settings: ProbeSettings;
	#client: Promise<RedisClient> | undefined;

	constructor(host: HoldsHost, settings: ProbeSettings) {
		this.#host = host;
		this.#settings = settings;
	}

	async #run(name: keyof typeof commands, args: readonly (string | number)[] = []): Promise<number> {
		this.#client ??= this.#host
			.getBackend()
			.client.then((client) => {
				for (const [command, lua] of Object.entries(commands)) {
					client.defineCommand(command, { numberOfKeys: 2, lua });
				}
				return client;
			})
			.catch((error: unknown) => {
				this.#client = undefined;
				throw error;
			});
		const client = await this.#client;
		// A fresh candidate each time: a worker that outlives an obliterate must not bring the old epoch's keys back.
		const epoch = globalThis.crypto.randomUUID();
		const keys = [this.#host.toKey('meta'), this.#host.toKey('limiter')];
		return Number(await client.runCommand(name, [...keys, this.#host.toKey(''), epoch, rearmMs, limited, ...args].map(String)));
	}

	/** Whether a run may start now, as itself, as the outage's probe, or not at all. */
	async admit(): Promise<Admission> {
		const { probeMs, maxProbeMs } = this.#settings;
		const result = await this.#run('steadfetchAdmit', [probeMs, maxProbeMs]);
		return result < 0 ? { kind: 'run' } : result === 0 ? { kind: 'probe' } : { kind: 'wait', waitMs: result };
	}

	/** How long the queue is held now (paused, or its circuit open); 0 when it is not. */
	async heldFor(): Promise<number> {
		return await this.#run('steadfetchHeld', [this.#settings.probeMs]);
	}

	/** A run failed on an outage: open the circuit (unless open) and stop the queue fetching jobs for one probing interval. */
	async open(): Promise<void> {
		await this.#run('steadfetchOpen', [this.#settings.probeMs, outageTtlMs]);
	}

	/** The probe failed on the outage: the next waits twice as long, up to `maxProbeMs`. */
	async probeFailed(): Promise<void> {
		await this.#run('steadfetchProbeFailed', [outageTtlMs]);
	}

	/** The probe got an answer from the API that is no outage: close the circuit. */
	async close(): Promise<void> {
		await this.#run('steadfetchClose');
	}

	/** The probe sent nothing, or got no answer: the circuit stays as it is, and the next run probes. */
	async release(): Promise<void> {
		await this.#run('steadfetchRelease');
	}

	/** Pause the whole queue for `ms`, unless it is paused for longer already. */
	async pause(ms: number): Promise<void> {
		await this.#run('steadfetchPause', [Math.max(1, Math.ceil(ms))]);
	}

	/** Lift every hold: the pause, the outage circuit, and BullMQ's rate-limit key. */
	async lift(): Promise<void> {
		await this.#run('steadfetchLift');
	}
}
