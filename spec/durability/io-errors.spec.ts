/**
 * Errors from the world: ENOSPC and EIO at every native call site the
 * CommitLog uses, for SYNC_FLUSH and ASYNC_FLUSH × mapped and direct.
 *
 * Call sites are named by call *and* file (spec/durability/helpers/
 * site-faults.ts): "the pwrite of the checkpoint", "the fallocate of a new
 * segment". Each site is failed for good (every call from then on), either
 * while the store runs (a workload rolls several segments and outlives two
 * thorough checkpoints after the injection) or just before close(). What
 * must hold:
 *
 * - every append that fails, fails with a CommitLogError: ERR_STORE_POISONED
 *   whose `cause` is the original ERR_DISK_FULL (ENOSPC) / ERR_IO (EIO), or
 *   that original error itself (a segment that could not be created);
 * - once the store is poisoned, every later append is refused with the
 *   poison, and poisonedBy names the original error;
 * - the failure never goes unnoticed: when the site failed, the store is
 *   poisoned, an append failed, or close() rejected;
 * - close() settles (resolves, or rejects with the poison / the error);
 * - after reopening with the failures cleared: under SYNC_FLUSH, after a
 *   power cut that drops everything unsynced, every append acknowledged
 *   PUT_OK is there, byte-identical (none was acknowledged without being
 *   durable); under ASYNC_FLUSH every acknowledged append is readable. The
 *   recovered log scans clean, in order.
 *
 * Then: every native call of open() failed in turn (one-shot, by call and
 * index), on a clean and on a crashed store; seeded one-shot failures at
 * random sites; a genuine ENOSPC on a tiny tmpfs where the machine allows
 * mounting one (root); and two pinned bugs (it.fails).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN, type FlushDiskType, type OptionsInput, type WriteMode } from '../../lib/config.js';
import { CommitLogError, type CommitLogErrorCode } from '../../lib/errors.js';
import type { StoredMessage } from '../../lib/format/message-codec.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import type { CorruptionReport } from '../../lib/recovery/recover.js';
import { ABORT_FILE_NAME } from '../../lib/store/abort-marker.js';
import { FaultNativeIO, type FaultableCall } from '../helpers/fault-native-io.js';
import type { NativeIO } from '../../lib/native/native-io.js';
import { SeededRandom, seededRandomForTest } from '../helpers/seeded-random.js';
import { SiteFaults, type Site, type SiteCall, type SiteRule } from './helpers/site-faults.js';
import { memoryTmpDir, snapshotStore, writeSnapshot, type StoreSnapshot } from './helpers/store-files.js';
import { knownEngineBug, messageFor, mismatch, seqOf, withTimeout, yieldToLoop } from './helpers/workload.js';
import { recordSoakCounters } from './soak.js';

const SEGMENT = 16 * 1024;
const OPTIONS: Omit<OptionsInput, 'storePathCommitLog'> = {
  ...TEST_MIN,
  mappedFileSizeCommitLog: SEGMENT,
  maxMessageSize: 4 * 1024,
  flushCommitLogThoroughInterval: 20,
  commitCommitLogThoroughInterval: 10,
};
/** Bodies stay below maxMessageSize with their headers. */
const BODY_MAX = 3000;
const THOROUGH_MS = 20;
/** The workload after an injection: at least this many bytes (several rolls) and this long (several thorough checkpoints). */
const WORKLOAD_BYTES_MIN = 4 * SEGMENT;
const WORKLOAD_MS_MIN = 6 * THOROUGH_MS;
const WORKLOAD_MS_MAX = 3_000;
const SETTLE_MAX_MS = 10_000;

const ERRNOS = ['ENOSPC', 'EIO'] as const;
type Errno = (typeof ERRNOS)[number];
const CODE_OF: Record<Errno, CommitLogErrorCode> = { ENOSPC: 'ERR_DISK_FULL', EIO: 'ERR_IO' };

const COMBINATIONS: Array<[FlushDiskType, WriteMode]> = [
  ['SYNC_FLUSH', 'mapped'],
  ['SYNC_FLUSH', 'direct'],
  ['ASYNC_FLUSH', 'mapped'],
  ['ASYNC_FLUSH', 'direct'],
];

interface SiteCase {
  call: SiteCall | readonly SiteCall[];
  site: Site;
  /** What the engine does there. */
  what: string;
  modes: readonly WriteMode[];
  /** Only under these flush types (all when absent). */
  flushTypes?: readonly FlushDiskType[];
  phases: ReadonlyArray<'running' | 'close'>;
  /** The engine absorbs this failure by design (an optimisation it falls back from): nothing may surface, nothing is lost. */
  absorbed?: boolean;
}

/** The sites a store of `flushDiskType` / `writeMode` exercises. */
function sitesFor(flushDiskType: FlushDiskType, writeMode: WriteMode): SiteCase[] {
  return SITES.filter((site) => site.modes.includes(writeMode) && (site.flushTypes?.includes(flushDiskType) ?? true));
}

const BOTH: readonly WriteMode[] = ['mapped', 'direct'];

function callName(site: SiteCase): string {
  return typeof site.call === 'string' ? site.call : site.call.join('|');
}
const SITES: readonly SiteCase[] = [
  { call: 'openFile', site: 'segment', what: 'creating the next segment', modes: BOTH, phases: ['running'] },
  { call: 'truncate', site: 'segment', what: 'sizing a new segment', modes: BOTH, phases: ['running'] },
  { call: 'fallocate', site: 'segment', what: 'reserving a new segment’s blocks', modes: BOTH, phases: ['running'] },
  { call: 'mapShared', site: 'segment', what: 'mapping a new segment', modes: BOTH, phases: ['running'] },
  { call: 'syncDirectory', site: 'directory', what: 'making new names durable (segments, table, abort marker removal)', modes: BOTH, phases: ['running', 'close'] },
  // Mapped mode flushes with msync, or with fdatasync once a SYNC_FLUSH warm-up wrote the segment back (which one depends on timing).
  { call: ['msync', 'fdatasync'], site: 'segment', what: 'flushing (mapped)', modes: ['mapped'], phases: ['running', 'close'] },
  { call: 'pwrite', site: 'segment', what: 'committing (direct; under SYNC_FLUSH also flushing, through O_DSYNC)', modes: ['direct'], phases: ['running', 'close'] },
  { call: 'fdatasync', site: 'segment', what: 'flushing (direct)', modes: ['direct'], flushTypes: ['ASYNC_FLUSH'], phases: ['running', 'close'] },
  // A SYNC_FLUSH direct store's groups write and sync in one pwrite through O_DSYNC (the pwrite row): while
  // running, the segment's own fdatasync comes only with groups over 256 KiB, so a row for it would hang on timing.
  { call: 'fdatasync', site: 'segment', what: 'flushing at close (direct)', modes: ['direct'], flushTypes: ['SYNC_FLUSH'], phases: ['close'] },
  { call: 'openDataSyncFile', site: 'segment', what: 'opening a segment’s O_DSYNC descriptor (groups fall back to pwrite + fdatasync)', modes: ['direct'], flushTypes: ['SYNC_FLUSH'], phases: ['running'], absorbed: true },
  { call: 'pwrite', site: 'checkpoint', what: 'writing the checkpoint', modes: BOTH, phases: ['running', 'close'] },
  { call: 'fdatasync', site: 'checkpoint', what: 'syncing the checkpoint', modes: BOTH, phases: ['running', 'close'] },
  { call: 'openFile', site: 'topic-queue-table', what: 'creating the table’s temporary file', modes: BOTH, phases: ['running', 'close'] },
  { call: 'truncate', site: 'topic-queue-table', what: 'emptying the table’s temporary file', modes: BOTH, phases: ['running'] },
  { call: 'pwrite', site: 'topic-queue-table', what: 'writing the table', modes: BOTH, phases: ['running'] },
  { call: 'fdatasync', site: 'topic-queue-table', what: 'syncing the table', modes: BOTH, phases: ['running'] },
  { call: 'closeFile', site: 'topic-queue-table', what: 'closing the table’s temporary file', modes: BOTH, phases: ['running'] },
  { call: 'unlink', site: 'abort', what: 'removing the abort marker', modes: BOTH, phases: ['close'] },
  { call: 'closeFile', site: 'lock', what: 'releasing the directory lock', modes: BOTH, phases: ['close'] },
];

interface Ack {
  seq: number;
  physicalOffset: number;
  size: number;
}

interface Totals {
  cases: number;
  /** Errors explained by a known, pinned engine bug (workload.ts KNOWN_ENGINE_BUGS). */
  knownBugs: number;
  acknowledged: number;
  lost: number;
  corruptReads: number;
}
const totals: Totals = { cases: 0, knownBugs: 0, acknowledged: 0, lost: 0, corruptReads: 0 };
afterAll(() => {
  recordSoakCounters('io-errors', totals);
  if (process.env.MC_DURABILITY_VERBOSE) console.log(`[io-errors] ${JSON.stringify(totals)}`);
});

/** The CommitLogError codes along `err`'s cause chain. */
function codeChain(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = (e as Error & { cause?: unknown }).cause, depth += 1) {
    if (e instanceof CommitLogError) codes.push(e.code);
  }
  return codes;
}

/** Whether `err` is what an injected `code` may surface as: ERR_STORE_POISONED caused by `code`, or `code` itself. */
function isInjected(err: unknown, code: CommitLogErrorCode): boolean {
  const chain = codeChain(err);
  return err instanceof CommitLogError && (chain[0] === code || (chain[0] === 'ERR_STORE_POISONED' && chain[1] === code));
}

function expectInjected(err: unknown, code: CommitLogErrorCode, label: string): void {
  if (isInjected(err, code)) return;
  if (knownEngineBug(err) !== undefined) {
    totals.knownBugs += 1; // pinned below; the other checks go on
    return;
  }
  expect.soft(err, `${label}: ${String(err)}`).toBeInstanceOf(CommitLogError);
  expect(codeChain(err).join(' ← '), `${label}: ${String(err)}`).toBe(`${code} (or ERR_STORE_POISONED ← ${code})`);
}

interface WorkloadState {
  nextSeq: number;
  acks: Ack[];
  errors: Array<{ err: unknown; issuedPoisoned: boolean; closing: boolean }>;
  /** Set when close() starts: later errors are of appends close settled. */
  closing: boolean;
  /** Appends issued after the store was poisoned that were acknowledged anyway: must stay 0. */
  putOkAfterPoison: number;
  refusedAfterPoison: number;
}

function newState(): WorkloadState {
  return { nextSeq: 0, acks: [], errors: [], closing: false, putOkAfterPoison: 0, refusedAfterPoison: 0 };
}

/** Issues 1–6 appends and batches at once; resolves when all settled (never rejects); `bytes` is what was issued. */
function issueBurst(log: CommitLog, state: WorkloadState, random: SeededRandom): { settled: Promise<void>; bytes: number } {
  const burst: Array<Promise<void>> = [];
  let bytes = 0;
  for (let item = random.nextIntBetween(1, 6); item > 0; item -= 1) {
    const poisonedAtIssue = log.poisonedBy !== undefined;
    const count = random.chance(0.25) ? random.nextIntBetween(2, 4) : 1;
    const seqs = Array.from({ length: count }, () => state.nextSeq++);
    const messages = seqs.map((seq) => messageFor(seq, BODY_MAX));
    bytes += messages.reduce((sum, m) => sum + m.body.length + 130, 0);
    const onOk = (status: string, acks: Ack[]) => {
      if (poisonedAtIssue) state.putOkAfterPoison += 1;
      if (status === 'PUT_OK') state.acks.push(...acks);
    };
    const onError = (err: unknown) => {
      state.errors.push({ err, issuedPoisoned: poisonedAtIssue, closing: state.closing });
      if (poisonedAtIssue) state.refusedAfterPoison += 1;
    };
    burst.push(
      count === 1
        ? log.append(messages[0]!).then((r) => onOk(r.status, [{ seq: seqs[0]!, physicalOffset: r.physicalOffset, size: r.size }]), onError)
        : log.appendBatch(messages).then((r) => onOk(r.status, r.messages.map((m, k) => ({ seq: seqs[k]!, physicalOffset: m.physicalOffset, size: m.size }))), onError),
    );
  }
  return { settled: withTimeout(Promise.all(burst).then(() => undefined), SETTLE_MAX_MS, 'a burst of appends settles'), bytes };
}

/** Appends in bursts until enough was written and long enough passed, or the poisoned store refused twice, or time ran out. */
async function workload(log: CommitLog, state: WorkloadState, random: SeededRandom, minBytes: number, minMs: number): Promise<void> {
  const started = performance.now();
  let bytes = 0;
  while (performance.now() - started < WORKLOAD_MS_MAX) {
    if (state.refusedAfterPoison >= 2) break;
    if (performance.now() - started >= minMs && bytes >= minBytes) break;
    const burst = issueBurst(log, state, random);
    bytes += burst.bytes;
    await burst.settled;
    await yieldToLoop();
  }
}

/** Reads every acknowledged message back; returns how many are missing or wrong. */
function checkAcks(log: CommitLog, acks: readonly Ack[], label: string, bodyMax = BODY_MAX): { lost: number; corrupt: number } {
  let lost = 0;
  let corrupt = 0;
  for (const ack of acks) {
    let message: StoredMessage | undefined;
    try {
      message = log.read(ack.physicalOffset);
    } catch {
      message = undefined;
    }
    if (message === undefined || seqOf(message) !== ack.seq) lost += 1;
    else if (mismatch(message, bodyMax) !== undefined) corrupt += 1;
    expect(message && seqOf(message), `${label}: acknowledged seq ${ack.seq} at ${ack.physicalOffset}`).toBe(ack.seq);
    expect(mismatch(message!, bodyMax), label).toBeUndefined();
  }
  return { lost, corrupt };
}

async function scanClean(log: CommitLog, label: string): Promise<StoredMessage[]> {
  const messages: StoredMessage[] = [];
  for await (const message of log.scan({ verify: true })) {
    expect(mismatch(message, BODY_MAX), `${label}: scanned message at ${message.physicalOffset}`).toBeUndefined();
    messages.push(message);
  }
  const seqs = messages.map((m) => seqOf(m)!);
  expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!), `${label}: seqs increase along the log`).toBe(true);
  return messages;
}

/**
 * The store reopened with failures cleared (SYNC: first a power cut that
 * keeps nothing unsynced): recovery reports nothing, every acknowledged
 * message is there and intact, and a verified scan is clean.
 */
async function reopenAndCheck(twin: FaultNativeIO, native: NativeIO, directory: string, flushDiskType: FlushDiskType, writeMode: WriteMode, state: WorkloadState, label: string): Promise<void> {
  if (flushDiskType === 'SYNC_FLUSH') await twin.crash();
  const reports: CorruptionReport[] = [];
  const reopened = await CommitLog.open({ ...OPTIONS, storePathCommitLog: directory, native, flushDiskType, writeMode, onCorruption: (r) => reports.push(r) });
  try {
    expect(reports, `${label}: recovery reports nothing`).toEqual([]);
    const { lost, corrupt } = checkAcks(reopened, state.acks, label);
    totals.lost += lost;
    totals.corruptReads += corrupt;
    await scanClean(reopened, label);
  } finally {
    await reopened.close();
  }
}

/** One site failed for good while running or at close, then the checks of the header. */
async function siteScenario(flushDiskType: FlushDiskType, writeMode: WriteMode, site: SiteCase, phase: 'running' | 'close', errno: Errno, seed: number): Promise<void> {
  const label = `${flushDiskType}/${writeMode}: ${callName(site)}@${site.site} (${site.what}) fails with ${errno} ${phase === 'running' ? 'while running' : 'at close'}`;
  const code = CODE_OF[errno];
  const dir = memoryTmpDir('mc-ioerr-');
  const random = new SeededRandom(seed);
  const twin = new FaultNativeIO({ random: new SeededRandom(random.nextUint32()) });
  const faults = new SiteFaults(twin);
  const state = newState();
  totals.cases += 1;
  try {
    const log = await CommitLog.open({ ...OPTIONS, storePathCommitLog: dir.path, native: faults, flushDiskType, writeMode });
    // A warm-up that must go through: a segment and a half, acknowledged.
    await workload(log, state, random, 1.5 * SEGMENT, 0);
    expect(state.errors.filter((e) => knownEngineBug(e.err) === undefined).map((e) => String(e.err)), `${label}: warm-up`).toEqual([]);
    totals.knownBugs += state.errors.length;
    state.errors.length = 0;
    const rule: SiteRule = { call: site.call, site: site.site, errno };
    let closeError: unknown;
    if (phase === 'running') {
      faults.fail(rule);
      await workload(log, state, random, WORKLOAD_BYTES_MIN, WORKLOAD_MS_MIN);
      const poison = log.poisonedBy;
      if (poison !== undefined) {
        const refused = await log.append(messageFor(state.nextSeq++, BODY_MAX)).then(() => undefined, (err: unknown) => err);
        expect(refused, `${label}: a poisoned store refuses appends`).toBeInstanceOf(CommitLogError);
        expect((refused as CommitLogError).code, label).toBe('ERR_STORE_POISONED');
      }
      closeError = await withTimeout(log.close().then(() => undefined, (err: unknown) => err), SETTLE_MAX_MS, `${label}: close settles`);
    } else {
      await workload(log, state, random, 0.5 * SEGMENT, 0);
      // Appends still in flight when close starts, so close has bytes to commit and flush.
      const inFlight = issueBurst(log, state, random).settled;
      faults.fail(rule);
      state.closing = true;
      closeError = await withTimeout(log.close().then(() => undefined, (err: unknown) => err), SETTLE_MAX_MS, `${label}: close settles`);
      await inFlight;
    }
    for (const { err, issuedPoisoned, closing } of state.errors) {
      // Appends still waiting when close() starts may also settle as ERR_CLOSED (the close contract).
      if (closing && err instanceof CommitLogError && err.code === 'ERR_CLOSED') continue;
      expectInjected(err, code, `${label}: a failed append`);
      if (issuedPoisoned) expect(codeChain(err)[0], label).toBe('ERR_STORE_POISONED');
    }
    expect(state.putOkAfterPoison, `${label}: nothing issued after the poison is acknowledged`).toBe(0);
    const poison = log.poisonedBy;
    if (poison !== undefined) {
      expectInjected(poison, code, `${label}: poisonedBy`);
      expect(poison.code, label).toBe('ERR_STORE_POISONED');
    }
    if (closeError !== undefined) expectInjected(closeError, code, `${label}: close`);
    const calls: readonly SiteCall[] = typeof site.call === 'string' ? [site.call] : site.call;
    const injected = calls.reduce((sum, call) => sum + (faults.injected.get(`${call}@${site.site}`) ?? 0), 0);
    expect(injected, `${label}: the site was exercised`).toBeGreaterThan(0);
    if (site.absorbed === true) {
      expect(poison, `${label}: an absorbed failure poisons nothing`).toBeUndefined();
      expect(state.errors, `${label}: an absorbed failure fails no append`).toEqual([]);
      expect(closeError, `${label}: an absorbed failure fails no close`).toBeUndefined();
    } else {
      const surfaced = poison !== undefined || state.errors.some(({ err }) => isInjected(err, code)) || closeError !== undefined;
      expect(surfaced, `${label}: ${injected} failed calls went unnoticed`).toBe(true);
    }
    totals.acknowledged += state.acks.length;

    // Reopen, failures cleared. SYNC: first a power cut that keeps nothing unsynced.
    faults.clear();
    await reopenAndCheck(twin, new SiteFaults(twin), dir.path, flushDiskType, writeMode, state, label);
  } finally {
    dir.cleanup();
  }
}

describe.each(COMBINATIONS)('I/O errors: %s / %s', (flushDiskType, writeMode) => {
  const cases = sitesFor(flushDiskType, writeMode).flatMap((site) =>
    site.phases.flatMap((phase) => ERRNOS.map((errno) => ({ site, phase, errno, name: `${callName(site)}@${site.site} ${phase === 'running' ? 'while running' : 'at close'}: ${errno}` }))),
  );
  it.each(cases)('$name', async ({ site, phase, errno }) => {
    const random = seededRandomForTest();
    await siteScenario(flushDiskType, writeMode, site, phase, errno, random.seed);
  });

  it('survives seeded one-shot failures at random sites', async () => {
    const random = seededRandomForTest();
    const sites = sitesFor(flushDiskType, writeMode).filter((site) => site.phases.includes('running'));
    for (let round = 0; round < 6; round += 1) {
      const site = random.pick(sites);
      const errno = random.pick(ERRNOS);
      const nth = random.nextIntBetween(1, 3);
      const label = `round ${round}: ${callName(site)}@${site.site} fails once (call ${nth}) with ${errno}`;
      const code = CODE_OF[errno];
      const dir = memoryTmpDir('mc-ioerr-once-');
      const twin = new FaultNativeIO({ random: new SeededRandom(random.nextUint32()) });
      const faults = new SiteFaults(twin);
      const state = newState();
      totals.cases += 1;
      try {
        const log = await CommitLog.open({ ...OPTIONS, storePathCommitLog: dir.path, native: faults, flushDiskType, writeMode });
        await workload(log, state, random, SEGMENT, 0);
        faults.fail({ call: site.call, site: site.site, errno, nth });
        await workload(log, state, random, WORKLOAD_BYTES_MIN, WORKLOAD_MS_MIN);
        for (const { err } of state.errors) expectInjected(err, code, label);
        expect(state.putOkAfterPoison, label).toBe(0);
        const closeError = await withTimeout(log.close().then(() => undefined, (err: unknown) => err), SETTLE_MAX_MS, `${label}: close settles`);
        if (closeError !== undefined) expectInjected(closeError, code, `${label}: close`);
        totals.acknowledged += state.acks.length;
        faults.clear();
        await reopenAndCheck(twin, twin, dir.path, flushDiskType, writeMode, state, label);
      } finally {
        dir.cleanup();
      }
    }
  });
});

describe.each<WriteMode>(['mapped', 'direct'])('open with each native call failing in turn (%s)', (writeMode) => {
  let work: ReturnType<typeof memoryTmpDir>;
  const stores = new Map<'clean' | 'crashed', { files: StoreSnapshot; seqs: number[] }>();

  beforeAll(async () => {
    work = memoryTmpDir('mc-ioerr-open-');
    const source = join(work.path, 'source');
    const log = await CommitLog.open({ ...OPTIONS, storePathCommitLog: source, writeMode, flushDiskType: 'SYNC_FLUSH' });
    const seqs: number[] = [];
    for (let seq = 0; log.maxOffset < 2.5 * SEGMENT; seq += 1) {
      await log.append(messageFor(seq, BODY_MAX));
      seqs.push(seq);
    }
    const end = log.maxOffset;
    await log.close();
    const clean = snapshotStore(source);
    stores.set('clean', { files: clean, seqs });
    // A crashed store: abort marker, a stale checkpoint, and a torn record after the data, for recovery to cut.
    const crashed: StoreSnapshot = new Map([...clean].map(([name, bytes]) => [name, Buffer.from(bytes)]));
    const last = crashed.get(segmentFileName(end - (end % SEGMENT)))!;
    Buffer.from('torn record, not zeros', 'utf8').copy(last, (end % SEGMENT) + 8);
    crashed.set(ABORT_FILE_NAME, Buffer.alloc(0));
    const { encodeCheckpoint } = await import('../../lib/format/checkpoint-codec.js');
    crashed.set('checkpoint', encodeCheckpoint({ flushedOffset: SEGMENT / 2, lastFlushStoreTimestamp: 0, writtenAt: Date.now() }));
    crashed.delete('topic-queue-table');
    stores.set('crashed', { files: crashed, seqs });
  });
  afterAll(() => work?.cleanup());

  it.each(['clean', 'crashed'] as const)('a %s store: every call of open fails once, in turn, with ENOSPC and EIO', async (kind) => {
    const { files, seqs } = stores.get(kind)!;
    // Count the calls a successful open makes.
    const probeDir = join(work.path, `${kind}-probe`);
    writeSnapshot(files, probeDir);
    const probe = new FaultNativeIO({ random: new SeededRandom(1) });
    const counted = await CommitLog.open({ ...OPTIONS, storePathCommitLog: probeDir, native: probe, writeMode, flushDiskType: 'SYNC_FLUSH' });
    const calls = new Map<FaultableCall, number>();
    for (const call of ['openFile', 'closeFile', 'fileSize', 'truncate', 'unlink', 'syncDirectory', 'mapShared', 'mapAnonymous', 'releaseMapping', 'fallocate', 'populateWrite', 'warmWriteBack', 'writeBack', 'msync', 'fdatasync', 'pwrite', 'mlock', 'lockExclusive'] as const) {
      if (probe.calls(call) > 0) calls.set(call, probe.calls(call));
    }
    await counted.close();
    expect(calls.size).toBeGreaterThan(5);

    let failedOpens = 0;
    for (const [call, count] of calls) {
      for (let nth = 1; nth <= count; nth += 1) {
        for (const errno of ERRNOS) {
          const label = `${kind} store, ${writeMode}: ${call} #${nth} of open fails with ${errno}`;
          const dir = join(work.path, `${kind}-${call}-${nth}-${errno}`);
          writeSnapshot(files, dir);
          const twin = new FaultNativeIO({ random: new SeededRandom(nth) });
          twin.failOn(call, { nth, errno });
          totals.cases += 1;
          let log: CommitLog | undefined;
          try {
            log = await CommitLog.open({ ...OPTIONS, storePathCommitLog: dir, native: twin, writeMode, flushDiskType: 'SYNC_FLUSH' });
          } catch (err) {
            failedOpens += 1;
            expectInjected(err, CODE_OF[errno], label);
          }
          twin.clearFailures();
          await log?.close();
          // The store is as good as before: it opens, nothing is reported, every message is there.
          const reports: CorruptionReport[] = [];
          const reopened = await CommitLog.open({ ...OPTIONS, storePathCommitLog: dir, writeMode, flushDiskType: 'SYNC_FLUSH', onCorruption: (r) => reports.push(r) });
          try {
            expect(reports, label).toEqual([]);
            const scanned = await scanClean(reopened, label);
            expect(scanned.map((m) => seqOf(m)), label).toEqual(seqs);
          } finally {
            await reopened.close();
          }
        }
      }
    }
    if (process.env.MC_DURABILITY_VERBOSE) console.log(`[io-errors] ${kind} store, ${writeMode}: open makes ${JSON.stringify(Object.fromEntries(calls))}; ${failedOpens} of ${2 * [...calls.values()].reduce((a, b) => a + b, 0)} injected failures failed the open`);
    expect(failedOpens).toBeGreaterThan(0);
  });
});

// --- a real ENOSPC ------------------------------------------------------------------

/** Mounts a tmpfs of `sizeBytes` at a fresh directory, or says why it cannot. */
function tryMountTmpfs(sizeBytes: number): { path: string } | { reason: string } {
  if (process.platform !== 'linux') return { reason: 'not Linux' };
  if (process.getuid?.() !== 0) return { reason: 'mounting a tmpfs needs root' };
  const path = mkdtempSync(join(tmpdir(), 'mc-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', path], { stdio: 'pipe' });
    return { path };
  } catch (err) {
    rmdirSync(path);
    return { reason: `mount -t tmpfs failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}` };
  }
}

const TMPFS_SIZE_BYTES = 1536 * 1024;
const TMPFS_SEGMENT = 256 * 1024;
const tmpfsUnavailable = process.platform !== 'linux' ? 'not Linux' : process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : '';

describe(`a genuine ENOSPC on a ${TMPFS_SIZE_BYTES / 1024} KiB tmpfs${tmpfsUnavailable ? ` (skipped: ${tmpfsUnavailable})` : ''}`, () => {
  // Mounted by the suite's own hook, not while the file is collected: a run that filters
  // these tests out (or never reaches them) left its mount behind.
  let tmpfs: { path: string } | { reason: string } = { reason: tmpfsUnavailable };
  beforeAll(() => {
    tmpfs = tryMountTmpfs(TMPFS_SIZE_BYTES);
  });
  afterAll(() => {
    if ('path' in tmpfs) {
      execFileSync('umount', [tmpfs.path], { stdio: 'pipe' });
      rmdirSync(tmpfs.path);
    }
  });

  it.skipIf(tmpfsUnavailable !== '').for<[FlushDiskType, WriteMode]>([
    ['SYNC_FLUSH', 'mapped'],
    ['ASYNC_FLUSH', 'direct'],
  ])('%s / %s: fills the disk, fails with ERR_DISK_FULL, keeps every acknowledged message', async ([flushDiskType, writeMode], context) => {
    if ('reason' in tmpfs) context.skip(tmpfs.reason);
    const mount = (tmpfs as { path: string }).path;
    const store = join(mount, `${flushDiskType}-${writeMode}`);
    const options = { ...TEST_MIN, mappedFileSizeCommitLog: TMPFS_SEGMENT, maxMessageSize: 16 * 1024, storePathCommitLog: store, flushDiskType, writeMode };
    const log = await CommitLog.open(options);
    const acks: Ack[] = [];
    let failure: unknown;
    for (let seq = 0; seq < 10_000 && failure === undefined; seq += 1) {
      try {
        const r = await log.append(messageFor(seq, 12_000));
        if (r.status === 'PUT_OK') acks.push({ seq, physicalOffset: r.physicalOffset, size: r.size });
      } catch (err) {
        failure = err;
      }
    }
    expect(failure, 'the disk fills up').toBeDefined();
    expectInjected(failure, 'ERR_DISK_FULL', 'the first failed append');
    // Still full: appends keep failing with a coded error, nothing acknowledged.
    const again = await log.append(messageFor(1_000_000, 12_000)).then(() => undefined, (err: unknown) => err);
    expectInjected(again, 'ERR_DISK_FULL', 'an append on a full disk');
    const closeError = await withTimeout(log.close().then(() => undefined, (err: unknown) => err), SETTLE_MAX_MS, 'close on a full disk');
    if (closeError !== undefined) expectInjected(closeError, 'ERR_DISK_FULL', 'close on a full disk');
    totals.cases += 1;
    totals.acknowledged += acks.length;

    // Room again: everything acknowledged is there.
    execFileSync('mount', ['-o', `remount,size=${4 * TMPFS_SIZE_BYTES}`, mount], { stdio: 'pipe' });
    try {
      const reports: CorruptionReport[] = [];
      const reopened = await CommitLog.open({ ...options, onCorruption: (r) => reports.push(r) });
      try {
        expect(reports).toEqual([]);
        const { lost, corrupt } = checkAcks(reopened, acks, `${flushDiskType}/${writeMode} after ENOSPC`, 12_000);
        totals.lost += lost;
        totals.corruptReads += corrupt;
        expect((await reopened.append(messageFor(2_000_000, 100))).status).toBe('PUT_OK');
      } finally {
        await reopened.close();
      }
    } finally {
      rmSync(store, { recursive: true, force: true });
      execFileSync('mount', ['-o', `remount,size=${TMPFS_SIZE_BYTES}`, mount], { stdio: 'pipe' });
    }
    expect(existsSync(store)).toBe(false);
  });
});

// --- pinned bugs ---------------------------------------------------------------------

describe('engine bugs found by these specs (fixed; kept as regression tests)', () => {
  /**
   * BUG (lib/commit-log.ts append() fast path, 62e7ebf): a fast-path append
   * registers its flush (or commit) waiter synchronously, inside append();
   * appendBatch() and queued appends register theirs only after
   * `await this.write()`. An appendBatch followed in the same tick by an
   * append therefore registers a later end offset first, and
   * OffsetWaiters.wait asserts 'waiters arrive in offset order': the batch
   * rejects with an AssertionError although it was written (and will be
   * flushed). Under SYNC_FLUSH, and in direct mode under either policy.
   */
  it.each<[FlushDiskType, WriteMode]>([
    ['SYNC_FLUSH', 'mapped'],
    ['ASYNC_FLUSH', 'direct'],
  ])('a batch and an append issued in one tick both settle (%s / %s)', async (flushDiskType, writeMode) => {
    const dir = memoryTmpDir('mc-waiters-');
    const log = await CommitLog.open({ ...OPTIONS, storePathCommitLog: dir.path, flushDiskType, writeMode });
    try {
      const batch = log.appendBatch([messageFor(1, BODY_MAX), messageFor(2, BODY_MAX)]);
      const single = log.append(messageFor(3, BODY_MAX));
      const outcomes = await Promise.allSettled([batch, single]);
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.status : String(o.reason)))).toEqual(['PUT_OK', 'PUT_OK']);
    } finally {
      await log.close().catch(() => undefined);
      dir.cleanup();
    }
  });

  /**
   * Regression test. Found by the seeded one-shot test above (and by the
   * power-cut and kill -9 specs): after 7382cc9, MappedFileQueue.advance()
   * bounded its rounds by the segments holding data when it started, but
   * each step flushes up to where the segment is *now*; when appends filled
   * the segment holding `end` during the awaits, the round that would notice
   * the end was one too many: `assert(false, 'commit/flush visits each
   * segment at most once')` poisoned the store with no I/O error at all.
   * Fixed in 3a8da64.
   *
   * Here: segment 0 flushed to S - 100 and then filled; segment 1 holds 10
   * bytes (end = S + 10); while the flush of segment 0 waits in msync,
   * segment 1 is filled and segment 2 started.
   */
  it('a flush racing segment rolls ends without an assertion', async () => {
    const { MappedFileQueue } = await import('../../lib/store/mapped-file-queue.js');
    const { MappedFile } = await import('../../lib/store/mapped-file.js');
    const { writeStrategyFactory } = await import('../../lib/strategy/index.js');
    const { realNativeIO } = await import('../../lib/native/index.js');
    const { ForwardingNativeIO } = await import('./helpers/forwarding-native-io.js');
    class GatedMsync extends ForwardingNativeIO {
      gate: Promise<void> | undefined;
      entered: (() => void) | undefined;
      override async msync(mapping: Buffer, position: number, length: number, fd?: number): Promise<void> {
        const gate = this.gate;
        this.gate = undefined;
        if (gate !== undefined) {
          this.entered?.();
          await gate;
        }
        return super.msync(mapping, position, length, fd);
      }
    }
    const dir = memoryTmpDir('mc-advance-');
    const io = new GatedMsync(realNativeIO());
    const queue = new MappedFileQueue({ native: io, directory: dir.path, fileSizeBytes: SEGMENT, strategyFactory: writeStrategyFactory({ mode: 'mapped' }), warm: false });
    const take = async () => {
      const file = queue.lastMappedFileForAppend();
      return file instanceof MappedFile ? file : await file;
    };
    try {
      const first = await take();
      first.append(Buffer.alloc(SEGMENT - 100, 1));
      await queue.flush(0);
      first.append(Buffer.alloc(100, 2));
      const second = await take();
      second.append(Buffer.alloc(10, 3));
      let release!: () => void;
      io.gate = new Promise<void>((resolve) => (release = resolve));
      const entered = new Promise<void>((resolve) => (io.entered = resolve));
      const flushing = queue.flush(0).then(() => undefined, (err: unknown) => err);
      await entered;
      second.append(Buffer.alloc(SEGMENT - 10, 4));
      (await take()).append(Buffer.alloc(10, 5));
      release();
      expect(await flushing).toBeUndefined();
      expect(queue.flushedWhere).toBeGreaterThanOrEqual(SEGMENT + 10);
    } finally {
      await queue.close();
      dir.cleanup();
    }
  });

  /**
   * BUG (lib/commit-log.ts CommitLog.flush): a flush() that fails (EIO from
   * msync/fdatasync) rejects with ERR_IO but does not poison the store. The
   * next append is acknowledged and a retried flush "succeeds" — on Linux,
   * after a writeback error the retry can report success without the lost
   * pages (the fsyncgate pattern the design forbids: "ENOSPC/EIO on flush
   * poison the store, no silent retry"). The background services poison on
   * the same error; the public flush() must too.
   */
  it('a failed flush() poisons the store', async () => {
    const dir = memoryTmpDir('mc-ioerr-flush-');
    const twin = new FaultNativeIO({ random: new SeededRandom(7) });
    const log = await CommitLog.open({ ...OPTIONS, storePathCommitLog: dir.path, native: twin, flushIntervalCommitLog: 60_000, flushCommitLogThoroughInterval: 60_000 });
    try {
      await log.append(messageFor(1, BODY_MAX));
      twin.failOn('msync', { nth: 1, errno: 'EIO' });
      const flushError = await log.flush().then(() => undefined, (err: unknown) => err);
      expectInjected(flushError, 'ERR_IO', 'flush()');
      expect(log.poisonedBy?.code).toBe('ERR_STORE_POISONED');
      const next = await log.append(messageFor(2, BODY_MAX)).then(() => undefined, (err: unknown) => err);
      expect((next as CommitLogError | undefined)?.code).toBe('ERR_STORE_POISONED');
    } finally {
      await log.close().catch(() => undefined);
      dir.cleanup();
    }
  });

  /**
   * BUG (lib/commit-log.ts CommitLog.write, the placeAsync path): appendBatch
   * encodes and advances message by message; when a roll in the middle of a
   * batch fails (ERR_DISK_FULL from the new segment's fallocate), the batch
   * rejects but the messages written before the roll stay in the log:
   * readable at once, flushed and durable later, their queue offsets taken.
   * A consumer sees messages whose producer was told they failed (and will
   * resend them). A rejected batch should leave nothing readable.
   */
  it('a batch rejected by a failed roll leaves nothing readable', async () => {
    const dir = memoryTmpDir('mc-ioerr-batch-');
    const twin = new FaultNativeIO({ random: new SeededRandom(8) });
    const faults = new SiteFaults(twin);
    const log = await CommitLog.open({ ...OPTIONS, storePathCommitLog: dir.path, native: faults, warmMapedFileEnable: false });
    try {
      await log.append(messageFor(0, BODY_MAX));
      await new Promise((resolve) => setTimeout(resolve, 20)); // the next segment is prepared
      faults.fail({ call: 'fallocate', site: 'segment', errno: 'ENOSPC' });
      const before = log.maxOffset;
      const batch = Array.from({ length: 16 }, (_, k) => messageFor(7 * (k + 1), BODY_MAX)); // seqs ≡ 0 mod 7: 1.5–3 KB bodies, over two segments' worth
      const err = await log.appendBatch(batch).then(() => undefined, (e: unknown) => e);
      expectInjected(err, 'ERR_DISK_FULL', 'the batch');
      const scanned: number[] = [];
      for await (const m of log.scan({ from: 0 })) scanned.push(seqOf(m)!);
      expect({ maxOffset: log.maxOffset, scanned }).toEqual({ maxOffset: before, scanned: [0] });
    } finally {
      faults.clear();
      await log.close().catch(() => undefined);
      dir.cleanup();
    }
  });
});
