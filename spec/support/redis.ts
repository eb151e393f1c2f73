import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A throwaway Redis: its own port on 127.0.0.1, its own directory, no persistence. */
export interface ThrowawayRedis {
	readonly host: '127.0.0.1';
	readonly port: number;
	/** Stop the server (by its pid) and remove its directory. */
	stop(): Promise<void>;
}

/** Where `redis-server` is, or undefined when it is not installed. */
export function findRedisServer(): string | undefined {
	const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
	return dirs.map((dir) => join(dir, 'redis-server')).find((path) => existsSync(path));
}

const freePort = (): Promise<number> =>
	new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
		});
	});

const exited = (child: ChildProcess): Promise<void> =>
	child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

/**
Start `redis-server` on a free port of 127.0.0.1 with a temporary directory and no persistence, and resolve once it
accepts connections (within `readyMs`).
*/
export async function startRedis(binary: string, readyMs = 5000): Promise<ThrowawayRedis> {
	const dir = mkdtempSync(join(tmpdir(), 'steadfetch-redis-'));
	const port = await freePort();
	const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const stop = async (): Promise<void> => {
		if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
			process.kill(child.pid, 'SIGTERM');
			const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 2000);
			await exited(child);
			clearTimeout(timer);
		}
		rmSync(dir, { recursive: true, force: true });
	};
	try {
		await new Promise<void>((resolve, reject) => {
			let output = '';
			const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${readyMs} ms:\n${output}`)), readyMs);
			child.stdout?.on('data', (chunk: Buffer) => {
				output += chunk.toString('utf8');
				if (output.includes('Ready to accept connections')) {
					clearTimeout(timer);
					resolve();
				}
			});
			child.once('exit', (code) => {
				clearTimeout(timer);
				reject(new Error(`redis-server exited with ${code}:\n${output}`));
			});
			child.once('error', (error) => {
				clearTimeout(timer);
				reject(error);
			});
		});
	} catch (error) {
		await stop();
		throw error;
	}
	// Its output is no longer read: let it drain so a chatty server never blocks on a full pipe.
	child.stdout?.resume();
	child.stderr?.resume();
	return { host: '127.0.0.1', port, stop };
}

/**
A Redis for one `describe`: started before its specs and stopped after. Without `redis-server` the specs are skipped with
a note, unless `CI` is set: CI installs it (.ci/run), so there its absence is a failure.
*/
export function useRedis(context: Mocha.Suite): { readonly current: ThrowawayRedis } {
	const holder: { current?: ThrowawayRedis } = {};
	context.beforeAll(async function () {
		this.timeout(10_000);
		const binary = findRedisServer();
		if (!binary) {
			if (process.env.CI) {
				throw new Error('redis-server is not installed, and CI is set: .ci/run installs Debian’s redis-server.');
			}
			console.warn('    (skipped: redis-server is not installed; `apt-get install redis-server` runs these specs)');
			this.skip();
		}
		holder.current = await startRedis(binary);
	});
	context.afterAll(async () => {
		await holder.current?.stop();
	});
	return holder as { readonly current: ThrowawayRedis };
}
