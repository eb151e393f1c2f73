/**
Where the attempt engine gets the time, its randomness and its waits. The system's by default; a spec hands in its own,
so that no spec of a wait, a deadline or a breaker's open time depends on how busy the machine is.
*/
export interface Clock {
	/** Wall-clock time, epoch milliseconds: HTTP-dates in `Retry-After`, `retryAt`, the breaker's open time. */
	now(): number;
	/** Monotonic milliseconds, for durations and deadlines: a wall clock can jump. */
	monotonic(): number;
	/** A number in [0, 1), for jitter. */
	random(): number;
	/**
	Wait `ms` milliseconds; an abort of `signal` ends the wait at once with the signal's reason. With `unref`, the timer does not keep a Node process alive.
	*/
	sleep(ms: number, signal?: AbortSignal, unref?: boolean): Promise<void>;
}

/** Wait `ms` milliseconds on a real timer, abortable. */
export function sleep(ms: number, signal?: AbortSignal, unref = false): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) {
			reject(signal.reason);
			return;
		}
		const onAbort = () => {
			clearTimeout(timer);
			reject(signal?.reason);
		};
		const timer = setTimeout(() => {
			signal?.removeEventListener('abort', onAbort);
			resolve();
		}, ms);
		if (unref) {
			(timer as { unref?: () => void }).unref?.();
		}
		signal?.addEventListener('abort', onAbort, { once: true });
	});
}

/** The clock of every client, fetch and job that users create. */
export const systemClock: Clock = Object.freeze({
	now: () => Date.now(),
	monotonic: () => globalThis.performance.now(),
	random: () => Math.random(),
	sleep,
});
