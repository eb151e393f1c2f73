import assert from 'node:assert/strict';
import { type FleetPlan, type FleetResult, runFleet } from './support/queue-fleet.ts';
import { useRedis } from './support/redis.ts';

/*
Three worker processes on one queue, a real Redis, a loopback API that misbehaves by plan (support/queue-fleet.ts).
CI runs them at a fifth of the size, with the outage scaled alike (2 s for 200 jobs, as 10 s for 1,000);
QUEUE_FULL=1 runs the full size and prints the figures docs/queues.md quotes.
*/
const full = process.env.QUEUE_FULL === '1';
const scale = full ? 1 : 0.2;
const jobs = Math.round(1000 * scale);
const workers = 3;
const concurrency = 2;
const slots = workers * concurrency;
// The rate-limited run takes 1 s per 50 jobs: CI runs 150.
const limitedJobs = full ? jobs : 150;
const base = { jobs, workers, concurrency, seed: 11, withinMs: full ? 240_000 : 40_000 } as const;

// What a failing assertion prints: the run's figures, so that a failure in CI explains itself.
const about = (result: FleetResult): string => {
	const { plan, byFault, statuses, failedWithoutAdvice, overlapping, ...figures } = result;
	const some = { failedWithoutAdvice: failedWithoutAdvice.slice(0, 3), overlapping: overlapping.slice(0, 10) };
	return JSON.stringify({ scenario: plan.scenario, ...figures, ...some, statuses, byFault });
};

const report = (result: FleetResult): void => {
	if (full) {
		const { plan, ...figures } = result;
		console.log(JSON.stringify({ scenario: plan.scenario, outage: plan.outage, ...figures, perJob: result.requests / plan.jobs }));
	}
};

describe('steadfetch/bullmq: three worker processes, a real Redis, an API that misbehaves', function () {
	this.timeout(full ? 300_000 : 45_000);
	this.slow(full ? 60_000 : 15_000);
	const redis = useRedis(this);

	it('ends every job: completed, or failed at once with the advice for a 404; SIGTERM to one worker mid-run loses none', async () => {
		const plan: FleetPlan = {
			...base,
			scenario: 'faults',
			// 1% 429s: each pauses the whole queue for its Retry-After, 1 s.
			faults: { notFound: 0.03, serverError: 0.05, rateLimited: 0.01, reset: 0.03 },
			sigtermAfter: Math.round(jobs / 2),
		};
		const result = await runFleet(plan, redis.current.port);
		report(result);
		const { byFault } = result;
		assert.equal(result.unfinished, 0, about(result));
		assert.equal(result.completed, jobs - byFault['not-found'].jobs, about(result));
		assert.equal(result.failed, byFault['not-found'].jobs, about(result));
		assert.ok(byFault['not-found'].jobs > 0 && byFault['server-error'].jobs > 0 && byFault.reset.jobs > 0, about(result));
		assert.deepEqual(result.failedWithoutAdvice, [], about(result));
		// A permanent status is attempted once; a transient fault on the first request costs exactly one more request
		// (the in-run retry, or for a 429 the run after the queue's pause); the rest send one.
		assert.equal(byFault['not-found'].requests, byFault['not-found'].jobs, about(result));
		assert.equal(byFault.none.requests, byFault.none.jobs, about(result));
		for (const fault of ['server-error', 'rate-limited', 'reset'] as const) {
			assert.equal(byFault[fault].requests, 2 * byFault[fault].jobs, `${fault}: ${about(result)}`);
		}
		assert.deepEqual(result.overlapping, [], about(result));
		assert.deepEqual(result.workerExitCodes, [0, 0, 0], about(result));
		// The pause is in Redis before the job sees the 429, and every run asks before its first request: what still
		// arrives during the wait are the requests the other slots had in flight or had just been let through, about one
		// per other slot (docs/queues.md: 0-5 per 429, 15 once on a loaded machine whose worker was slow to write the pause).
		const slipped = result.afterEach429.reduce((sum, after) => sum + after, 0);
		assert.ok(
			slipped <= (slots - 1) * result.afterEach429.length,
			`after each 429: ${result.afterEach429.join(', ')} (last ${result.lastAfter429Ms.join(', ')} ms); ${about(result)}`,
		);
	});

	it('holds an outage (500 for 2 s per 200 jobs) to at most 1.1 requests per job, and completes every job after it', async () => {
		const result = await runFleet({ ...base, scenario: 'outage', outageMs: 10_000 * scale }, redis.current.port);
		report(result);
		assert.equal(result.completed, jobs, about(result));
		assert.ok(result.outageRequests > 0, `the outage happened mid-run: ${about(result)}`);
		assert.ok(result.requests <= 1.1 * jobs, `${result.requests} requests for ${jobs} jobs: ${about(result)}`);
		assert.deepEqual(result.overlapping, [], about(result));
	});

	if (full) {
		it('reports the outage run with a steady probe every 100 ms, and with the circuit off (figures only)', async () => {
			for (const outage of [{ probeMs: 100, maxProbeMs: 100 }, false] as const) {
				const result = await runFleet({ ...base, scenario: 'outage', outageMs: 10_000, outage }, redis.current.port);
				report(result);
				assert.equal(result.completed + result.failed, jobs, about(result));
			}
		});
	}

	it(`meets a rate limit of 50 requests a second with at most ${slots} 429s per window (the fleet's concurrency), and no job failed`, async () => {
		const result = await runFleet({ ...base, jobs: limitedJobs, scenario: 'ratelimit', ratePerSecond: 50 }, redis.current.port);
		report(result);
		assert.equal(result.completed, limitedJobs, about(result));
		assert.equal(result.failed, 0, about(result));
		assert.ok(result.max429PerWindow <= slots, `${result.max429PerWindow} 429s in one window: ${about(result)}`);
		assert.deepEqual(result.overlapping, [], about(result));
	});
});
