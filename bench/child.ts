// The API of a benchmark, in a child process of its own, so that its work never stalls the clients' timers: started
// here, bound to this process (it goes whenever this one goes, however it ends), with a watchdog on the whole run, and
// asked questions over IPC, each answer matched to its question by id.
import { type ChildProcess, fork } from 'node:child_process';

// Omit on each member of a union of questions, not on the union as a whole.
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface Child<Ask extends { readonly id: number }, Answer extends { readonly id: number }> {
	/** Send a question (its `id` is filled in) and wait for its answer. */
	ask(message: WithoutId<Ask>): Promise<Answer>;
	/** The run is over: let the child go. */
	finish(): void;
}

export function startChild<Ask extends { readonly id: number }, Answer extends { readonly id: number }>(
	path: string,
	name: string,
	maxSeconds: number,
	maxSecondsVariable: string,
): Child<Ask, Answer> {
	const server: ChildProcess = fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
	let finished = false;
	process.on('exit', () => server.kill());
	for (const signal of ['SIGINT', 'SIGTERM'] as const) {
		process.on(signal, () => process.exit(130));
	}
	server.on('exit', (code) => {
		if (!finished) {
			console.error(`${name}: the API's process exited (${code}) mid-run`);
			process.exit(1);
		}
	});
	const watchdog = setTimeout(() => {
		console.error(`${name}: still running after ${maxSeconds} s (${maxSecondsVariable}), stopping`);
		process.exit(1);
	}, maxSeconds * 1000);
	watchdog.unref();
	const waiting = new Map<number, (answer: Answer) => void>();
	server.on('message', (answer: Answer) => {
		waiting.get(answer.id)?.(answer);
		waiting.delete(answer.id);
	});
	let asked = 0;
	return {
		ask: (message) =>
			new Promise<Answer>((resolve) => {
				const id = ++asked;
				waiting.set(id, resolve);
				server.send({ ...message, id });
			}),
		finish: () => {
			finished = true;
			server.disconnect();
		},
	};
}
