import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

// The seeded chaos run, small: every invariant of `npm run chaos` must hold, and the process must exit by itself
// (a timer or socket left open would keep it alive past the timeout).
describe('survives a seeded chaos run (client, guarded client, drop-in fetch, jobs)', function () {
	this.timeout(120_000);

	it('settles every call, bounds attempts, keeps bodies and memory, and exits by itself', async () => {
		const { stdout } = await run(process.execPath, [new URL('../scripts/chaos.ts', import.meta.url).pathname], {
			env: { ...process.env, CHAOS_CALLS: '150', CHAOS_CONCURRENCY: '16', CHAOS_QUICK: '1' },
			timeout: 100_000,
		});
		const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
		for (const [name, holds] of Object.entries(summary.invariants as Record<string, boolean>)) {
			assert.ok(holds, `invariant broken: ${name}`);
		}
		assert.ok(summary.faultsInjected > 200, `only ${summary.faultsInjected} faults injected`);
		assert.equal(summary.maxAttemptsSeen, 3);
		assert.equal(summary.outage.requestsPerCall['plain ky (limit 2)'], 3);
	});
});
