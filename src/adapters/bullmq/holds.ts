import type { RedisClient } from 'bullmq';

/*
What holds back the requests a queue's jobs make to one API (one origin), kept in Redis so that every worker of the
queue, on every machine, shares it: a pause the API asked for (a 429's or 503's wait), and the outage circuit. When a run
fails on an outage of an origin, the queue's runs stop sending to that origin, and one probe goes through per probing
interval, as one client's circuit breaker does (docs/resilience.md: one probe every `breaker.openMs`). A fleet of
workers then costs an outage what one client costs it, not that times the fleet's size; and an origin's pause or outage
holds only the runs that call that origin (issue 24's rule: a guard holds a call only on evidence about its own domain).

A run asks before its first request to an origin, and before a retry that follows a failure; a run held back sends
nothing and goes to the queue's delayed set until the hold ends (BullMQ's `moveToDelayed`, uncharged). The keys live
under an epoch kept in the queue's meta hash (`<prefix>:<queue>:steadfetch:<epoch>:o:<origin>:pause`, `:outage`, the
failed probes in a row, and `:probe`, held for one probing interval by the run that probes; `:origins`, the origins
with keys, for `lift`), so that `obliterate`, which deletes the meta hash, leaves a new queue of the same name with
nothing held. Each step is one Lua script: Redis runs it whole, so two workers never both take an origin's probe.
*/

/** What a run may do before it sends to an origin. */
export type Admission =
	/** Nothing holds the origin: send as usual. */
	| { readonly kind: 'run' }
	/** An outage of the origin, and this run is its probe: it may send, with no retry of its own. */
	| { readonly kind: 'probe' }
	/** The origin is paused, or another run probes its outage: send nothing; the job waits `waitMs`, then runs again. */
	| { readonly kind: 'wait'; readonly waitMs: number };

/** The probing interval: `probeMs` at first, doubled by each failed probe in a row, at most `maxProbeMs`. */
export interface ProbeSettings {
	readonly probeMs: number;
	readonly maxProbeMs: number;
}

// KEYS[1]: the queue's meta hash. ARGV[1]: the queue's key prefix, ARGV[2]: a fresh epoch, used if the queue has none,
// ARGV[3]: the origin, ARGV[4]: how long the origins' list is kept at least.
const prologue = `
local epoch = redis.call('HGET', KEYS[1], 'steadfetch:epoch')
if not epoch then
	epoch = ARGV[2]
	redis.call('HSET', KEYS[1], 'steadfetch:epoch', epoch)
end
local base = ARGV[1] .. 'steadfetch:' .. epoch .. ':'
local origin = base .. 'o:' .. ARGV[3] .. ':'
local function remember(ms)
	redis.call('SADD', base .. 'origins', ARGV[3])
	if redis.call('PTTL', base .. 'origins') < ms then
		redis.call('PEXPIRE', base .. 'origins', ms)
	end
end
`;

// ARGV[5]: the pause in ms. Pause the origin unless it is paused for longer already: a 429's long wait met by one worker
// must not be cut short by another worker's short pause.
const pauseScript = `${prologue}
local ms = math.max(1, math.floor(tonumber(ARGV[5])))
if redis.call('PTTL', origin .. 'pause') < ms then
	redis.call('SET', origin .. 'pause', '1', 'PX', ms)
end
remember(math.max(ms, tonumber(ARGV[4])))
return ms`;

// ARGV[5]: probeMs, ARGV[6]: maxProbeMs. -1: send; 0: this run probes; more: wait that long. A run held back by the
// circuit waits until the probe's interval is over and the probe has had `probeMs` to answer: the job comes back once,
// after the probe, rather than cycling through Redis while the interval lasts.
const admitScript = `${prologue}
local paused = redis.call('PTTL', origin .. 'pause')
if paused > 0 then
	return paused
end
local failed = redis.call('GET', origin .. 'outage')
if not failed then
	return -1
end
local interval = math.floor(math.min(tonumber(ARGV[5]) * 2 ^ math.min(tonumber(failed), 30), tonumber(ARGV[6])))
if redis.call('SET', origin .. 'probe', '1', 'NX', 'PX', interval) then
	return 0
end
local wait = redis.call('PTTL', origin .. 'probe')
if wait <= 0 then
	wait = interval
end
return wait + tonumber(ARGV[5])`;

// 0 when nothing holds the origin; else how long it is held for (a pause, or an open circuit: -1). For the specs and
// operators: runs use admit.
const heldScript = `${prologue}
local paused = redis.call('PTTL', origin .. 'pause')
if paused > 0 then
	return paused
end
if redis.call('EXISTS', origin .. 'outage') == 1 then
	return -1
end
return 0`;

// ARGV[5]: outage TTL. A run that saw the outage opens the circuit, unless it is open.
const openScript = `${prologue}
redis.call('SET', origin .. 'outage', '0', 'NX', 'PX', ARGV[5])
remember(tonumber(ARGV[5]))
return 1`;

// ARGV[5]: outage TTL. A failed probe: one more in a row; the next probe may go once its interval is over.
const failScript = `${prologue}
if redis.call('EXISTS', origin .. 'outage') == 1 then
	redis.call('INCR', origin .. 'outage')
	redis.call('PEXPIRE', origin .. 'outage', ARGV[5])
end
return 1`;

// The probe got an answer that is no outage: close the circuit.
const closeScript = `${prologue}
redis.call('DEL', origin .. 'outage', origin .. 'probe')
return 1`;

// The probe sent nothing, or got no answer (the run threw before its request went out): it says nothing of the API; the
// next run probes.
const releaseScript = `${prologue}
redis.call('DEL', origin .. 'probe')
return 1`;

// Lift every hold of every origin (the origin argument is unused).
const liftScript = `${prologue}
for _, name in ipairs(redis.call('SMEMBERS', base .. 'origins')) do
	local keys = base .. 'o:' .. name .. ':'
	redis.call('DEL', keys .. 'pause', keys .. 'outage', keys .. 'probe')
end
redis.call('DEL', base .. 'origins')
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

/** Whether `value` is a BullMQ Queue or Worker, as far as the holds need one; a TypeError naming `what` if not. */
export function checkHoldsHost(value: unknown, what: string): HoldsHost {
	const host = value as Partial<Record<'toKey' | 'getBackend', unknown>> | null;
	if (typeof host?.toKey !== 'function' || typeof host.getBackend !== 'function') {
		throw new TypeError(`Expected ${what} to be given a BullMQ Queue or Worker, got ${host === null ? 'null' : typeof host}.`);
	}
	return value as HoldsHost;
}

/** The holds of one queue's origins, shared through Redis with every worker of that queue. */
export class QueueHolds {
	readonly #host: HoldsHost;
	readonly #settings: ProbeSettings;
	#client: Promise<RedisClient> | undefined;

	constructor(host: HoldsHost, settings: ProbeSettings) {
		this.#host = host;
		this.#settings = settings;
	}

	async #run(name: keyof typeof commands, origin: string, args: readonly (string | number)[] = []): Promise<number> {
		this.#client ??= this.#host
			.getBackend()
			.client.then((client) => {
				for (const [command, lua] of Object.entries(commands)) {
					client.defineCommand(command, { numberOfKeys: 1, lua });
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
		const argv = [this.#host.toKey(''), epoch, origin, outageTtlMs, ...args];
		return Number(await client.runCommand(name, [this.#host.toKey('meta'), ...argv].map(String)));
	}

	/** Whether a run may send to `origin` now, as itself, as the outage's probe, or not at all. */
	async admit(origin: string): Promise<Admission> {
		const { probeMs, maxProbeMs } = this.#settings;
		const result = await this.#run('steadfetchAdmit', origin, [probeMs, maxProbeMs]);
		return result < 0 ? { kind: 'run' } : result === 0 ? { kind: 'probe' } : { kind: 'wait', waitMs: result };
	}

	/** How long `origin` is held now: the pause's remaining ms, -1 while its circuit is open, 0 when nothing holds it. */
	async heldFor(origin: string): Promise<number> {
		return await this.#run('steadfetchHeld', origin);
	}

	/** A run failed on an outage of `origin`: open its circuit, unless it is open. */
	async open(origin: string): Promise<void> {
		await this.#run('steadfetchOpen', origin, [outageTtlMs]);
	}

	/** The probe of `origin` failed on the outage: the next waits twice as long, up to `maxProbeMs`. */
	async probeFailed(origin: string): Promise<void> {
		await this.#run('steadfetchProbeFailed', origin, [outageTtlMs]);
	}

	/** The probe got an answer from `origin` that is no outage: close its circuit. */
	async close(origin: string): Promise<void> {
		await this.#run('steadfetchClose', origin);
	}

	/** The probe sent nothing to `origin`, or got no answer: the circuit stays as it is, and the next run probes. */
	async release(origin: string): Promise<void> {
		await this.#run('steadfetchRelease', origin);
	}

	/** Pause `origin` for `ms`, unless it is paused for longer already. */
	async pause(origin: string, ms: number): Promise<void> {
		await this.#run('steadfetchPause', origin, [Math.max(1, Math.ceil(ms))]);
	}

	/** Lift every hold of every origin: the pauses and the outage circuits. */
	async lift(): Promise<void> {
		await this.#run('steadfetchLift', '');
	}
}
