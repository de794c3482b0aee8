/** append: stdin lines and files become messages; the store lock is respected. */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitLog, TEST_MIN } from '../../lib/index.js';
import { ensureDist } from '../helpers/ensure-dist.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { jsonLines, killChildren, runCli, SEGMENT_SIZE_BYTES, startCli, steadyFileNames } from './cli-harness.js';

const tmp = makeTmpDir('mc-cli-append-');

beforeAll(() => {
  ensureDist();
});
afterEach(() => killChildren());
afterAll(() => tmp.cleanup());

describe('append', () => {
  it('with the smallest segment (4096) appends 256 lines of 1000 bytes: its batches stay within the segments one appendBatch may span', async () => {
    const directory = join(tmp.path, 'small-segments');
    const lines = Array.from({ length: 256 }, (_, i) => String(i).padStart(4, '0') + 'x'.repeat(996));
    const result = await runCli(['append', directory, '--segment-size', '4096', '--json'], `${lines.join('\n')}\n`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ appended: 256, status: 'PUT_OK' });
    const log = await CommitLog.open({ storePathCommitLog: directory, mappedFileSizeCommitLog: 4096 });
    try {
      const stored = [];
      for await (const m of log.scan()) stored.push(m.body.toString());
      expect(stored).toEqual(lines);
    } finally {
      await log.close();
    }
  });

  it('with the smallest segment and a 3000-byte property on every line (one record per segment), appends 100 short lines', async () => {
    const directory = join(tmp.path, 'small-segments-property');
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
    const result = await runCli(['append', directory, '--segment-size', '4096', '--property', `k=${'v'.repeat(3000)}`, '--json'], `${lines.join('\n')}\n`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const log = await CommitLog.open({ storePathCommitLog: directory, mappedFileSizeCommitLog: 4096 });
    try {
      const stored = [];
      for await (const m of log.scan()) stored.push(m.body.toString());
      expect(stored).toEqual(lines);
      expect(log.stats.segments).toBeGreaterThanOrEqual(100);
    } finally {
      await log.close();
    }
  });

  it('appends stdin lines to a new store; dump shows them; a second append continues the offsets', async () => {
    const directory = join(tmp.path, 'lines');
    const lines = ['hello', '', 'grüße, 世界', 'tab\tseparated'];
    const first = await runCli(['append', directory, '--topic', 'demo', '--property', 'source=cli', '--segment-size', String(SEGMENT_SIZE_BYTES)], `${lines.join('\n')}\n`);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^appended 4 messages to .* \(topic demo, queue 0, ASYNC_FLUSH\): offsets 0 \.\. \d+, queue offsets 0 \.\. 3, log end \d+$/m);
    expect(readdirSync(directory)).not.toContain('abort'); // closed cleanly

    // No --segment-size: the existing segments' size is used; the last line has no newline.
    const second = await runCli(['append', directory, '--topic', 'demo', '--json'], 'one more\nand the last');
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout);
    expect(report).toMatchObject({ appended: 2, topic: 'demo', flushDiskType: 'ASYNC_FLUSH', status: 'PUT_OK' });
    expect(report.messages.map((message: { queueOffset: number }) => message.queueOffset)).toEqual([4, 5]);

    const dump = await runCli(['dump', directory, '--json']);
    expect(dump.code).toBe(0);
    const messages = jsonLines(dump.stdout).filter((record) => record.kind === 'message');
    expect(messages.map((message) => Buffer.from(message.body as string, 'base64').toString('utf8'))).toEqual([...lines, 'one more', 'and the last']);
    expect(messages.map((message) => message.topic)).toEqual(Array(6).fill('demo'));
    expect(messages[0]!.properties).toEqual({ source: 'cli' });
    expect(messages[4]!.properties).toEqual({});
    expect(messages[4]!.physicalOffset).toBe(report.messages[0].physicalOffset);
    const text = await runCli(['dump', directory]);
    expect(text.stdout).toMatch(/source=cli +"grüße, 世界" \(\d+ B\)$/m);
  });

  it('appends each FILE as one message, bytes exact; --sync is SYNC_FLUSH', async () => {
    const directory = join(tmp.path, 'files');
    const binary = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x0d, 0x80]);
    writeFileSync(join(tmp.path, 'a.bin'), binary);
    writeFileSync(join(tmp.path, 'b.txt'), 'line 1\nline 2\n');
    const result = await runCli(['append', directory, join(tmp.path, 'a.bin'), join(tmp.path, 'b.txt'), '--sync', '--queue', '2', '--segment-size', String(SEGMENT_SIZE_BYTES), '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ appended: 2, queueId: 2, flushDiskType: 'SYNC_FLUSH', status: 'PUT_OK' });
    const messages = jsonLines((await runCli(['dump', directory, '--json'])).stdout).filter((record) => record.kind === 'message');
    expect(messages.map((message) => Buffer.from(message.body as string, 'base64'))).toEqual([binary, Buffer.from('line 1\nline 2\n')]);
    expect(messages.map((message) => message.queueId)).toEqual([2, 2]);
    const text = await runCli(['dump', directory]);
    expect(text.stdout).toMatch(/0x000102ff0a0d80 \(7 B\)$/m);
  });

  it('fails with ERR_STORE_LOCKED (exit 2) while another process holds the store, and changes nothing', async () => {
    const directory = join(tmp.path, 'locked');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: directory });
    try {
      await log.append({ topic: 'held', body: Buffer.from('by the spec') });
      const before = steadyFileNames(directory);
      const { code, stdout, stderr } = await runCli(['append', directory], 'should not land\n');
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^mapped-commitlog append: ERR_STORE_LOCKED: .* is open in another process/);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(steadyFileNames(directory)).toEqual(before);
      expect(before).toEqual(['abort', 'checkpoint', 'lock', 'topic-queue-table']);
      await log.append({ topic: 'held', body: Buffer.from('still writable') });
    } finally {
      await log.close();
    }
    const messages = jsonLines((await runCli(['dump', directory, '--json'])).stdout).filter((record) => record.kind === 'message');
    expect(messages.map((message) => Buffer.from(message.body as string, 'base64').toString())).toEqual(['by the spec', 'still writable']);
  });

  it('a line over --max-message-size is ERR_MESSAGE_TOO_LARGE (exit 2); its batch stores nothing', async () => {
    const directory = join(tmp.path, 'too-large');
    const { code, stderr } = await runCli(['append', directory, '--segment-size', String(SEGMENT_SIZE_BYTES), '--max-message-size', '300'], `short\n${'y'.repeat(1000)}\n`);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^mapped-commitlog append: ERR_MESSAGE_TOO_LARGE: /m);
    const verify = await runCli(['verify', directory, '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout).messages).toBe(0); // both lines were one batch: validated before anything was written
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s while stdin is still open appends the lines read so far, closes cleanly and exits 0', async (signal) => {
    const directory = join(tmp.path, `signal-${signal}`);
    const child = startCli(['append', directory, '--segment-size', String(SEGMENT_SIZE_BYTES)]);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    child.stdin.write('one\ntwo\n'); // stdin stays open: the command is waiting for more
    // The store is open once recovery has run: wait for its abort marker, then the lines to be read.
    for (let waited = 0; !existsSync(join(directory, 'abort')) && waited < 10_000; waited += 20) await sleep(20);
    await sleep(300);
    child.kill(signal);
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/^appended 2 messages/);
    const dump = await runCli(['dump', directory, '--json']);
    const bodies = jsonLines(dump.stdout).filter((record) => record.kind === 'message').map((m) => Buffer.from(m.body as string, 'base64').toString());
    expect(bodies).toEqual(['one', 'two']);
    const info = await runCli(['info', directory]);
    expect(info.stdout).toMatch(/by a clean close/);
  });

  it('a FILE that cannot be read is ERR_IO (exit 2) before the store is opened: no store is created', async () => {
    const directory = join(tmp.path, 'missing-file');
    const { code, stderr } = await runCli(['append', directory, join(tmp.path, 'no-such-file.json')]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^mapped-commitlog append: ERR_IO: cannot read .*no-such-file\.json: ENOENT/m);
    expect(existsSync(directory)).toBe(false);
    const notAFile = await runCli(['append', directory, tmp.path]);
    expect(notAFile.code).toBe(2);
    expect(existsSync(directory)).toBe(false);
  });
});
