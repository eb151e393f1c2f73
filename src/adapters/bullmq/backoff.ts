import type { BackoffStrategy } from 'bullmq';
import { backoffDelay } from '../../engine/policy.ts';
import { errorKind } from '../../errors/base.ts';
import type { RetryOptions } from '../../options/options.ts';
import type { SteadfetchError } from '../../types.ts';
import { policyOf } from './options.ts';

/**
A BullMQ backoff strategy (`settings.backoffStrategy`, for jobs added with `backoff: {type: 'custom'}`) with steadfetch's
backoff: the client's exponential delay with full jitter for the queue's retry `attemptsMade`, and never sooner than the
error's `retryAt` (the server's `Retry-After`, a circuit's reopening). `createWorker` sets it unless the worker has one.

@example
```ts
// Type-checked, not run: needs a Redis server.
import { Queue, Worker } from 'bullmq';
import { createBackoffStrategy } from 'steadfetch/bullmq';

const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const worker = new Worker('sync', async () => 'done', {
	connection,
	settings: { backoffStrategy: createBackoffStrategy({ baseDelayMs: 1000 }) },
});
await new Queue('sync', { connection }).add('sync', { id: '42' }, { attempts: 5, backoff: { type: 'custom' } });
```
*/
export function createBackoffStrategy(retry?: RetryOptions | number): BackoffStrategy {
	const policy = policyOf(retry);
	return (attemptsMade, _type, error) => {
		const backoff = backoffDelay(policy, Math.max(1, attemptsMade));
		const retryAt = errorKind(error) ? (error as SteadfetchError).retryAt : undefined;
		return Math.max(backoff, retryAt ? Math.ceil(retryAt.getTime() - Date.now()) : 0);
	};
}
