/**
 * The bad-input catalogue: each kind of bad input gets its documented
 * CommitLogError code (lib/errors.ts), and nothing already stored changes
 * (file bytes compared before and after; the checkpoint's WRITTENAT moves
 * with every thorough checkpoint, so the checkpoint is compared by its
 * flushed offset).
 *
 * - every field of Options (lib/config.ts): wrong type, out of range, and
 *   the relations between fields → ERR_INVALID_OPTION, nothing created;
 * - messages: oversize (body, record, properties) → ERR_MESSAGE_TOO_LARGE,
 *   malformed fields → ERR_INVALID_ARGUMENT, a bad batch stores nothing;
 * - offsets negative, past the end, mid-message, on a blank record, not a
 *   number → ERR_BAD_OFFSET;
 * - every call after close → ERR_CLOSED;
 * - a store path that is a file, or under a file → ERR_STORE_DIR;
 * - a read-only directory (not as root: root bypasses permissions);
 * - segments of the wrong size, misnamed, missing in the middle, a
 *   directory in a segment's place → ERR_SEGMENT_INVALID, files unchanged;
 * - close while appends are pending: every promise settles.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, symlinkSync, writeFileSync, readFileSync, rmSync, statSync, truncateSync, existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLog, type CommitLogOpenOptions } from '../../lib/commit-log.js';
import { DEFAULTS, resolveOptions, TEST_MIN, type FlushDiskType, type WriteMode } from '../../lib/config.js';
import { CommitLogError } from '../../lib/errors.js';
import { decodeCheckpoint } from '../../lib/format/checkpoint-codec.js';
import type { MessageInput } from '../../lib/format/message-codec.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { CHECKPOINT_FILE_NAME } from '../../lib/store/store-checkpoint.js';
import { LOCK_FILE_NAME } from '../../lib/store/store-lock.js';
import { DIST_ENTRY, ensureDist } from '../helpers/ensure-dist.js';
import { expectCode } from '../helpers/expect-code.js';
import { FaultNativeIO } from '../helpers/fault-native-io.js';
import { seededRandomForTest } from '../helpers/seeded-random.js';
import { isRoot, NOBODY, unprivileged } from '../helpers/unprivileged.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { diffSnapshots, snapshotStore, type StoreSnapshot } from './helpers/store-files.js';
import { knownEngineBug, messageFor, mismatch, seqOf, withTimeout } from './helpers/workload.js';
import { recordSoakCounters } from './soak.js';

const SEGMENT = TEST_MIN.mappedFileSizeCommitLog;
const PAGES = SEGMENT / 4096;
const DAY_MS = 24 * 60 * 60 * 1000;
const SETTLE_MAX_MS = 10_000;
let casesRun = 0;

/** Segment and other data files compared byte for byte; the checkpoint by its flushed offset. */
function storedState(directory: string): { files: StoreSnapshot; flushedOffset: number | undefined } {
  const files = snapshotStore(directory);
  const checkpoint = files.get(CHECKPOINT_FILE_NAME);
  files.delete(CHECKPOINT_FILE_NAME);
  const decoded = checkpoint === undefined ? undefined : decodeCheckpoint(checkpoint);
  return { files, flushedOffset: decoded?.kind === 'ok' ? decoded.flushedOffset : undefined };
}

/**
 * Compares with `before`. A closed store must match exactly (checkpoint
 * included); an open one (`liveEnd`) may still be writing the checkpoint of
 * an earlier flush, so its flushed offset may move, but never past the end.
 */
function expectUnchanged(before: ReturnType<typeof storedState>, directory: string, label: string, ignore: ReadonlySet<string>, liveEnd?: number): void {
  const after = storedState(directory);
  expect(diffSnapshots(before.files, after.files, ignore), `${label}: stored files unchanged`).toEqual([]);
  if (liveEnd === undefined) expect(after.flushedOffset, `${label}: checkpoint`).toBe(before.flushedOffset);
  else expect(after.flushedOffset ?? 0, `${label}: checkpoint`).toBeLessThanOrEqual(liveEnd);
}

describe('bad options', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir('mc-bad-options-');
  });
  afterEach(() => dir.cleanup());

  /** [field, bad value, why] for every field of Options, and the relations between them. */
  const cases: Array<[string, unknown, string]> = [
    ['storePathCommitLog', '', 'empty'],
    ['storePathCommitLog', 42, 'not a string'],
    ['storePathCommitLog', undefined, 'missing'],
    ['mappedFileSizeCommitLog', '65536', 'a string'],
    ['mappedFileSizeCommitLog', 0, 'zero'],
    ['mappedFileSizeCommitLog', 2048, 'below one page'],
    ['mappedFileSizeCommitLog', 5000, 'not a page multiple'],
    ['mappedFileSizeCommitLog', 2 ** 30 + 4096, 'above 1 GiB'],
    ['mappedFileSizeCommitLog', 65536.5, 'fractional'],
    ['mappedFileSizeCommitLog', Number.NaN, 'NaN'],
    ['mappedFileSizeCommitLog', -65536, 'negative'],
    ['writeMode', 'fast', 'not a mode'],
    ['writeMode', 1, 'a number'],
    ['writeMode', null, 'null'],
    ['flushDiskType', 'SOMETIMES', 'not a type'],
    ['flushDiskType', true, 'a boolean'],
    ['transientStorePoolSize', 0, 'zero buffers'],
    ['transientStorePoolSize', 65, 'above 64'],
    ['transientStorePoolSize', '3', 'a string'],
    ['transientStorePoolSize', 1.5, 'fractional'],
    ['transientStorePoolLock', 'yes', 'a string'],
    ['transientStorePoolLock', 1, 'a number'],
    ['flushIntervalCommitLog', 0, 'zero'],
    ['flushIntervalCommitLog', -1, 'negative'],
    ['flushIntervalCommitLog', DAY_MS + 1, 'above a day'],
    ['flushIntervalCommitLog', '10', 'a string'],
    ['flushCommitLogLeastPages', -1, 'negative'],
    ['flushCommitLogLeastPages', PAGES + 1, 'more pages than a segment has'],
    ['flushCommitLogLeastPages', 2.5, 'fractional'],
    ['flushCommitLogThoroughInterval', 0, 'zero'],
    ['flushCommitLogThoroughInterval', 'x', 'a string'],
    ['commitIntervalCommitLog', 0, 'zero'],
    ['commitIntervalCommitLog', Number.POSITIVE_INFINITY, 'infinite'],
    ['commitCommitLogLeastPages', -1, 'negative'],
    ['commitCommitLogLeastPages', PAGES + 1, 'more pages than a segment has'],
    ['commitCommitLogThoroughInterval', 0, 'zero'],
    ['commitCommitLogThoroughInterval', DAY_MS + 1, 'above a day'],
    ['syncFlushTimeout', 0, 'zero'],
    ['syncFlushTimeout', '5s', 'a string'],
    ['warmMapedFileEnable', 'true', 'a string'],
    ['warmMapedFileEnable', 0, 'a number'],
    ['maxMessageSize', 63, 'below 64'],
    ['maxMessageSize', 111, 'below the smallest record, 112 bytes (open took 64..111, then refused every append)'],
    ['maxMessageSize', SEGMENT - 7, 'no room for the blank record in a segment'],
    ['maxMessageSize', '4k', 'a string'],
    ['fileReservedTime', -1, 'negative'],
    ['fileReservedTime', 24 * 365 * 100 + 1, 'above 100 years'],
    ['fileReservedTime', 1.5, 'fractional'],
    ['diskMaxUsedSpaceRatio', 9, 'below 10'],
    ['diskMaxUsedSpaceRatio', 96, 'above 95'],
    ['diskMaxUsedSpaceRatio', '75', 'a string'],
    ['flushIntervall', 5, 'an unknown option (typo)'],
    ['onCorruption', 'log it', 'not a function'],
  ];

  it('covers every field of Options', () => {
    const covered = new Set(cases.map(([field]) => field));
    for (const field of ['storePathCommitLog', ...Object.keys(DEFAULTS)]) expect(covered.has(field), field).toBe(true);
  });

  it.each(cases)('rejects %s = %s (%s) with ERR_INVALID_OPTION and creates nothing', async (field, value) => {
    casesRun += 1;
    const store = join(dir.path, 'store');
    const input = { ...TEST_MIN, storePathCommitLog: store, [field]: value } as unknown as CommitLogOpenOptions;
    await expectCode(() => CommitLog.open(input), 'ERR_INVALID_OPTION');
    if (field !== 'storePathCommitLog') expect(existsSync(store), 'the store directory is not created').toBe(false);
  });

  it('a small segment shrinks the least-pages defaults to its pages, as it does maxMessageSize; given ones are still checked', async () => {
    for (const size of [4096, 8192, 12288]) {
      const options = resolveOptions({ storePathCommitLog: join(dir.path, 'small'), mappedFileSizeCommitLog: size });
      expect(options.flushCommitLogLeastPages).toBe(size / 4096);
      expect(options.commitCommitLogLeastPages).toBe(size / 4096);
      expect(options.maxMessageSize).toBe(size - 8);
      const log = await CommitLog.open({ storePathCommitLog: join(dir.path, `small-${size}`), mappedFileSizeCommitLog: size, warmMapedFileEnable: false });
      const result = await log.append({ topic: 't', body: Buffer.from('fits') });
      expect(log.read(result.physicalOffset).body.toString()).toBe('fits');
      await log.close();
    }
    expect(resolveOptions({ storePathCommitLog: join(dir.path, 'big'), mappedFileSizeCommitLog: 65536 }).flushCommitLogLeastPages).toBe(DEFAULTS.flushCommitLogLeastPages);
    await expectCode(() => CommitLog.open({ storePathCommitLog: join(dir.path, 'x'), mappedFileSizeCommitLog: 4096, flushCommitLogLeastPages: 2 }), 'ERR_INVALID_OPTION');
  });

  it('refuses a direct store whose pool would take more than 3/4 of the machine\'s memory, before mapping any of it', async () => {
    const store = join(dir.path, 'store');
    const buffers = Math.ceil((totalmem() * 0.75) / 2 ** 30) + 1;
    if (buffers > 64) return; // more memory than 64 GiB pools can exceed
    const error = await expectCode(
      () => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, writeMode: 'direct', mappedFileSizeCommitLog: 2 ** 30, transientStorePoolSize: buffers }),
      'ERR_INVALID_OPTION',
    );
    expect(error.message).toContain('lower transientStorePoolSize');
    expect(existsSync(store)).toBe(false);
    // Mapped mode has no pool: the same options open.
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, mappedFileSizeCommitLog: 2 ** 30, transientStorePoolSize: buffers, warmMapedFileEnable: false });
    await log.close();
  });

  it('rejects options that are not an object', async () => {
    await expectCode(() => CommitLog.open(null as unknown as CommitLogOpenOptions), 'ERR_INVALID_OPTION');
    await expectCode(() => CommitLog.open('/tmp/x' as unknown as CommitLogOpenOptions), 'ERR_INVALID_OPTION');
  });

  it('leaves an existing store untouched when reopened with bad options', async () => {
    const store = join(dir.path, 'store');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    for (let seq = 0; seq < 30; seq += 1) await log.append(messageFor(seq));
    await log.close();
    const before = storedState(store);
    for (const [field, value] of cases.filter(([f]) => f !== 'storePathCommitLog')) {
      await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, [field]: value } as unknown as CommitLogOpenOptions), 'ERR_INVALID_OPTION');
    }
    expectUnchanged(before, store, 'after every bad reopen', new Set());
    // And it still opens, all there.
    const again = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    let count = 0;
    for await (const message of again.scan()) expect(mismatch(message), String(count++)).toBeUndefined();
    expect(count).toBe(30);
    await again.close();
  });
});

describe('bad messages', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let log: CommitLog;
  let store: string;
  let probes: number;
  beforeEach(async () => {
    probes = 0;
    dir = makeTmpDir('mc-bad-messages-');
    store = join(dir.path, 'store');
    log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, flushDiskType: 'SYNC_FLUSH' });
    for (let seq = 0; seq < 10; seq += 1) await log.append(messageFor(seq));
  });
  afterEach(async () => {
    await log.close().catch(() => undefined);
    dir.cleanup();
  });

  const max = TEST_MIN.maxMessageSize;
  const ok: MessageInput = { topic: 't', body: Buffer.from('ok') };
  const tooLarge: Array<[string, MessageInput]> = [
    ['a body over maxMessageSize', { topic: 't', body: Buffer.alloc(max + 1) }],
    ['a record over maxMessageSize (body fits, header does not)', { topic: 't', body: Buffer.alloc(max - 100) }],
    ['properties over 32747 bytes', { topic: 't', body: Buffer.alloc(1), properties: { big: 'x'.repeat(32_760) } }],
  ];
  const malformed: Array<[string, unknown]> = [
    ['a message that is null', null],
    ['a message that is a string', 'hello'],
    ['an empty topic', { topic: '', body: Buffer.alloc(1) }],
    ['a topic that is not a string', { topic: 42, body: Buffer.alloc(1) }],
    ['a topic over 32767 bytes', { topic: 't'.repeat(32_768), body: Buffer.alloc(1) }],
    ['a body that is a string', { topic: 't', body: 'text' }],
    ['a missing body', { topic: 't' }],
    ['a negative queueId', { ...ok, queueId: -1 }],
    ['a fractional queueId', { ...ok, queueId: 1.5 }],
    ['a queueId over int32', { ...ok, queueId: 2 ** 31 }],
    ['a flag over int32', { ...ok, flag: 2 ** 31 }],
    ['a sysFlag that is a string', { ...ok, sysFlag: 'x' }],
    ['a negative bornTimestamp', { ...ok, bornTimestamp: -1 }],
    ['a bornTimestamp beyond 2^53', { ...ok, bornTimestamp: 2 ** 53 }],
    ['a bornHost with a bad address', { ...ok, bornHost: { address: 'not-an-ip', port: 1 } }],
    ['a storeHost with a bad port', { ...ok, storeHost: { address: '127.0.0.1', port: 70_000 } }],
    ['an IPv6 host with a zone id', { ...ok, bornHost: { address: 'fe80::1%eth0', port: 1 } }],
    ['a negative reconsumeTimes', { ...ok, reconsumeTimes: -1 }],
    ['a negative preparedTransactionOffset', { ...ok, preparedTransactionOffset: -1 }],
    ['a property with an empty name', { ...ok, properties: { '': 'x' } }],
    ['a property value with \\u0001', { ...ok, properties: { a: 'x\u0001y' } }],
    ['a property name with \\u0002', { ...ok, properties: { 'a\u0002': 'x' } }],
    ['the reserved property __CRC32#', { ...ok, properties: { '__CRC32#': '1' } }],
    ['properties that are not strings', { ...ok, properties: { a: 1 } }],
  ];

  async function expectNothingStored(run: () => unknown, code: 'ERR_MESSAGE_TOO_LARGE' | 'ERR_INVALID_ARGUMENT', label: string): Promise<void> {
    casesRun += 1;
    const end = log.maxOffset;
    const before = storedState(store);
    await expectCode(run, code);
    expect(log.maxOffset, `${label}: nothing appended`).toBe(end);
    expectUnchanged(before, store, label, new Set(['topic-queue-table']), end);
    // Offsets did not move either: the next good append lands at the old end with the next queue offset.
    const next = await log.append({ ...ok, topic: 'probe' });
    expect(next.physicalOffset, label).toBe(end);
    expect(next.queueOffset, `${label}: queue offset`).toBe(probes++);
    expect(log.read(end).body.toString(), label).toBe('ok');
  }

  it.each(tooLarge)('rejects %s with ERR_MESSAGE_TOO_LARGE, alone and in a batch', async (label, message) => {
    await expectNothingStored(() => log.append(message), 'ERR_MESSAGE_TOO_LARGE', label);
    await expectNothingStored(() => log.appendBatch([ok, message, ok]), 'ERR_MESSAGE_TOO_LARGE', `${label} (batch)`);
  });

  it.each(malformed)('rejects %s with ERR_INVALID_ARGUMENT, alone and in a batch', async (label, message) => {
    await expectNothingStored(() => log.append(message as MessageInput), 'ERR_INVALID_ARGUMENT', label);
    await expectNothingStored(() => log.appendBatch([ok, message as MessageInput]), 'ERR_INVALID_ARGUMENT', `${label} (batch)`);
  });

  it('accepts a record of exactly maxMessageSize and refuses one byte more', async () => {
    // TOTALSIZE = 91 fixed + 1 topic byte + 20 CRC property bytes + body.
    const exact = await log.append({ topic: 't', body: Buffer.alloc(max - 112, 7) });
    expect(exact.size).toBe(max);
    expect(log.read(exact.physicalOffset).body.equals(Buffer.alloc(max - 112, 7))).toBe(true);
    await expectNothingStored(() => log.append({ topic: 't', body: Buffer.alloc(max - 111, 7) }), 'ERR_MESSAGE_TOO_LARGE', 'one byte over');
  });

  it.each<[string, unknown]>([
    ['not an array', { topic: 't', body: Buffer.alloc(1) }],
    ['an empty array', []],
    ['null', null],
    ['an array with a hole', [ok, undefined, ok]],
  ])('rejects a batch that is %s with ERR_INVALID_ARGUMENT', async (label, batch) => {
    await expectNothingStored(() => log.appendBatch(batch as MessageInput[]), 'ERR_INVALID_ARGUMENT', label);
  });
});

describe('bad offsets', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let log: CommitLog;
  let offsets: Array<{ physicalOffset: number; size: number }>;
  beforeEach(async () => {
    dir = makeTmpDir('mc-bad-offsets-');
    log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: join(dir.path, 'store') });
    offsets = [];
    // Past one roll, so there is a blank record; non-zero bodies except one all-zero body.
    for (let seq = 0; log.maxOffset < SEGMENT + 5000; seq += 1) offsets.push(await log.append(messageFor(seq)));
  });
  afterEach(async () => {
    await log.close().catch(() => undefined);
    dir.cleanup();
  });

  function blankOffset(): number {
    const last = offsets.filter((r) => r.physicalOffset < SEGMENT).pop()!;
    return last.physicalOffset + last.size;
  }

  it('read and withMessage refuse every offset that is not a message start with ERR_BAD_OFFSET', async () => {
    const a = offsets[3]!;
    const bad: Array<[string, unknown]> = [
      ['negative', -1],
      ['fractional', a.physicalOffset + 0.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a string', String(a.physicalOffset)],
      ['the end', log.maxOffset],
      ['past the end', log.maxOffset + 1_000_000],
      ['beyond 2^53', 2 ** 53 + 2],
      ['one byte into a message', a.physicalOffset + 1],
      ['inside the header', a.physicalOffset + 20],
      ['the last byte of a message', a.physicalOffset + a.size - 1],
      ['a blank record', blankOffset()],
    ];
    for (const [label, offset] of bad) {
      casesRun += 1;
      await expectCode(() => log.read(offset as number), 'ERR_BAD_OFFSET').catch((err: unknown) => {
        throw new Error(`read(${label}): ${String(err)}`);
      });
      await expectCode(() => log.withMessage(offset as number, (m) => m.size), 'ERR_BAD_OFFSET');
    }
    expect(log.read(a.physicalOffset).size).toBe(a.size);
  });

  it('scan and tail refuse a start outside the log with ERR_BAD_OFFSET', async () => {
    for (const from of [-1, 0.5, Number.NaN, log.maxOffset + 1, 2 ** 53]) {
      casesRun += 1;
      await expectCode(() => log.scan({ from }).next(), 'ERR_BAD_OFFSET');
      await expectCode(() => log.tail({ from }).next(), 'ERR_BAD_OFFSET');
    }
  });

  it('scan refuses a start inside a message (on non-zero bytes) with ERR_BAD_OFFSET', async () => {
    const a = offsets.find((r) => r.size > 200)!;
    for (const delta of [1, 5, 150]) {
      casesRun += 1;
      await expectCode(async () => {
        for await (const message of log.scan({ from: a.physicalOffset + delta })) throw new Error(`scan from mid-message returned offset ${message.physicalOffset}`);
      }, 'ERR_BAD_OFFSET');
    }
  });

  /**
   * A scan whose start lands inside a record on 8 zero bytes (the FLAG and
   * the high bytes of QUEUEOFFSET at +16, or a zero-filled body) once took
   * them for "end of data" and yielded nothing; checkScanStart now decodes
   * the start and refuses anything but a record.
   */
  it.each([
    ['in the header (FLAG, QUEUEOFFSET)', 16],
    ['in a zero-filled body', 300],
  ])('scan refuses a start %s with ERR_BAD_OFFSET', async (_where, delta) => {
    const zero = await log.append({ topic: 't', body: Buffer.alloc(1000) });
    await log.append({ topic: 't', body: Buffer.from('after') });
    await expectCode(() => log.read(zero.physicalOffset + delta), 'ERR_BAD_OFFSET');
    await expectCode(async () => {
      for await (const message of log.scan({ from: zero.physicalOffset + delta })) void message;
    }, 'ERR_BAD_OFFSET');
  });
});

describe('calls after close', () => {
  it('refuses every call with ERR_CLOSED and changes nothing', async () => {
    const dir = makeTmpDir('mc-bad-closed-');
    try {
      const store = join(dir.path, 'store');
      const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
      const first = await log.append(messageFor(1));
      await log.close();
      const before = storedState(store);
      const calls: Array<[string, () => unknown]> = [
        ['append', () => log.append(messageFor(2))],
        ['appendBatch', () => log.appendBatch([messageFor(3)])],
        ['read', () => log.read(first.physicalOffset)],
        ['withMessage', () => log.withMessage(first.physicalOffset, (m) => m.size)],
        ['scan', () => log.scan().next()],
        ['tail', () => log.tail().next()],
        ['flush', () => log.flush()],
      ];
      for (const [name, call] of calls) {
        casesRun += 1;
        const err = await expectCode(call, 'ERR_CLOSED');
        expect(err.message, name).toMatch(/closed/);
      }
      await log.close(); // idempotent
      expectUnchanged(before, store, 'after calls on a closed store', new Set());
    } finally {
      dir.cleanup();
    }
  });
});

describe('bad directories', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir('mc-bad-dir-');
  });
  afterEach(() => {
    chmodSync(dir.path, 0o755);
    dir.cleanup();
  });

  it('refuses a store path that is a file with ERR_STORE_DIR and leaves the file alone', async () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'precious');
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: file }), 'ERR_STORE_DIR');
    expect(readFileSync(file, 'utf8')).toBe('precious');
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: join(file, 'below') }), 'ERR_STORE_DIR');
    expect(readFileSync(file, 'utf8')).toBe('precious');
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: join(dir.path, 'nul\u0000byte') }), 'ERR_STORE_DIR');
    casesRun += 3;
  });

  // Root bypasses permissions: as root, the open is tried by a child running as `nobody`,
  // which owns the store as the user would, so only the directory's mode stands in its way.
  it.skipIf(unprivileged.unavailable !== undefined)(`refuses a read-only store directory with a coded error, changing nothing${unprivileged.unavailable === undefined ? '' : ` (skipped: ${unprivileged.unavailable})`}`, async () => {
    const store = join(dir.path, 'store');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    await log.append(messageFor(1));
    await log.close();
    const before = storedState(store);
    if (isRoot) {
      chmodSync(dir.path, 0o755); // mkdtemp's 0700 would stop `nobody` before the store
      for (const name of readdirSync(store)) chownSync(join(store, name), NOBODY, NOBODY);
      chownSync(store, NOBODY, NOBODY);
    }
    chmodSync(store, 0o555);
    try {
      const err = isRoot ? openAsNobody(store) : await openError(store);
      expect(err?.name).toBe('CommitLogError');
      expect(['ERR_IO', 'ERR_STORE_DIR']).toContain(err?.code);
    } finally {
      chmodSync(store, 0o755);
    }
    expectUnchanged(before, store, 'read-only directory', new Set());
    casesRun += 1;
  });

  /** The error CommitLog.open rejects with here, or undefined when it opens. */
  async function openError(store: string): Promise<{ name: string; code: string } | undefined> {
    return CommitLog.open({ ...TEST_MIN, storePathCommitLog: store }).then(
      async (opened) => {
        await opened.close().catch(() => undefined);
        return undefined;
      },
      (e: unknown) => ({ name: (e as Error).name, code: (e as CommitLogError).code }),
    );
  }

  /** openError in a child process running as `nobody` (the compiled package, see ensureDist). */
  function openAsNobody(store: string): { name: string; code: string } | undefined {
    ensureDist();
    const script = `
      const { CommitLog } = await import(${JSON.stringify(pathToFileURL(DIST_ENTRY).href)});
      const options = JSON.parse(process.argv[1]);
      const outcome = await CommitLog.open(options).then(
        async (opened) => { await opened.close(); return null; },
        (e) => ({ name: e.name, code: e.code }),
      );
      process.stdout.write(JSON.stringify(outcome));`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify({ ...TEST_MIN, storePathCommitLog: store })], {
      ...unprivileged.options,
      encoding: 'utf8',
      timeout: 30_000,
    });
    return JSON.parse(output) ?? undefined;
  }
});

describe('an open refused after the lock', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir('mc-bad-late-');
  });
  afterEach(() => dir.cleanup());

  // The abort marker is created before anything else is written: a refusal there or later
  // changes no file (the checkpoint kept its CLEAN_CLOSE; it used to be rewritten first).
  it.each([['abort'], ['topic-queue-table.tmp']])('a directory at %s: ERR_IO, every file as it was', async (name) => {
    const store = join(dir.path, 'store');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    await log.append(messageFor(1));
    await log.close();
    mkdirSync(join(store, name));
    const before = snapshotStore(store);
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store }), 'ERR_IO');
    expect(diffSnapshots(before, snapshotStore(store))).toEqual([]);
    rmSync(join(store, name), { recursive: true });
    const reopened = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    expect(reopened.recovery.mode).toBe('normal');
    expect(reopened.read(0).body.equals(messageFor(1).body as Buffer)).toBe(true);
    await reopened.close();
  });

  it('a new store directory refused after it was made (its pool cannot be mapped) is removed again', async () => {
    const store = join(dir.path, 'parent', 'store');
    const native = new FaultNativeIO({ random: seededRandomForTest() });
    native.failAlways('mapAnonymous', 'ENOMEM');
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, writeMode: 'direct', native }), 'ERR_IO');
    expect(existsSync(store)).toBe(false);
  });

  it.each(['pwrite', 'fallocate'] as const)('a new store directory refused for a full disk (%s) is removed again, checkpoint and table included', async (call) => {
    const store = join(dir.path, 'parent', 'store');
    const native = new FaultNativeIO({ random: seededRandomForTest() });
    native.failAlways(call, 'ENOSPC');
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, native }), 'ERR_DISK_FULL');
    expect(existsSync(store)).toBe(false);
  });

  it('refuses a native option that is not a NativeIO with ERR_INVALID_OPTION, creating nothing', async () => {
    const store = join(dir.path, 'store');
    for (const native of [5, 'real', {}, null]) {
      await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, native: native as never }), 'ERR_INVALID_OPTION');
    }
    expect(existsSync(store)).toBe(false);
  });
});

describe('bad segment files', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let store: string;
  beforeEach(async () => {
    dir = makeTmpDir('mc-bad-segments-');
    store = join(dir.path, 'store');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    for (let seq = 0; log.maxOffset < 2 * SEGMENT + 1000; seq += 1) await log.append(messageFor(seq));
    await log.close();
  });
  afterEach(() => dir.cleanup());

  const segment = (index: number) => join(store, segmentFileName(index * SEGMENT));
  const damages: Array<[string, () => void]> = [
    ['a middle segment one byte short', () => truncateSync(segment(1), SEGMENT - 1)],
    ['the last segment with bytes appended', () => writeFileSync(segment(2), Buffer.concat([readFileSync(segment(2)), Buffer.alloc(100, 1)]))],
    ['the first segment twice as long', () => truncateSync(segment(0), 2 * SEGMENT)],
    ['an empty middle segment', () => truncateSync(segment(1), 0)],
    ['a missing middle segment (a gap)', () => rmSync(segment(1))],
    ['a segment named at a misaligned offset', () => writeFileSync(join(store, segmentFileName(3 * SEGMENT + 4096)), Buffer.alloc(SEGMENT))],
    ['a directory in a segment’s place', () => mkdirSync(join(store, segmentFileName(3 * SEGMENT)))],
    // Empty, it passed for a segment created but never sized, and open removed it.
    ['a FIFO named like the next segment', () => execFileSync('mkfifo', [join(store, segmentFileName(3 * SEGMENT))])],
    ['a symbolic link to nothing named like the next segment', () => symlinkSync('/nonexistent/segment', join(store, segmentFileName(3 * SEGMENT)))],
  ];

  it.each(damages)('refuses %s with ERR_SEGMENT_INVALID and leaves every file as it was', async (_label, damage) => {
    casesRun += 1;
    damage();
    const before = snapshotStore(store);
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store }), 'ERR_SEGMENT_INVALID');
    expect(diffSnapshots(before, snapshotStore(store))).toEqual([]);
    // Still locked by nobody: a second attempt gets the same answer, not ERR_STORE_LOCKED.
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store }), 'ERR_SEGMENT_INVALID');
  });

  it('reserves the holes of a last segment restored sparse (cp --sparse), so a full disk is ERR_DISK_FULL at open, never a SIGBUS at an append', async () => {
    casesRun += 1;
    const last = segment(2);
    const bytes = readFileSync(last);
    let dataEnd = bytes.length;
    while (dataEnd > 0 && bytes[dataEnd - 1] === 0) dataEnd -= 1;
    rmSync(last);
    writeFileSync(last, bytes.subarray(0, Math.ceil(dataEnd / 4096) * 4096));
    truncateSync(last, SEGMENT); // the zeros after the data are now a hole
    expect(statSync(last).blocks * 512).toBeLessThan(SEGMENT);
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, warmMapedFileEnable: false });
    try {
      expect(statSync(last).blocks * 512).toBeGreaterThanOrEqual(SEGMENT);
      expect(readFileSync(last).equals(bytes)).toBe(true);
    } finally {
      await log.close();
    }
  });

  it('a reopen refused for a full disk (fallocate of the segment appends go to) keeps every file as it was', async () => {
    casesRun += 1;
    const before = snapshotStore(store);
    const native = new FaultNativeIO({ random: seededRandomForTest() });
    native.failAlways('fallocate', 'ENOSPC');
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, native }), 'ERR_DISK_FULL');
    expect(diffSnapshots(before, snapshotStore(store))).toEqual([]);
    const reopened = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    try {
      expect(reopened.recovery.mode).toBe('normal');
      expect(reopened.read(0).body.equals(messageFor(0).body as Buffer)).toBe(true);
    } finally {
      await reopened.close();
    }
  });

  it('refuses a lone wrong-size segment in a new directory, adding only the lock file', async () => {
    casesRun += 1;
    const fresh = join(dir.path, 'fresh');
    mkdirSync(fresh);
    writeFileSync(join(fresh, segmentFileName(0)), Buffer.alloc(SEGMENT / 2, 9));
    const before = snapshotStore(fresh);
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: fresh }), 'ERR_SEGMENT_INVALID');
    expect(diffSnapshots(before, snapshotStore(fresh), new Set([LOCK_FILE_NAME]))).toEqual([]);
  });
});

describe.each<[FlushDiskType, WriteMode]>([
  ['SYNC_FLUSH', 'mapped'],
  ['SYNC_FLUSH', 'direct'],
  ['ASYNC_FLUSH', 'mapped'],
  ['ASYNC_FLUSH', 'direct'],
])('close while appends are pending (%s / %s)', (flushDiskType, writeMode) => {
  it('settles every append, batch, flush, scan and tail; what it acknowledged is stored', async () => {
    const dir = makeTmpDir('mc-bad-close-');
    try {
      const store = join(dir.path, 'store');
      const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, flushDiskType, writeMode });
      const pending: Array<Promise<unknown>> = [];
      const acked: Array<{ seq: number; physicalOffset: number }> = [];
      const refusals: unknown[] = [];
      let seq = 0;
      const issue = () => {
        const s = seq++;
        const p = s % 5 === 4
          ? log.appendBatch([messageFor(s), messageFor(s + 100_000)]).then((r) => acked.push({ seq: s, physicalOffset: r.messages[0]!.physicalOffset }))
          : log.append(messageFor(s)).then((r) => acked.push({ seq: s, physicalOffset: r.physicalOffset }));
        pending.push(p.catch((err: unknown) => void refusals.push(err)));
      };
      for (let i = 0; i < 150; i += 1) issue();
      const tailing = (async () => {
        let seen = 0;
        for await (const message of log.tail({ from: 0 })) seen += message.size > 0 ? 1 : 0;
        return seen;
      })();
      const scanning = log.scan()[Symbol.asyncIterator]();
      const closing = [log.close(), log.close()];
      for (let i = 0; i < 50; i += 1) issue(); // after close was called
      const flushing = log.flush().then(() => 'flushed', (err: unknown) => err);
      const everything = Promise.allSettled([...pending, ...closing, tailing, flushing, scanning.next()]);
      const settled = await withTimeout(everything, SETTLE_MAX_MS, `${flushDiskType}/${writeMode}: everything pending at close settles`);
      casesRun += 1;
      for (const outcome of settled.slice(pending.length, pending.length + 2)) expect(outcome.status, 'close resolves').toBe('fulfilled');
      for (const err of refusals) {
        if (knownEngineBug(err) !== undefined) continue; // pinned in io-errors.spec.ts
        expect(err).toBeInstanceOf(CommitLogError);
        expect((err as CommitLogError).code).toBe('ERR_CLOSED');
      }
      expect(acked.length + refusals.length).toBe(200);
      expect(acked.every((a) => a.seq < 150), 'nothing issued after close() is acknowledged').toBe(true);

      const reopened = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, flushDiskType, writeMode });
      try {
        for (const ack of acked) {
          const message = reopened.read(ack.physicalOffset);
          expect(seqOf(message), `seq ${ack.seq}`).toBe(ack.seq);
          expect(mismatch(message)).toBeUndefined();
        }
        if (process.env.MC_DURABILITY_VERBOSE) {
          let stored = 0;
          for await (const message of reopened.scan()) if ((seqOf(message) ?? 0) < 100_000) stored += 1;
          console.log(`[bad-input] close under load ${flushDiskType}/${writeMode}: ${acked.length} acknowledged, ${refusals.length} refused, ${stored} stored (${stored - acked.length} refused with ERR_CLOSED yet stored)`);
        }
      } finally {
        await reopened.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});

afterAll(() => recordSoakCounters('bad-input', { cases: casesRun }));
