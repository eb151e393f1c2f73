// `npm run check:examples`: every ```ts block of README.md and docs/*.md, and every `@example` of the TSDoc in src/ (the
// source of docs/api/, which is generated), is type-checked as its own module, under a user's strict tsconfig, against
// the built package (`npm run build` first); then each is RUN, in a Node process of its own, against a loopback API
// that this script starts (scripts/examples-api.ts): the examples' hosts (api.example.com, api.openai.com,
// api.github.com) are sent there, and the prelude's `baseUrl` and `api` point at it. An example passes when it exits 0
// within its time bound, meets no 401 or 404 (a wrong key, a path the API does not serve: an example may catch and
// print its failure), and prints what a `<!-- example: prints: TEXT -->` line right before its fence says it prints.
//
// An example that cannot run on its own says so, visibly, in its first line, and the report gives the reason:
//   // Type-checked, not run: needs Redis.          type-checked only
//   // Fragment, not checked: a part of the above.  neither (it is not valid on its own); keep these rare
import { spawn, spawnSync } from 'node:child_process';
import {
	copyFileSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	statSync,
	symlinkSync,
	writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExampleRequest, exampleKey, startExamplesApi } from './examples-api.ts';

const root = new URL('../', import.meta.url).pathname;

/*
What the examples use without declaring it: the reader's own values and functions, which every example would
otherwise open with. One global script, so that a block that declares a name of its own shadows it. Keep it small,
and typed as a user's code would be: no `any`.
*/
const prelude = `
declare const baseUrl: string; // the API's base URL
declare const api: ReturnType<typeof import('steadfetch').createClient>; // a client from createClient
declare const key: string; // an API key
declare const batch: unknown[]; // the body of a request
declare const order: { readonly id: string; readonly items: readonly unknown[] }; // a request body with an ID of its own
declare const shutdown: AbortController; // aborted when the process is asked to stop
declare const log: { warn(message: string, ...details: unknown[]): void; error(message: string, ...details: unknown[]): void }; // a logger
declare function saveAll(items: unknown[]): Promise<number>; // the reader's own persistence
// A job queue's task, as most queues hand them out.
interface Task {
	ack(): Promise<void>;
	release(): Promise<void>;
	deadLetter(error: unknown): Promise<void>;
	retryAt(date: Date): Promise<void>;
}
declare const queue: AsyncIterable<Task>;
declare function deliver(job: import('steadfetch').JobContext, task: Task): Promise<void>; // the work of one task
declare function handleFailure(task: Task, error: unknown): Promise<void>; // docs/jobs.md defines it in its own block
`;

/*
The same names, made real for the runs (loaded with \`--import\` before each example), and the examples' hosts sent to
the loopback API. Node's fetch sends every request through undici's global dispatcher: the first request (to the
loopback itself) makes it, and a wrapper sends the examples' hosts to the loopback; the URL the code sees, in a
Response or an error, stays the one it asked for.
*/
const runtime = `
import { createClient } from 'steadfetch';

const loopback = \`http://127.0.0.1:\${process.env.EXAMPLES_API_PORT}\`;
const hosts = new Set(['api.example.com', 'api.openai.com', 'api.github.com']);
await fetch(\`\${loopback}/__ready\`).then((response) => response.arrayBuffer());
const slot = Symbol.for('undici.globalDispatcher.1');
const dispatcher = globalThis[slot];
globalThis[slot] = new Proxy(dispatcher, {
	get(target, name) {
		if (name === 'dispatch') {
			return (options, handler) =>
				target.dispatch(hosts.has(new URL(String(options.origin)).hostname) ? { ...options, origin: loopback } : options, handler);
		}
		const value = Reflect.get(target, name);
		return typeof value === 'function' ? value.bind(target) : value;
	},
});

const baseUrl = \`\${loopback}/v1/\`;
const api = createClient({ baseUrl, apiKey: process.env.API_KEY });
const log = { warn: (...line) => console.warn(...line), error: (...line) => console.error(...line) };
const task = (id) => ({
	id,
	ack: async () => console.log(\`task \${id}: done\`),
	release: async () => console.log(\`task \${id}: released\`),
	deadLetter: async (error) => console.log(\`task \${id}: dead-lettered: \${error}\`),
	retryAt: async (date) => console.log(\`task \${id}: again at \${date.toISOString()}\`),
});
Object.assign(globalThis, {
	baseUrl,
	api,
	key: process.env.API_KEY,
	batch: [{ id: 1 }, { id: 2 }],
	order: { id: 'order-7', items: [{ sku: 'A1' }] },
	shutdown: new AbortController(),
	log,
	saveAll: async (items) => items.length,
	queue: [task(1), task(2)],
	deliver: async (job, { id }) => job.client(api).post('deliveries', { json: { task: id } }).json(),
	handleFailure: async (task, error) => task.deadLetter(error),
});
`;

// What a user's strict project sets (the project's own tsconfig.json, less what only a library needs).
const compilerOptions = {
	target: 'es2023',
	lib: ['es2023', 'dom', 'dom.iterable'],
	module: 'nodenext',
	moduleResolution: 'nodenext',
	strict: true,
	exactOptionalPropertyTypes: true,
	noUncheckedIndexedAccess: true,
	noImplicitOverride: true,
	skipLibCheck: true,
	noEmit: true,
	types: ['node'],
};

// How long one example may run: a call that retries waits a few hundred milliseconds; one that hangs fails.
const runTimeoutMs = 15_000;
// Examples run side by side, each with its own API; more would only fight over the machine's cores.
const parallel = 3;

interface Block {
	/** Where the code starts: `docs/jobs.md:6` is the line after the fence. */
	readonly file: string;
	readonly line: number;
	/** The fence's indentation (in a list), taken off every line of the code. */
	readonly indent: number;
	readonly code: string;
	readonly module: string;
	/** Why it is not run (type-checked only), from its first line; undefined: it runs. */
	readonly notRun: string | undefined;
	/** What its output must hold, from `<!-- example: prints: TEXT -->` lines before the fence. */
	readonly prints: readonly string[];
}

interface Fragment {
	readonly file: string;
	readonly line: number;
	readonly reason: string;
}

const fence = /^(\s*)(`{3,}|~{3,})\s*(\S*)/;
const notRunMarker = /^\s*\/\/\s*Type-checked, not run:\s*(.+?)\s*$/;
const fragmentMarker = /^\s*\/\/\s*Fragment, not checked:\s*(.+?)\s*$/;
const printsMarker = /^\s*<!--\s*example:\s*prints:\s*(.+?)\s*-->\s*$/;

// The ```ts blocks of a page; in a TSDoc comment of src/, the fence right after `@example` (bare or `ts`).
function extract(file: string, blocks: Block[], fragments: Fragment[]): void {
	const lines = readFileSync(join(root, file), 'utf8').split('\n');
	const tsdoc = file.endsWith('.ts');
	for (let index = 0; index < lines.length; index++) {
		const open = fence.exec(lines[index] ?? '');
		if (!open) {
			continue;
		}
		const [, indent = '', ticks = '', language = ''] = open;
		const close = new RegExp(`^\\s*${ticks[0]}{${ticks.length},}\\s*$`);
		let end = index + 1;
		while (end < lines.length && !close.test(lines[end] ?? '')) {
			end++;
		}
		const example = tsdoc
			? lines[index - 1]?.trim() === '@example' && (language === '' || language === 'ts')
			: language === 'ts' || language === 'typescript';
		if (example) {
			const code = lines
				.slice(index + 1, end)
				.map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
				.join('\n');
			const first = code.split('\n')[0] ?? '';
			const fragment = fragmentMarker.exec(first);
			const prints: string[] = [];
			for (let before = index - 1; before >= 0 && (lines[before]?.trim() === '' || printsMarker.test(lines[before] ?? '')); before--) {
				const wanted = printsMarker.exec(lines[before] ?? '');
				if (wanted?.[1]) {
					prints.push(wanted[1]);
				}
			}
			if (fragment) {
				fragments.push({ file, line: index + 2, reason: fragment[1] ?? '' });
			} else {
				const module = `${file.replaceAll(/\W/g, '_')}_${index + 2}.ts`;
				blocks.push({ file, line: index + 2, indent: indent.length, code, module, notRun: notRunMarker.exec(first)?.[1], prints });
			}
		}
		index = end;
	}
}

const dist = join(root, 'dist/index.d.ts');
if (!existsSync(dist)) {
	console.error('dist/ is missing: run `npm run build` first (the examples are checked against the built package).');
	process.exit(1);
}
const built = statSync(dist).mtimeMs;
const stale = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter(
	(path) => path.endsWith('.ts') && statSync(join(root, 'src', path)).mtimeMs > built,
);
if (stale.length > 0) {
	console.warn(`warning: src/ changed since the build (${stale.slice(0, 3).join(', ')}): run \`npm run build\` for current types.`);
}

const docs = [
	'README.md',
	...readdirSync(join(root, 'docs'))
		.filter((name) => name.endsWith('.md'))
		.sort()
		.map((name) => `docs/${name}`),
];
const sources = readdirSync(join(root, 'src'))
	.filter((name) => name.endsWith('.ts'))
	.sort()
	.map((name) => `src/${name}`);
const blocks: Block[] = [];
const fragments: Fragment[] = [];
for (const file of [...docs, ...sources]) {
	extract(file, blocks, fragments);
}

interface Run {
	readonly ok: boolean;
	readonly summary: string;
	readonly details: readonly string[];
}

// One example in a Node process of its own, against an API of its own; stripped of its types by Node.
async function run(block: Block, work: string): Promise<Run> {
	const server = await startExamplesApi();
	const started = performance.now();
	try {
		const env: NodeJS.ProcessEnv = {
			...process.env,
			API_KEY: exampleKey,
			OPENAI_API_KEY: exampleKey,
			EXAMPLES_API_PORT: String(server.port),
			NODE_NO_WARNINGS: '1',
		};
		// The reader's own token would reach the loopback as a wrong key.
		delete env.GITHUB_TOKEN;
		const child = spawn(process.execPath, ['--import', './runtime.ts', `./${block.module}`], {
			cwd: work,
			env,
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let output = '';
		child.stdout.on('data', (chunk: Buffer) => {
			output += chunk.toString();
		});
		child.stderr.on('data', (chunk: Buffer) => {
			output += chunk.toString();
		});
		let timedOut = false;
		const timer = setTimeout(() => {
			timedOut = true;
			child.kill('SIGKILL');
		}, runTimeoutMs);
		const [code, signal] = (await new Promise((resolve) => child.on('close', (...result) => resolve(result)))) as [
			number | null,
			string | null,
		];
		clearTimeout(timer);
		const ms = Math.round(performance.now() - started);
		const requests = describeRequests(server.requests);
		const missing = block.prints.filter((text) => !output.includes(text));
		const tail = output.trimEnd().split('\n').slice(-15);
		if (timedOut) {
			return { ok: false, summary: `ran: still running after ${runTimeoutMs} ms, killed; ${requests}`, details: tail };
		}
		if (code !== 0) {
			return { ok: false, summary: `ran: exited ${code ?? signal} after ${ms} ms; ${requests}`, details: tail };
		}
		// An example may catch and print a failure: a wrong key or a path the API does not serve fails it all the same.
		const refused = server.requests.filter(({ status }) => status === 401 || status === 404);
		if (refused.length > 0) {
			const what = refused.map(({ method, path, status }) => `${status} to ${method} ${path}`).join(', ');
			return { ok: false, summary: `ran: the API answered ${what} (a wrong key, or a path it does not serve); ${requests}`, details: tail };
		}
		if (missing.length > 0) {
			return { ok: false, summary: `ran: printed no ${missing.map((text) => `"${text}"`).join(', ')}; ${requests}`, details: tail };
		}
		const printed = block.prints.length > 0 ? `, printed ${block.prints.map((text) => `"${text}"`).join(', ')}` : '';
		return { ok: true, summary: `ran in ${ms} ms${printed}; ${requests}`, details: [] };
	} finally {
		await server.close();
	}
}

// `GET /v1/users/42 500 200`: each path with the statuses it answered, in order.
function describeRequests(requests: readonly ExampleRequest[]): string {
	if (requests.length === 0) {
		return 'no request';
	}
	const byPath = new Map<string, number[]>();
	for (const { method, path, status } of requests) {
		byPath.set(`${method} ${path}`, [...(byPath.get(`${method} ${path}`) ?? []), status]);
	}
	return [...byPath].map(([request, statuses]) => `${request} ${statuses.join(' ')}`).join(', ');
}

const work = mkdtempSync(join(tmpdir(), 'steadfetch-examples-'));
try {
	// The repo's packages, and steadfetch itself as a user installs it: its package.json, its `exports`, its dist/.
	mkdirSync(join(work, 'node_modules'));
	for (const name of readdirSync(join(root, 'node_modules'))) {
		if (!name.startsWith('.')) {
			symlinkSync(join(root, 'node_modules', name), join(work, 'node_modules', name));
		}
	}
	symlinkSync(root, join(work, 'node_modules/steadfetch'));
	writeFileSync(join(work, 'package.json'), JSON.stringify({ type: 'module', private: true }));
	writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'], exclude: ['runtime.ts'] }, null, '\t'));
	writeFileSync(join(work, 'prelude.d.ts'), prelude);
	writeFileSync(join(work, 'runtime.ts'), runtime);
	// docs/catalogs.md reads "your API's error page" from docs/our-api-errors.md: the shipped one stands in.
	mkdirSync(join(work, 'docs'));
	copyFileSync(join(root, 'docs/error-codes.md'), join(work, 'docs/our-api-errors.md'));
	for (const block of blocks) {
		writeFileSync(join(work, block.module), block.code);
	}

	const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', work, '--pretty', 'false'], {
		cwd: work,
		encoding: 'utf8',
	});

	// tsc prints `file(line,col): error TSnnnn: message`, and indents the lines that continue a message.
	const errors = new Map<string, string[]>();
	const unplaced: string[] = [];
	let last: string[] = unplaced;
	for (const line of `${tsc.stdout}\n${tsc.stderr}`.split('\n')) {
		const found = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line);
		const block = found && blocks.find((candidate) => candidate.module === found[1]);
		if (found && block) {
			last = errors.get(block.module) ?? [];
			errors.set(block.module, last);
			last.push(`    ${block.file}:${block.line + Number(found[2]) - 1}:${block.indent + Number(found[3])} ${found[4]}: ${found[5]}`);
		} else if (found) {
			last = unplaced;
			last.push(line);
		} else if (line.trim() !== '') {
			last.push(`      ${line.trim()}`);
		}
	}
	if (tsc.status !== 0 && errors.size === 0 && unplaced.length === 0) {
		unplaced.push(`tsc exited with ${tsc.status ?? tsc.signal}${tsc.error ? `: ${tsc.error.message}` : ''}`);
	}

	// Every example that type-checks and may run, a few at a time; reported in the order of the pages.
	const runs = new Map<Block, Run>();
	const pending = blocks.filter((block) => block.notRun === undefined && !errors.has(block.module));
	await Promise.all(
		Array.from({ length: parallel }, async () => {
			for (let block = pending.shift(); block; block = pending.shift()) {
				runs.set(block, await run(block, work));
			}
		}),
	);

	let failing = 0;
	for (const block of blocks) {
		const typeErrors = errors.get(block.module);
		const ran = runs.get(block);
		const ok = !typeErrors && (ran?.ok ?? true);
		failing += ok ? 0 : 1;
		const what = typeErrors
			? 'type errors'
			: block.notRun !== undefined
				? `type-checked only: ${block.notRun}`
				: `type-checked, ${ran?.summary ?? 'not run'}`;
		console.log(`${ok ? 'ok  ' : 'FAIL'} ${block.file}:${block.line} ${what}`);
		for (const line of [...(typeErrors ?? []), ...(ran?.details ?? []).map((detail) => `      | ${detail}`)]) {
			console.log(line);
		}
	}
	for (const fragment of fragments) {
		console.log(`skip ${fragment.file}:${fragment.line} fragment, not checked: ${fragment.reason}`);
	}
	if (unplaced.length > 0) {
		console.log(`errors outside the examples (the prelude or the setup of this script):\n${unplaced.join('\n')}`);
	}
	const typeCheckedOnly = blocks.filter((block) => block.notRun !== undefined).length;
	console.log(
		`${blocks.length} examples in ${docs.length} pages and the TSDoc of src/: ${runs.size} ran, ${typeCheckedOnly} type-checked only, ${fragments.length} fragment(s) skipped; ${failing} failing.`,
	);
	if (failing > 0 || unplaced.length > 0) {
		process.exitCode = 1;
	}
} finally {
	rmSync(work, { recursive: true, force: true });
}
