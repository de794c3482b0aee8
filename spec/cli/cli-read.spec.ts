/**
 * The read-only commands (info, verify, dump, recover --dry-run) against
 * stores built here: clean (several segments), empty, and missing. They
 * must print what the store holds, exit 0, and change nothing on disk.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitLog, TEST_MIN } from '../../lib/index.js';
import { ensureDist } from '../helpers/ensure-dist.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { buildStore, jsonLines, killChildren, runCli, SEGMENT_SIZE_BYTES, type BuiltStore } from './cli-harness.js';

const MESSAGE_COUNT = 100;

const tmp = makeTmpDir('mc-cli-read-');
const storeDir = join(tmp.path, 'store');
let built: BuiltStore;
let endOffset: number;

/** Names, sizes, mtimes and content hashes of every file: equal before and after means nothing was written. */
function snapshot(directory: string): string {
  return readdirSync(directory)
    .sort()
    .map((name) => {
      const path = join(directory, name);
      const stat = statSync(path);
      return `${name} ${stat.size} ${stat.mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    })
    .join('\n');
}

beforeAll(async () => {
  ensureDist();
  built = await buildStore(storeDir, MESSAGE_COUNT);
  const last = built.results[built.results.length - 1]!;
  endOffset = last.physicalOffset + last.size;
});
afterEach(() => killChildren());
afterAll(() => tmp.cleanup());

describe('a clean store of several segments', () => {
  it('is really several segments', () => {
    expect(endOffset).toBeGreaterThan(2 * SEGMENT_SIZE_BYTES);
  });

  it('info shows segments, offsets, checkpoint and queues', async () => {
    const { code, stdout, stderr } = await runCli(['info', storeDir]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^segment size +65536 bytes \(64\.0 KiB\)$/m);
    expect(stdout).toContain(`max ${endOffset} (end of data)`);
    expect(stdout).toMatch(new RegExp(`^checkpoint +flushed offset ${endOffset}, .* by a clean close$`, 'm'));
    expect(stdout).toMatch(/^abort marker +absent/m);
    expect(stdout).toMatch(/^SEGMENT +START +SIZE +WROTE +FLUSHED +RESIDENT +DISK$/m);
    const lastStart = Math.floor(endOffset / SEGMENT_SIZE_BYTES) * SEGMENT_SIZE_BYTES;
    const lastRow = stdout.split('\n').find((line) => line.startsWith(String(lastStart).padStart(20, '0')));
    expect(lastRow?.split(/\s+/).slice(1, 5)).toEqual([String(lastStart), String(SEGMENT_SIZE_BYTES), String(endOffset - lastStart), String(endOffset - lastStart)]);
    expect(stdout).toMatch(/^orders +0 +\d+$/m);
  });

  it('info --json carries the same facts', async () => {
    const { code, stdout } = await runCli(['info', storeDir, '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info.segmentSizeBytes).toBe(SEGMENT_SIZE_BYTES);
    expect(info.minOffset).toBe(0);
    expect(info.maxOffset).toBe(endOffset);
    expect(info.checkpoint).toMatchObject({ kind: 'ok', flushedOffset: endOffset, cleanClose: true });
    expect(info.abortMarker).toBe(false);
    expect(info.segments.length).toBe(Math.ceil(endOffset / SEGMENT_SIZE_BYTES));
    for (const segment of info.segments) {
      expect(segment.residentBytes).toBeGreaterThanOrEqual(0);
      expect(segment.residentBytes).toBeLessThanOrEqual(SEGMENT_SIZE_BYTES);
      expect(segment.flushedPosition).toBe(segment.wrotePosition);
    }
    expect(info.segments.slice(0, -1).every((segment: { wrotePosition: number }) => segment.wrotePosition === SEGMENT_SIZE_BYTES)).toBe(true);
    const queues = info.topicQueueTable.queues as Array<{ topic: string; queueId: number; nextQueueOffset: number }>;
    expect(queues.reduce((sum, queue) => sum + queue.nextQueueOffset, 0)).toBe(MESSAGE_COUNT);
    expect(info.diskUsageBytes).toBeGreaterThan(0);
  });

  it('verify is clean (exit 0)', async () => {
    const { code, stdout } = await runCli(['verify', storeDir]);
    expect(code).toBe(0);
    expect(stdout).toContain(`${MESSAGE_COUNT} messages`);
    expect(stdout).toContain(`offsets 0 .. ${endOffset}`);
    expect(stdout).toMatch(/^result: clean$/m);
    const json = JSON.parse((await runCli(['verify', storeDir, '--json'])).stdout);
    expect(json).toMatchObject({ clean: true, messages: MESSAGE_COUNT, endOffset, damaged: [], problems: [] });
  });

  it('dump prints a table of every message', async () => {
    const { code, stdout, stderr } = await runCli(['dump', storeDir]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ +OFFSET +SIZE +TOPIC +QUEUE +QOFFSET +BORN +STORED +PROPERTIES +BODY$/);
    expect(lines).toHaveLength(MESSAGE_COUNT + 1);
    expect(lines[1]).toMatch(/^ +0 +\d+ +orders +0 +0 +\d{4}-\d\d-\d\dT[\d:.]+Z +\d{4}-\d\d-\d\dT[\d:.]+Z +key=k0 +"message 0 ?"/);
    expect(lines[2]).toMatch(new RegExp(`^ +${built.results[1]!.physicalOffset} .* audit .* - +"message 1 x{20,}…" \\(\\d+ B\\)$`));
  });

  it('dump --json gives every field, bodies in base64, then an end line', async () => {
    const { code, stdout } = await runCli(['dump', storeDir, '--json']);
    expect(code).toBe(0);
    const records = jsonLines(stdout);
    expect(records).toHaveLength(MESSAGE_COUNT + 1);
    records.slice(0, MESSAGE_COUNT).forEach((record, index) => {
      expect(record).toMatchObject({
        kind: 'message',
        physicalOffset: built.results[index]!.physicalOffset,
        size: built.results[index]!.size,
        queueOffset: built.results[index]!.queueOffset,
        topic: built.topics[index],
        queueId: index % 3,
        properties: index % 3 === 0 ? { key: `k${index}` } : {},
      });
      expect(Buffer.from(record.body as string, 'base64').equals(built.bodies[index]!)).toBe(true);
    });
    expect(records[MESSAGE_COUNT]).toEqual({ kind: 'end', offset: endOffset, atDataEnd: true, messages: MESSAGE_COUNT });
  });

  it('dump --from --limit pages through the log; --topic filters', async () => {
    const page = await runCli(['dump', storeDir, '--json', '--from', String(built.results[10]!.physicalOffset), '--limit', '5']);
    expect(page.code).toBe(0);
    const records = jsonLines(page.stdout);
    expect(records.slice(0, 5).map((record) => record.physicalOffset)).toEqual(built.results.slice(10, 15).map((result) => result.physicalOffset));
    expect(records[5]).toEqual({ kind: 'end', offset: built.results[15]!.physicalOffset, atDataEnd: false, messages: 5 });

    const audit = await runCli(['dump', storeDir, '--json', '--topic', 'audit']);
    expect(jsonLines(audit.stdout).filter((record) => record.kind === 'message')).toHaveLength(MESSAGE_COUNT / 2);
  });

  it('dump --from inside a record is ERR_BAD_OFFSET (exit 2)', async () => {
    const { code, stdout, stderr } = await runCli(['dump', storeDir, '--from', String(built.results[3]!.physicalOffset + 5)]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^mapped-commitlog dump: ERR_BAD_OFFSET: offset \d+ is not the start of a record/);
  });

  it('recover --dry-run finds nothing to cut (exit 0)', async () => {
    const { code, stdout } = await runCli(['recover', storeDir, '--dry-run']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^mode +normal/m);
    expect(stdout).toContain(`log end     ${endOffset}`);
    expect(stdout).toMatch(/^actions: none$/m);
    expect(stdout).toMatch(/^result: recovery would change no data$/m);
    const json = JSON.parse((await runCli(['recover', storeDir, '--dry-run', '--json'])).stdout);
    expect(json).toMatchObject({ dryRun: true, changesData: false, mode: 'normal', endOffset, actions: [], corruptions: [] });
  });

  it('none of the read-only commands changed a byte, a name or an mtime', async () => {
    const before = snapshot(storeDir);
    for (const args of [['info'], ['info', '--json'], ['verify'], ['dump'], ['dump', '--json'], ['recover', '--dry-run'], ['recover', '--dry-run', '--abnormal']]) {
      const [command, ...rest] = args;
      expect((await runCli([command!, storeDir, ...rest])).code).toBe(0);
    }
    expect(snapshot(storeDir)).toBe(before);
  });
});

describe('an empty store', () => {
  it('an empty directory: every read command exits 0', async () => {
    const empty = join(tmp.path, 'empty');
    await import('node:fs').then((fs) => fs.mkdirSync(empty));
    const info = await runCli(['info', empty]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/^segments +0$/m);
    expect(info.stdout).toMatch(/^checkpoint +none yet$/m);
    const verify = await runCli(['verify', empty]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('0 messages');
    const dump = await runCli(['dump', empty, '--json']);
    expect(dump.code).toBe(0);
    expect(jsonLines(dump.stdout)).toEqual([{ kind: 'end', offset: 0, atDataEnd: true, messages: 0 }]);
    const text = await runCli(['dump', empty]);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe('');
    expect(text.stderr).toBe('no messages\n');
    expect((await runCli(['recover', empty, '--dry-run'])).code).toBe(0);
  });

  it('a store opened and closed without a message: one zero segment, max offset 0', async () => {
    const fresh = join(tmp.path, 'fresh');
    await (await CommitLog.open({ ...TEST_MIN, storePathCommitLog: fresh })).close();
    const info = JSON.parse((await runCli(['info', fresh, '--json'])).stdout);
    expect(info).toMatchObject({ minOffset: 0, maxOffset: 0, dataEndStoppedAt: null });
    const verify = await runCli(['verify', fresh, '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ clean: true, messages: 0, endOffset: 0, damaged: [] });
    const dump = await runCli(['dump', fresh]);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toBe('');
  });
});

describe('a missing directory', () => {
  it.each([['info'], ['verify'], ['dump'], ['tail'], ['recover', '--dry-run']])('%s exits 2 with ERR_STORE_DIR on one line', async (command, ...rest) => {
    const missing = join(tmp.path, 'does-not-exist');
    const { code, stdout, stderr } = await runCli([command, missing, ...rest]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`mapped-commitlog ${command}: ERR_STORE_DIR: cannot open the store directory ${missing}: ENOENT\n`);
    expect(readdirSync(tmp.path)).not.toContain('does-not-exist');
  });

  it('a file where the directory should be is ERR_STORE_DIR', async () => {
    const file = join(tmp.path, 'a-file');
    writeFileSync(file, 'not a store');
    const { code, stderr } = await runCli(['verify', file]);
    expect(code).toBe(2);
    expect(stderr).toBe(`mapped-commitlog verify: ERR_STORE_DIR: ${file} is not a directory\n`);
  });
});

describe('text from records in the table output', () => {
  it('dump and tail escape control characters in topics and properties: one row per message, no escape sequence reaches the terminal', async () => {
    const directory = join(tmp.path, 'control-chars');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: directory });
    await log.append({ topic: 'red\u001b[31mtopic', body: Buffer.from('one'), properties: { note: 'line1\nFAKE ROW\tx', c1: 'csi\u009b2J' } });
    await log.append({ topic: 'plain', body: Buffer.from('two') });
    await log.close();
    for (const args of [['dump', directory], ['tail', directory, '--from', '0', '--limit', '2']]) {
      const { code, stdout } = await runCli(args);
      expect(code, args.join(' ')).toBe(0);
      expect(stdout.trimEnd().split('\n'), args.join(' ')).toHaveLength(3); // header + 2 rows
      // eslint-disable-next-line no-control-regex
      expect(stdout, args.join(' ')).not.toMatch(/[\u001b\u009b\t]/);
      expect(stdout).toContain('red\\u001b[31mtopic');
      expect(stdout).toContain('note=line1\\nFAKE ROW\\tx');
      expect(stdout).toContain('c1=csi\\u009b2J');
    }
  });
});
