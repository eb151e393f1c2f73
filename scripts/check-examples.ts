// `npm run check:examples`: every ```ts block of README.md and docs/*.md (docs/api/ is generated) is type-checked as its
// own module, under a user's strict tsconfig, against the built package (`npm run build` first). A block that is
// deliberately not valid on its own is skipped only when `<!-- example: fragment -->` (optionally `<!-- example:
// fragment: why -->`) stands right before its fence.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

interface Block {
	/** Where the code starts: `docs/jobs.md:6` is the line after the fence. */
	readonly file: string;
	readonly line: number;
	/** The fence's indentation (in a list), taken off every line of the code. */
	readonly indent: number;
	readonly code: string;
	readonly module: string;
}

interface Fragment {
	readonly file: string;
	readonly line: number;
	readonly reason: string;
}

const fence = /^(\s*)(`{3,}|~{3,})\s*(\S*)/;
const marker = /^\s*<!--\s*example:\s*fragment\s*(?::\s*(.*?))?\s*-->\s*$/;

function extract(file: string, blocks: Block[], fragments: Fragment[]): void {
	const lines = readFileSync(join(root, file), 'utf8').split('\n');
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
		if (language === 'ts' || language === 'typescript') {
			let before = index - 1;
			while (before >= 0 && lines[before]?.trim() === '') {
				before--;
			}
			const skip = marker.exec(lines[before] ?? '');
			if (skip) {
				fragments.push({ file, line: index + 2, reason: skip[1] ?? '' });
			} else {
				const code = lines
					.slice(index + 1, end)
					.map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
					.join('\n');
				blocks.push({ file, line: index + 2, indent: indent.length, code, module: `${file.replaceAll(/\W/g, '_')}_${index + 2}.ts` });
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
const blocks: Block[] = [];
const fragments: Fragment[] = [];
for (const file of docs) {
	extract(file, blocks, fragments);
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
	writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }, null, '\t'));
	writeFileSync(join(work, 'prelude.d.ts'), prelude);
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

	for (const block of blocks) {
		const found = errors.get(block.module);
		console.log(`${found ? 'FAIL' : 'ok  '} ${block.file}:${block.line}`);
		for (const error of found ?? []) {
			console.log(error);
		}
	}
	for (const fragment of fragments) {
		console.log(`skip ${fragment.file}:${fragment.line} (fragment${fragment.reason ? `: ${fragment.reason}` : ''})`);
	}
	if (unplaced.length > 0) {
		console.log(`errors outside the examples (the prelude or the setup of this script):\n${unplaced.join('\n')}`);
	}
	console.log(
		`${blocks.length} examples type-checked in ${docs.length} files, ${errors.size} failing; ${fragments.length} fragment(s) skipped.`,
	);
	if (errors.size > 0 || unplaced.length > 0) {
		process.exitCode = 1;
	}
} finally {
	rmSync(work, { recursive: true, force: true });
}
