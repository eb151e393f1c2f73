// A benchmark's APIs, in a child process of their own, so that their work never stalls the clients' timers. The driver
// asks the child for a fresh API on a free loopback port (`open`) and for what it counted when done (`close`); each
// answer is matched to its question by id. The child goes whenever the driver goes, however it ends, and a watchdog
// bounds the whole run.
import { type ChildProcess, fork } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type Ask<Open> =
	| { readonly type: 'open'; readonly id: number; readonly open: Open }
	| { readonly type: 'close'; readonly id: number; readonly port: number };
type Answer<Result> =
	| { readonly type: 'opened'; readonly id: number; readonly port: number }
	| { readonly type: 'closed'; readonly id: number; readonly result: Result | undefined };

/** The driver's side. */
export interface Apis<Open, Result> {
	/** A fresh API, built from `open`: its port. */
	open(open: Open): Promise<number>;
	/** Close the API on `port`: what it counted. */
	close(port: number): Promise<Result>;
	/** The run is over: let the child go. */
	finish(): void;
}

/** Start the child at `path` (which calls `serveApis`); `empty` stands for the result of a port it does not know. */
export function startApis<Open, Result>(
	path: string,
	name: string,
	maxSeconds: number,
	maxSecondsVariable: string,
	empty: Result,
): Apis<Open, Result> {
	const child: ChildProcess = fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
	let finished = false;
	process.on('exit', () => child.kill());
	for (const signal of ['SIGINT', 'SIGTERM'] as const) {
		process.on(signal, () => process.exit(130));
	}
	child.on('exit', (code) => {
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
	const waiting = new Map<number, (answer: Answer<Result>) => void>();
	child.on('message', (answer: Answer<Result>) => {
		waiting.get(answer.id)?.(answer);
		waiting.delete(answer.id);
	});
	let asked = 0;
	const ask = (message: Ask<Open>) =>
		new Promise<Answer<Result>>((resolve) => {
			waiting.set(message.id, resolve);
			child.send(message);
		});
	return {
		open: async (open) => {
			const answer = await ask({ type: 'open', id: ++asked, open });
			return answer.type === 'opened' ? answer.port : Number.NaN;
		},
		close: async (port) => {
			const answer = await ask({ type: 'close', id: ++asked, port });
			return (answer.type === 'closed' && answer.result) || empty;
		},
		finish: () => {
			finished = true;
			child.disconnect();
		},
	};
}

/** What `start` builds for one port: the server (not yet listening), and what it counted, asked when the port closes. */
export interface Api<Result> {
	readonly server: Server;
	finish(): Result;
}

/** The child's side: each `open` gets a server from `start` on a free port of 127.0.0.1; `close` stops it. */
export function serveApis<Open, Result>(start: (open: Open) => Api<Result>): void {
	const apis = new Map<number, Api<Result>>();
	process.on('message', async (ask: Ask<Open>) => {
		if (ask.type === 'open') {
			const api = start(ask.open);
			api.server.keepAliveTimeout = 30_000;
			await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
			const { port } = api.server.address() as AddressInfo;
			apis.set(port, api);
			process.send?.({ type: 'opened', id: ask.id, port } satisfies Answer<Result>);
		} else {
			const api = apis.get(ask.port);
			apis.delete(ask.port);
			// What it counted first: finish() may end responses still pending (a hang), before the connections close.
			const result = api?.finish();
			api?.server.closeAllConnections();
			api?.server.close();
			process.send?.({ type: 'closed', id: ask.id, result } satisfies Answer<Result>);
		}
	});
	// The driver's exit (or its disconnect) ends this process too, hung sockets and all: nothing is left running.
	process.on('disconnect', () => process.exit(0));
}
