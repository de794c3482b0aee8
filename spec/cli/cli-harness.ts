/**
 * Runs the real CLI (node dist/lib/cli/main.js) as a child process, and
 * builds stores for it with the engine from source. Every child is tracked
 * and killed by `killChildren()` (call it in afterEach), so a hung command
 * never outlives its spec.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CommitLog, TEST_MIN, type AppendResult, type CommitLogOpenOptions } from '../../lib/index.js';
import { REPO_ROOT } from '../helpers/ensure-dist.js';

export const CLI = join(REPO_ROOT, 'dist', 'lib', 'cli', 'main.js');
export const SEGMENT_SIZE_BYTES = TEST_MIN.mappedFileSizeCommitLog;
/** A command that takes longer than this is killed and the spec fails. */
const RUN_TIMEOUT_MS = 15_000;

const children = new Set<ChildProcessWithoutNullStreams>();

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; the caller reads its streams and ends it. */
export function startCli(args: readonly string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, stdio: 'pipe', env: { ...process.env, MAPPED_COMMITLOG_DEBUG: '' } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs the CLI to completion, feeding `input` to stdin (closed at once when absent). */
export async function runCli(args: readonly string[], input?: string | Buffer): Promise<CliResult> {
  const child = startCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => undefined); // a command that exits before reading stdin
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** SIGKILLs every CLI child still running. */
export function killChildren(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

export interface BuiltStore {
  results: AppendResult[];
  bodies: Buffer[];
  topics: string[];
}

/**
 * Appends `count` messages (bodies "message <i>" padded to vary the sizes,
 * topics alternating orders/audit, a property on every third) to a store
 * with TEST_MIN's 64 KiB segments, then closes it cleanly.
 */
export async function buildStore(directory: string, count: number, options: Partial<CommitLogOpenOptions> = {}): Promise<BuiltStore> {
  const log = await CommitLog.open({ ...TEST_MIN, ...options, storePathCommitLog: directory });
  const built: BuiltStore = { results: [], bodies: [], topics: [] };
  try {
    for (let index = 0; index < count; index += 1) {
      const body = Buffer.from(`message ${index} ${'x'.repeat((index * 397) % 3000)}`);
      const topic = index % 2 === 0 ? 'orders' : 'audit';
      built.results.push(await log.append({ topic, body, queueId: index % 3, ...(index % 3 === 0 ? { properties: { key: `k${index}` } } : {}) }));
      built.bodies.push(body);
      built.topics.push(topic);
    }
  } finally {
    await log.close();
  }
  return built;
}

/** Overwrites bytes of a file in place. */
export function overwrite(path: string, position: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, position);
  } finally {
    closeSync(fd);
  }
}

/** The segment file holding `offset`, and the offset's position in it. */
export function segmentAt(directory: string, offset: number): { path: string; position: number } {
  const start = Math.floor(offset / SEGMENT_SIZE_BYTES) * SEGMENT_SIZE_BYTES;
  return { path: join(directory, String(start).padStart(20, '0')), position: offset - start };
}

/**
 * The store's files other than those an open writer creates and removes on
 * its own (segments prepared ahead, topic-queue-table.tmp): equal before and
 * after a command means the command created or removed nothing.
 */
export function steadyFileNames(directory: string): string[] {
  return readdirSync(directory)
    .filter((name) => !/^\d{20}$/.test(name) && !name.endsWith('.tmp'))
    .sort();
}

/** Parses NDJSON output. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
