/**
The reason a run's `signal` is aborted with when `closeWorker` runs out of patience: the worker is shutting down, and the
job goes back to waiting, uncharged, for another worker. A job can test it (`error instanceof WorkerClosingError`, or its
`name`) to stop cleanly rather than report a failure.
*/
export class WorkerClosingError extends Error {
	/** @internal */
	constructor() {
		super('steadfetch: the worker is shutting down; the job goes back to waiting for another worker.');
		this.name = 'WorkerClosingError';
	}
}
