/*
A worker process for the specs and the queue benchmark: `fork('spec/support/queue-worker.ts')` with its settings in the
QUEUE_WORKER environment variable (JSON). Each job POSTs `items/<job id>` through `createWorker`'s bound client. It tells
its parent over IPC when it is ready, when each run starts and ends, and when it has closed; SIGTERM closes it with
`closeWorker`. It exits when its parent goes away, so that no spec leaves a process behind.
*/
import { closeWorker, createWorker, type QueueJobOptions } from '../../src/adapters/bullmq/index.ts';
import { createClient } from '../../src/index.ts';

/** What the parent hands the worker. */
export interface QueueWorkerSettings {
	readonly redisPort: number;
	readonly queue: string;
	readonly apiUrl: string;
	readonly concurrency: number;
	readonly graceMs: number;
	readonly options?: QueueJobOptions;
	/** The client's own retry options (its `limit` is replaced by the run's allowance). */
	readonly clientRetry?: Record<string, number>;
	/**
	BullMQ's lock on a job in flight, in ms (30 s by default): how soon another worker may take a killed worker's job; the
	stalled-job check then runs as often (every worker takes its turn, and the check's own key keeps the last one's interval).
	*/
	readonly lockDuration?: number;
}

/** What the worker tells its parent. */
export type QueueWorkerMessage =
	| { readonly type: 'ready'; readonly pid: number }
	| { readonly type: 'start' | 'end'; readonly pid: number; readonly id: string; readonly at: number }
	| { readonly type: 'closed'; readonly pid: number };

const settings = JSON.parse(process.env.QUEUE_WORKER ?? '{}') as QueueWorkerSettings;
const tell = (message: QueueWorkerMessage): void => {
	process.send?.(message);
};

const api = createClient({ baseUrl: `${settings.apiUrl}/v1/`, retry: settings.clientRetry ?? { baseDelayMs: 1, maxDelayMs: 20 } });
const worker = createWorker(
	settings.queue,
	async ({ job, client }) => {
		const id = String(job.id);
		tell({ type: 'start', pid: process.pid, id, at: Date.now() });
		try {
			const response = await client(api).post(`items/${id}`, { json: job.data });
			return response.status;
		} finally {
			tell({ type: 'end', pid: process.pid, id, at: Date.now() });
		}
	},
	{
		connection: { host: '127.0.0.1', port: settings.redisPort, maxRetriesPerRequest: null },
		concurrency: settings.concurrency,
		...(settings.lockDuration === undefined ? {} : { lockDuration: settings.lockDuration, stalledInterval: settings.lockDuration }),
	},
	settings.options ?? {},
);
worker.on('error', () => undefined);

let closing = false;
process.once('SIGTERM', () => {
	closing = true;
	void closeWorker(worker, { graceMs: settings.graceMs }).then(() => {
		process.send?.({ type: 'closed', pid: process.pid } satisfies QueueWorkerMessage, () => process.exit(0));
	});
});
process.once('disconnect', () => {
	if (!closing) {
		void worker.close(true).finally(() => process.exit(1));
	}
});

await worker.waitUntilReady();
tell({ type: 'ready', pid: process.pid });
