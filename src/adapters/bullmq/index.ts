/**
A BullMQ worker whose jobs make their requests through steadfetch (docs/queues.md); `bullmq` is an optional peer.
@module steadfetch/bullmq
*/

export { type QueueAction, queueAction } from './action.ts';
export { createBackoffStrategy } from './backoff.ts';
export { WorkerClosingError } from './errors.ts';
export type { OutageOptions, QueueJobContext, QueueJobFunction, QueueJobOptions } from './options.ts';
export { createProcessor, type QueueProcessor } from './processor.ts';
export { jobIdempotencyKey } from './run.ts';
export { type CloseOptions, closeWorker, createWorker, liftHolds } from './worker.ts';
