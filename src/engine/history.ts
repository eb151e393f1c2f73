import type { Tally } from '../types.ts';

// How much of a long history is kept: the first attempts (how it began) and the last (how it ended).
const historyHead = 10;
const historyTail = 40;

/** An empty tally, for a call or a job. */
export const newTally = (): Tally => ({ attempts: 0, history: [], omitted: 0 });

// Keep the record, leaving out the oldest of the tail once the history is full: bounded, whatever a job makes.
export const keepRecord = (tally: Tally, record: Tally['history'][number]): void => {
	if (tally.history.length >= historyHead + historyTail) {
		tally.history.splice(historyHead, 1);
		tally.omitted++;
	}
	tally.history.push(record);
};
