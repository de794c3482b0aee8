/**
 * The read-only claim: the CLI reads a store this process has open for
 * writing. tail follows the appends live (across segment rolls, in each
 * write mode); info, verify and dump work beside the writer and leave no
 * trace; the writer goes on and closes cleanly.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitLog, TEST_MIN, type AppendResult, type FlushDiskType, type WriteMode } from '../../lib/index.js';
import { ensureDist } from '../helpers/ensure-dist.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { jsonLines, killChildren, runCli, SEGMENT_SIZE_BYTES, startCli, steadyFileNames } from './cli-harness.js';

const tmp = makeTmpDir('mc-cli-live-');
/** How long a tail may take to print what was appended. */
const FOLLOW_WAIT_MAX_MS = 10_000;

beforeAll(() => {
  ensureDist();
});
afterEach(() => killChildren());
afterAll(() => tmp.cleanup());

/** Collects a child's output and resolves once a predicate holds (or rejects after a deadline). */
function watch(child: ChildProcessWithoutNullStreams) {
  const state = { stdout: '', stderr: '' };
  const waiters: Array<() => void> = [];
  const poke = () => waiters.splice(0).forEach((wake) => wake());
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => ((state.stdout += chunk), poke()));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => ((state.stderr += chunk), poke()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => (poke(), resolve(code))));
  async function until(what: string, holds: () => boolean): Promise<void> {
    const deadline = Date.now() + FOLLOW_WAIT_MAX_MS;
    while (!holds()) {
      if (child.exitCode !== null) throw new Error(`tail exited (${child.exitCode}) before ${what}; stderr: ${state.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stdout so far: ${state.stdout.slice(-500)} stderr: ${state.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }
  return { state, until, exited };
}

/** Lines ended by a newline so far (the last one may still be arriving). */
function completeLines(text: string): number {
  return text.split('\n').length - 1;
}

function body(index: number): Buffer {
  return Buffer.from(`live ${index} ${'z'.repeat(1500 + ((index * 131) % 1500))}`);
}

const MODES: Array<{ writeMode: WriteMode; flushDiskType: FlushDiskType; durable: boolean }> = [
  { writeMode: 'mapped', flushDiskType: 'ASYNC_FLUSH', durable: false },
  { writeMode: 'direct', flushDiskType: 'ASYNC_FLUSH', durable: false },
  { writeMode: 'mapped', flushDiskType: 'SYNC_FLUSH', durable: true },
];

describe.each(MODES)('tail beside a writer: $writeMode, $flushDiskType, durable: $durable', ({ writeMode, flushDiskType, durable }) => {
  it('prints every message the writer appends, in order, across segment rolls, and stops at --limit', async () => {
    const directory = join(tmp.path, `tail-${writeMode}-${flushDiskType}`);
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: directory, writeMode, flushDiskType });
    const appended: AppendResult[] = [];
    try {
      for (let index = 0; index < 5; index += 1) appended.push(await log.append({ topic: 'before', body: body(index) }));
      await log.flush();
      const start = log.maxOffset;
      const total = 120;
      const child = startCli(['tail', directory, '--json', '--from', String(start), '--limit', String(total), '--poll-ms', '20', ...(durable ? ['--durable'] : [])]);
      const tail = watch(child);
      await tail.until('the start line', () => tail.state.stderr.includes(`following ${directory} from offset ${start}`));
      for (let index = 0; index < total; index += 1) {
        appended.push(await log.append({ topic: 'live', body: body(index), queueId: index % 2 }));
        if (index % 40 === 39) await tail.until(`message ${index}`, () => completeLines(tail.state.stdout) >= index + 1);
      }
      expect(await tail.exited).toBe(0);
      const printed = jsonLines(tail.state.stdout);
      const live = appended.slice(5);
      expect(printed.map((record) => record.physicalOffset)).toEqual(live.map((result) => result.physicalOffset));
      expect(printed.map((record) => record.queueOffset)).toEqual(live.map((result) => result.queueOffset));
      printed.forEach((record, index) => expect(Buffer.from(record.body as string, 'base64').equals(body(index))).toBe(true));
      expect(log.maxOffset).toBeGreaterThan(start + 2 * SEGMENT_SIZE_BYTES); // the tail crossed rolls
    } finally {
      await log.close();
    }
  });
});

describe('read-only commands beside a writer', () => {
  it('info, verify and dump work while the store is open, write nothing, and the writer closes cleanly', async () => {
    const directory = join(tmp.path, 'beside');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: directory });
    let count = 0;
    try {
      for (; count < 60; count += 1) await log.append({ topic: 'beside', body: body(count) });
      await log.flush();
      const names = steadyFileNames(directory);
      expect(names).toEqual(['abort', 'checkpoint', 'lock', 'topic-queue-table']);

      const info = await runCli(['info', directory, '--json']);
      expect(info.code).toBe(0);
      expect(JSON.parse(info.stdout)).toMatchObject({ abortMarker: true, maxOffset: log.maxOffset });
      const verify = await runCli(['verify', directory, '--json']);
      expect(verify.code).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ clean: true, messages: count, damaged: [] });
      const dump = await runCli(['dump', directory, '--json']);
      expect(dump.code).toBe(0);
      expect(jsonLines(dump.stdout).filter((record) => record.kind === 'message')).toHaveLength(count);
      const recover = await runCli(['recover', directory, '--dry-run']);
      expect(recover.code).toBe(0); // a crash now would lose nothing
      expect(recover.stdout).toMatch(/^note: if a writer has this store open now/m);

      expect(steadyFileNames(directory)).toEqual(names);
      for (; count < 80; count += 1) await log.append({ topic: 'beside', body: body(count) });
    } finally {
      await log.close();
    }
    expect(readdirSync(directory)).not.toContain('abort');
    const after = await runCli(['verify', directory, '--json']);
    expect(JSON.parse(after.stdout)).toMatchObject({ clean: true, messages: 80 });
  });

  it('tail from the end (the default) prints only new messages and exits 0 on SIGTERM', async () => {
    const directory = join(tmp.path, 'from-end');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: directory });
    try {
      for (let index = 0; index < 3; index += 1) await log.append({ topic: 'old', body: Buffer.from(`old ${index}`) });
      const child = startCli(['tail', directory, '--poll-ms', '20']);
      const tail = watch(child);
      await tail.until('the start line', () => tail.state.stderr.includes(`from offset ${log.maxOffset}`));
      await log.append({ topic: 'new', body: Buffer.from('fresh news') });
      await tail.until('the new message', () => tail.state.stdout.includes('"fresh news"'));
      child.kill('SIGTERM');
      expect(await tail.exited).toBe(0);
      expect(tail.state.stdout).not.toContain('old');
      expect(tail.state.stdout).toMatch(/^ +OFFSET +SIZE +TOPIC/);
    } finally {
      await log.close();
    }
  });
});
