/**
 * verify, dump and recover --dry-run on damaged stores: a flipped body
 * byte, a broken magic code, a hole of zeros, a torn tail (as a crash leaves
 * it: checkpoint behind the tail, abort marker present), and a segment file
 * of the wrong size. Each case damages its own copy of one clean store.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ABORT_FILE_NAME, CHECKPOINT_FILE_NAME, encodeCheckpoint, MAGIC_CODE_OFFSET } from '../../lib/index.js';
import { ensureDist } from '../helpers/ensure-dist.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { buildStore, jsonLines, killChildren, overwrite, runCli, segmentAt, SEGMENT_SIZE_BYTES, type BuiltStore } from './cli-harness.js';

const MESSAGE_COUNT = 100;
/** A body byte: BODY starts at 88 in a record with IPv4 hosts (docs/FORMAT.md). */
const BODY_POSITION = 88 + 3;

const tmp = makeTmpDir('mc-cli-damage-');
const pristine = join(tmp.path, 'pristine');
let built: BuiltStore;
let endOffset: number;
let copies = 0;

/** A fresh copy of the clean store. */
function copyStore(): string {
  copies += 1;
  const directory = join(tmp.path, `copy-${copies}`);
  cpSync(pristine, directory, { recursive: true });
  return directory;
}

/** Index of a message in the segment `segmentIndex`, not its first nor its last. */
function messageInSegment(segmentIndex: number): number {
  const inside = built.results
    .map((result, index) => ({ result, index }))
    .filter(({ result }) => Math.floor(result.physicalOffset / SEGMENT_SIZE_BYTES) === segmentIndex);
  expect(inside.length).toBeGreaterThan(2);
  return inside[1]!.index;
}

function flipByte(directory: string, offset: number): void {
  const { path, position } = segmentAt(directory, offset);
  overwrite(path, position, Buffer.from([0xff]));
}

beforeAll(async () => {
  ensureDist();
  built = await buildStore(pristine, MESSAGE_COUNT);
  const last = built.results[built.results.length - 1]!;
  endOffset = last.physicalOffset + last.size;
  expect(Math.floor(endOffset / SEGMENT_SIZE_BYTES)).toBeGreaterThanOrEqual(2);
});
afterEach(() => killChildren());
afterAll(() => tmp.cleanup());

describe('a flipped body byte in a middle segment', () => {
  let directory: string;
  let victim: number;
  beforeAll(() => {
    directory = copyStore();
    victim = messageInSegment(1);
    flipByte(directory, built.results[victim]!.physicalOffset + BODY_POSITION);
  });

  it('verify exits 1 and prints the corrupt range: that one record', async () => {
    const { physicalOffset, size } = built.results[victim]!;
    const { code, stdout } = await runCli(['verify', directory]);
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`^corrupt +${physicalOffset} +${size} +.*BODYCRC`, 'm'));
    expect(stdout).toContain(`${MESSAGE_COUNT - 1} messages`);
    expect(stdout).toMatch(/^result: CORRUPT: 1 corrupt range/m);
    const json = JSON.parse((await runCli(['verify', directory, '--json'])).stdout);
    expect(json.clean).toBe(false);
    expect(json.damaged).toEqual([{ offset: physicalOffset, length: size, kind: 'corrupt', reason: expect.stringContaining('BODYCRC') }]);
  });

  it('dump skips it, reports it, goes on, and exits 1', async () => {
    const { physicalOffset } = built.results[victim]!;
    const text = await runCli(['dump', directory]);
    expect(text.code).toBe(1);
    expect(text.stdout.trimEnd().split('\n')).toHaveLength(MESSAGE_COUNT); // header + 99 rows
    expect(text.stderr).toMatch(new RegExp(`^corrupt: offset ${physicalOffset}, \\d+ bytes: `));
    const json = jsonLines((await runCli(['dump', directory, '--json'])).stdout);
    expect(json.find((record) => record.kind === 'damaged')).toMatchObject({ damage: 'corrupt', offset: physicalOffset });
    expect(json.filter((record) => record.kind === 'message')).toHaveLength(MESSAGE_COUNT - 1);
  });

  it('tail --from 0 prints the messages before it, then reports it and exits 1 (it is below the checkpoint)', async () => {
    const { physicalOffset } = built.results[victim]!;
    const { code, stdout, stderr } = await runCli(['tail', directory, '--from', '0', '--json']);
    expect(code).toBe(1);
    expect(jsonLines(stdout).filter((record) => record.kind === 'message')).toHaveLength(victim);
    expect(stderr).toMatch(new RegExp(`^corrupt: offset ${physicalOffset} is below the checkpoint's flushed offset ${endOffset} but does not decode`, 'm'));
  });

  it('recover --dry-run does not see it: recovery starts at the checkpoint segment (exit 0)', async () => {
    const { code, stdout } = await runCli(['recover', directory, '--dry-run']);
    expect(code).toBe(0);
    expect(stdout).toContain(`walk        from offset ${Math.floor(endOffset / SEGMENT_SIZE_BYTES) * SEGMENT_SIZE_BYTES}`);
  });
});

describe('damage in the last segment', () => {
  it('a broken magic code: verify and recover --dry-run both report its offset (exit 1)', async () => {
    const directory = copyStore();
    const victim = messageInSegment(Math.floor(endOffset / SEGMENT_SIZE_BYTES));
    const { physicalOffset, size } = built.results[victim]!;
    flipByte(directory, physicalOffset + MAGIC_CODE_OFFSET + 2);

    const verify = await runCli(['verify', directory]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(new RegExp(`^corrupt +${physicalOffset} +${size} +bad magic code`, 'm'));

    // Recovery drops only the damaged record (a hole over it) and keeps the intact ones after it.
    const recover = await runCli(['recover', directory, '--dry-run']);
    expect(recover.code).toBe(1);
    expect(recover.stdout).toMatch(new RegExp(`^ +${physicalOffset} +${size} +a durable record is corrupt: bad magic code`, 'm'));
    expect(recover.stdout).toContain(`offset ${physicalOffset}: drop ${size} bytes`);
    expect(recover.stdout).toMatch(/^result: recovery would cut or drop data$/m);
    const json = JSON.parse((await runCli(['recover', directory, '--dry-run', '--json'])).stdout);
    expect(json).toMatchObject({ changesData: true, endOffset, corruptions: [{ offset: physicalOffset, bytesDropped: size }] });
  });

  it('a flipped body byte: normal recovery checks structure only (exit 0); --abnormal checks CRCs (exit 1)', async () => {
    const directory = copyStore();
    const { physicalOffset } = built.results[messageInSegment(Math.floor(endOffset / SEGMENT_SIZE_BYTES))]!;
    flipByte(directory, physicalOffset + BODY_POSITION);
    expect((await runCli(['recover', directory, '--dry-run'])).code).toBe(0);
    const abnormal = await runCli(['recover', directory, '--dry-run', '--abnormal']);
    expect(abnormal.code).toBe(1);
    expect(abnormal.stdout).toMatch(/^mode +abnormal: --abnormal/m);
    expect(abnormal.stdout).toMatch(new RegExp(`^ +${physicalOffset} +\\d+ +a durable record is corrupt: .*BODYCRC`, 'm'));
  });
});

describe('a hole of zeros in the first segment', () => {
  it('verify reports zeros where data should be (exit 1)', async () => {
    const directory = copyStore();
    const { physicalOffset, size } = built.results[messageInSegment(0)]!;
    const { path, position } = segmentAt(directory, physicalOffset);
    overwrite(path, position, Buffer.alloc(size));
    const { code, stdout } = await runCli(['verify', directory]);
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`^corrupt +${physicalOffset} +${size} +zeros where data should be`, 'm'));
  });
});

describe('a torn tail, as a crash leaves it', () => {
  /** The last record half written, the checkpoint at its start, the abort marker present. */
  function tear(directory: string, moveCheckpoint: boolean): { offset: number; size: number } {
    const { physicalOffset, size } = built.results[built.results.length - 1]!;
    const { path, position } = segmentAt(directory, physicalOffset);
    overwrite(path, position + Math.floor(size / 2), Buffer.alloc(size - Math.floor(size / 2)));
    if (moveCheckpoint) {
      writeFileSync(join(directory, CHECKPOINT_FILE_NAME), encodeCheckpoint({ flushedOffset: physicalOffset, lastFlushStoreTimestamp: 0, writtenAt: Date.now() }));
    }
    writeFileSync(join(directory, ABORT_FILE_NAME), '');
    return { offset: physicalOffset, size };
  }

  it('verify prints the torn range and exits 0; --strict exits 1', async () => {
    const directory = copyStore();
    const { offset } = tear(directory, true);
    const verify = await runCli(['verify', directory]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^torn +${offset} +\\d+ +`, 'm'));
    expect(verify.stdout).toMatch(/^result: clean: torn tail of \d+ bytes/m);
    expect(verify.stdout).toMatch(/^note: the abort marker exists/m);
    const json = JSON.parse((await runCli(['verify', directory, '--json'])).stdout);
    expect(json).toMatchObject({ clean: true, messages: MESSAGE_COUNT - 1, endOffset: offset, damaged: [{ offset, kind: 'torn' }] });
    expect((await runCli(['verify', directory, '--strict'])).code).toBe(1);
  });

  it('dump prints every message before it and notes the torn tail (exit 0)', async () => {
    const directory = copyStore();
    const { offset } = tear(directory, true);
    const { code, stdout, stderr } = await runCli(['dump', directory, '--json']);
    expect(code).toBe(0);
    const records = jsonLines(stdout);
    expect(records.filter((record) => record.kind === 'message')).toHaveLength(MESSAGE_COUNT - 1);
    expect(records.find((record) => record.kind === 'damaged')).toMatchObject({ damage: 'torn', offset });
    expect(stderr).toBe('');
  });

  it('recover --dry-run: abnormal mode, a quiet cut at the torn record (exit 1)', async () => {
    const directory = copyStore();
    const { offset } = tear(directory, true);
    const { code, stdout } = await runCli(['recover', directory, '--dry-run']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^mode +abnormal: the abort marker exists/m);
    expect(stdout).toContain(`log end     ${offset}`);
    expect(stdout).toMatch(new RegExp(`^  cut at offset ${offset}: zero \\d+ non-zero bytes`, 'm'));
    expect(stdout).not.toContain('corruptions recovery would report');
  });

  it('the same bytes below the checkpoint are durable data: corrupt (exit 1)', async () => {
    const directory = copyStore();
    const { offset } = tear(directory, false);
    const verify = await runCli(['verify', directory]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(new RegExp(`^corrupt +${offset} +\\d+ +.*before the checkpoint's flushed offset ${endOffset}`, 'm'));
  });
});

describe('the newest segment deleted', () => {
  it('verify reports the durable data missing below the checkpoint (exit 1), as recover --dry-run does; dump --from the end is empty (exit 0)', async () => {
    const directory = copyStore();
    const lastStart = Math.floor(endOffset / SEGMENT_SIZE_BYTES) * SEGMENT_SIZE_BYTES;
    rmSync(segmentAt(directory, lastStart).path);
    const verify = await runCli(['verify', directory]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(new RegExp(`^corrupt +${lastStart} +${endOffset - lastStart} +durable data missing`, 'm'));
    const recover = await runCli(['recover', directory, '--dry-run']);
    expect(recover.code).toBe(1);
    // The segments now end where the deleted one began: a scan may start there, and reports the loss.
    const dump = await runCli(['dump', directory, '--from', String(lastStart), '--json']);
    expect(dump.code).toBe(1);
    expect(jsonLines(dump.stdout).map((record) => record.kind)).toEqual(['damaged', 'end']);
  });

  it('every segment deleted: verify (also --strict) reports the checkpoint\'s durable bytes missing (exit 1), as recover --dry-run does', async () => {
    const directory = copyStore();
    for (let start = 0; start < endOffset; start += SEGMENT_SIZE_BYTES) rmSync(segmentAt(directory, start).path);
    for (const args of [['verify', directory], ['verify', directory, '--strict']]) {
      const verify = await runCli(args);
      expect(verify.code).toBe(1);
      expect(verify.stdout).toMatch(new RegExp(`^corrupt +0 +${endOffset} +durable data missing: no segment exists`, 'm'));
    }
    const recover = await runCli(['recover', directory, '--dry-run']);
    expect(recover.code).toBe(1);
    expect(recover.stdout).toContain('the checkpoint names data but no segment exists');
  });

  it('dump --from the end of the last segment of an intact store is an empty dump (exit 0)', async () => {
    const directory = copyStore();
    const segmentsEnd = (Math.floor(endOffset / SEGMENT_SIZE_BYTES) + 1) * SEGMENT_SIZE_BYTES;
    const dump = await runCli(['dump', directory, '--from', String(segmentsEnd), '--json']);
    expect(dump.code).toBe(0);
    expect(jsonLines(dump.stdout)).toEqual([{ kind: 'end', offset: segmentsEnd, atDataEnd: true, messages: 0 }]);
  });
});

describe('a segment file CommitLog.open would refuse', () => {
  it('the only segment, truncated to a size no store can have: verify, recover --dry-run (exit 1) and info name it', async () => {
    const directory = copyStore();
    for (let start = SEGMENT_SIZE_BYTES; start < endOffset; start += SEGMENT_SIZE_BYTES) rmSync(segmentAt(directory, start).path);
    truncateSync(segmentAt(directory, 0).path, 1000);
    const problem = '00000000000000000000: has 1000 bytes, not a segment size';
    const verify = await runCli(['verify', directory]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`problem: segment ${problem}`);
    const recover = await runCli(['recover', directory, '--dry-run']);
    expect(recover.code).toBe(1);
    const info = await runCli(['info', directory]);
    expect(info.stdout).toContain(`problem: ${problem}`);
  });

  it('verify lists the problem (exit 1); recover --dry-run says open would refuse it (exit 1)', async () => {
    const directory = copyStore();
    const name = String((Math.floor(endOffset / SEGMENT_SIZE_BYTES) + 1) * SEGMENT_SIZE_BYTES).padStart(20, '0');
    writeFileSync(join(directory, name), Buffer.alloc(100, 1));
    const verify = await runCli(['verify', directory]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`problem: segment ${name}: has 100 bytes, expected ${SEGMENT_SIZE_BYTES}`);
    const recover = await runCli(['recover', directory, '--dry-run']);
    expect(recover.code).toBe(1);
    expect(recover.stdout).toContain('CommitLog.open would refuse this store');
    expect(recover.stdout).toContain('ERR_SEGMENT_INVALID');
  });

  it.each([
    ['a FIFO', (path: string) => execFileSync('mkfifo', [path]), 'not a regular file'],
    ['a directory', (path: string) => mkdirSync(path), 'not a regular file'],
    ['a symbolic link to nothing', (path: string) => symlinkSync('/nonexistent/segment', path), 'a symbolic link to a missing file'],
    ['a 3 GiB sparse file', (path: string) => truncateSync((writeFileSync(path, ''), path), 3 * 1024 ** 3), `has ${3 * 1024 ** 3} bytes`],
  ] as const)('%s named like the next segment: verify and recover --dry-run list it (exit 1) without opening it, as open refuses it', async (_label, make, reason) => {
    const directory = copyStore();
    const name = String((Math.floor(endOffset / SEGMENT_SIZE_BYTES) + 1) * SEGMENT_SIZE_BYTES).padStart(20, '0');
    make(join(directory, name));
    const verify = await runCli(['verify', directory]); // a FIFO opened for reading would block it for good
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`problem: segment ${name}: ${reason}`);
    const recover = await runCli(['recover', directory, '--dry-run']);
    expect(recover.code).toBe(1);
    expect(recover.stdout).toContain('CommitLog.open would refuse this store');
  });
});
