/**
 * The main job: `npm run bench`. Measures the machine's limits, then the
 * engine, in one run on a temporary store, and prints every engine figure
 * beside the limit that bounds it. Writes bench/results/<timestamp>.json
 * and .html (charts; opens from disk).
 *
 *   --quick        under a minute: 256 MiB segments, short runs
 *   --full         the long run: 8 GiB sustained appends, a 4 GiB store for reads and recovery
 *   --dir PATH     measure on another disk (default: a new directory under the OS temp dir)
 *   --mode LIST    async-mapped,async-direct,sync-mapped,sync-direct (default: all four)
 *   --size LIST    message body bytes (default 100,1024)
 *   --peers        also run the peer stores (lmdb, better-sqlite3, classic-level, fs) when installed
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FlushDiskType, WriteMode } from '../lib/index.js';
import { benchAppend, type AppendBenchResult } from './commit-log/append.bench.js';
import { benchReadRecovery } from './commit-log/read-recovery.bench.js';
import { Progress } from './harness/progress.js';
import { formatTable, percent, type Row } from './harness/table.js';
import { measureCopy, measureCrc32, measureDisk, measureFdatasyncLatency, type CopyLimit, type LatencyLimit } from './limits.js';
import { barChartSvg, groupedChartSvg, htmlPage, htmlTable } from './report/html.js';
import { benchQueue } from './store/mapped-file-queue.bench.js';
import { benchSegment } from './store/mapped-file.bench.js';
import { runPeers } from './peers/run-peers.js';

/** The two fdatasync probes a SYNC row is held to: a 4 KiB write, and a write the size of its group. */
interface FsyncProbes {
  page: LatencyLimit;
  group: LatencyLimit;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

type ModeName = 'async-mapped' | 'async-direct' | 'sync-mapped' | 'sync-direct';
const MODES: Record<ModeName, { flushDiskType: FlushDiskType; writeMode: WriteMode }> = {
  'async-mapped': { flushDiskType: 'ASYNC_FLUSH', writeMode: 'mapped' },
  'async-direct': { flushDiskType: 'ASYNC_FLUSH', writeMode: 'direct' },
  'sync-mapped': { flushDiskType: 'SYNC_FLUSH', writeMode: 'mapped' },
  'sync-direct': { flushDiskType: 'SYNC_FLUSH', writeMode: 'direct' },
};

interface Profile {
  name: 'quick' | 'default' | 'full';
  segmentBytes: number;
  diskProbeBytes: number;
  asyncBatchBytes: number;
  asyncSingleMessages: number;
  syncSecondsPerLevel: number;
  syncLevels: number[];
  storeBytes: number;
  randomReads: number;
  sustainedBytes: number;
}

const PROFILES: Record<Profile['name'], Profile> = {
  quick: { name: 'quick', segmentBytes: 256 * MiB, diskProbeBytes: 256 * MiB, asyncBatchBytes: 256 * MiB, asyncSingleMessages: 100_000, syncSecondsPerLevel: 0.5, syncLevels: [1, 16, 64, 256], storeBytes: 256 * MiB, randomReads: 100_000, sustainedBytes: 0 },
  default: { name: 'default', segmentBytes: GiB, diskProbeBytes: GiB, asyncBatchBytes: 2 * GiB, asyncSingleMessages: 500_000, syncSecondsPerLevel: 2, syncLevels: [1, 16, 64, 256], storeBytes: GiB, randomReads: 1_000_000, sustainedBytes: 0 },
  full: { name: 'full', segmentBytes: GiB, diskProbeBytes: GiB, asyncBatchBytes: 8 * GiB, asyncSingleMessages: 2_000_000, syncSecondsPerLevel: 5, syncLevels: [1, 16, 64, 256], storeBytes: 4 * GiB, randomReads: 2_000_000, sustainedBytes: 8 * GiB },
};

function parse() {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'all' },
      size: { type: 'string', default: '100,1024' },
      peers: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench -- [--quick | --full] [--dir PATH] [--mode async-mapped,async-direct,sync-mapped,sync-direct] [--size 100,1024] [--peers]');
    process.exit(0);
  }
  if (values.quick && values.full) throw new Error('--quick and --full exclude each other');
  const modes = (values.mode === 'all' ? Object.keys(MODES) : values.mode.split(',')) as ModeName[];
  for (const mode of modes) if (!(mode in MODES)) throw new Error(`--mode: unknown mode ${mode} (use ${Object.keys(MODES).join(', ')} or all)`);
  const sizes = values.size.split(',').map(Number);
  for (const size of sizes) if (!Number.isInteger(size) || size <= 0) throw new Error(`--size must list positive integers, got ${values.size}`);
  const profile = PROFILES[values.quick ? 'quick' : values.full ? 'full' : 'default'];
  return { dir: values.dir, profile, modes, sizes, peers: values.peers };
}

const gb = (bytesPerSecond: number) => bytesPerSecond / 1e9;
const mb = (bytes: number) => Math.round(bytes / MiB);

/** Messages per second a copy + a CRC of each message allows on one core. */
function copyPlusCrc(copy: CopyLimit, crc: CopyLimit): CopyLimit {
  const messagesPerSecond = 1 / (1 / copy.messagesPerSecond + 1 / crc.messagesPerSecond);
  return { messagesPerSecond, bytesPerSecond: 1 / (1 / copy.bytesPerSecond + 1 / crc.bytesPerSecond) };
}

async function main(): Promise<void> {
  const args = parse();
  const { profile } = args;
  const root = mkdtempSync(join(args.dir ?? tmpdir(), 'mapped-commitlog-bench-'));
  const startedAt = new Date();
  const asyncModes = args.modes.filter((m) => m.startsWith('async'));
  const syncModes = args.modes.filter((m) => m.startsWith('sync'));
  const writeModes = [...new Set(args.modes.map((m) => MODES[m].writeMode))];
  const steps = 1 + writeModes.length + asyncModes.length * args.sizes.length * 2 + syncModes.length * (profile.syncLevels.length + 1) + 1 + (profile.sustainedBytes > 0 ? 2 * writeModes.length : 0) + (args.peers ? 1 : 0);
  const progress = new Progress(steps);
  try {
    process.stderr.write(`bench: profile ${profile.name}, store under ${root}, segments of ${mb(profile.segmentBytes)} MiB\n`);

    // --- limits -------------------------------------------------------------------
    progress.start('machine limits: copy, crc32, page-cache write, writeback, fdatasync latency');
    const copy = new Map(args.sizes.map((size) => [size, measureCopy(size)]));
    const crc = new Map(args.sizes.map((size) => [size, measureCrc32(size)]));
    const disk = measureDisk(root, profile.diskProbeBytes);
    const fsyncLatency = measureFdatasyncLatency(root);
    const limitRows: Row[] = [
      ...args.sizes.map((size) => ({ limit: `Buffer.copy of ${size} B messages`, 'GB/s': gb(copy.get(size)!.bytesPerSecond), 'msg/s': Math.round(copy.get(size)!.messagesPerSecond) })),
      ...args.sizes.map((size) => ({ limit: `zlib.crc32 of ${size} B messages`, 'GB/s': gb(crc.get(size)!.bytesPerSecond), 'msg/s': Math.round(crc.get(size)!.messagesPerSecond) })),
      ...args.sizes.map((size) => {
        const both = copyPlusCrc(copy.get(size)!, crc.get(size)!);
        return { limit: `copy + crc32, ${size} B (one core)`, 'GB/s': gb(both.bytesPerSecond), 'msg/s': Math.round(both.messagesPerSecond) };
      }),
      { limit: 'pwrite 1 MiB chunks into a new file (page-cache allocation)', 'GB/s': gb(disk.pageCacheWriteBytesPerSecond) },
      { limit: `fdatasync of ${mb(profile.diskProbeBytes)} MiB dirty (disk writeback)`, 'GB/s': gb(disk.writebackBytesPerSecond) },
      { limit: '4 KiB write + fdatasync, p50 / p99 / max ms', 'GB/s': `${fsyncLatency.p50Ms.toFixed(2)} / ${fsyncLatency.p99Ms.toFixed(2)} / ${fsyncLatency.maxMs.toFixed(2)}` },
    ];

    // --- one segment in isolation -----------------------------------------------------
    const segmentRows: Row[] = [];
    const segmentResults = [];
    for (const writeMode of writeModes) {
      progress.start(`MappedFile, ${writeMode}: append 1 KiB into a pre-faulted segment, then commit + flush it`);
      const result = await benchSegment({ directory: root, segmentBytes: profile.segmentBytes, mode: writeMode, messageBytes: 1024, batch: 1, measureFlush: true });
      segmentResults.push(result);
      const limit = copy.get(1024) ?? measureCopy(1024);
      segmentRows.push({
        mode: writeMode,
        'append msg/s': Math.round(result.append.messagesPerSecond),
        'append GB/s': gb(result.append.bytesPerSecond),
        'vs copy': percent(result.append.bytesPerSecond / limit.bytesPerSecond),
        'flush of MiB': mb(result.flush!.dirtyBytes),
        'commit+flush s': result.flush!.commitSeconds + result.flush!.flushSeconds,
        'vs writeback': percent(result.flush!.dirtyBytes / (result.flush!.commitSeconds + result.flush!.flushSeconds) / disk.writebackBytesPerSecond),
        'event-loop max ms (target ≤ 5)': result.flush!.eventLoop.maxMs,
      });
    }

    // --- CommitLog appends ---------------------------------------------------------------
    // SYNC rows carry the fdatasync probes taken beside them.
    const appendResults: Array<AppendBenchResult & { fsyncBeside?: { before: FsyncProbes; after: FsyncProbes; groupBytes: number } }> = [];
    const row = (r: AppendBenchResult, limitText: string): Row => ({
      mode: `${r.flushDiskType === 'SYNC_FLUSH' ? 'sync' : 'async'}-${r.writeMode}`,
      'msg B': r.messageBytes,
      api: r.batch > 1 ? `batch ${r.batch}` : 'append',
      appenders: r.concurrency,
      'msg/s': Math.round(r.messagesPerSecond),
      'MB/s': Math.round(r.recordBytesPerSecond / 1e6),
      'vs limit': limitText,
      'ack p50 ms': r.ack.p50,
      'ack p99 ms': r.ack.p99,
      'loop max ms': r.eventLoopMaxMs,
      stalls: r.allocationStalls,
      'RSS MB': mb(r.memory.peakRssBytes),
      'heap MB': Math.round(r.memory.heapUsedAfterBytes / MiB),
    });
    const appendRows: Row[] = [];
    for (const mode of asyncModes) {
      for (const size of args.sizes) {
        const limit = copyPlusCrc(copy.get(size)!, crc.get(size)!);
        for (const [batch, concurrency] of [[256, 1], [1, 64]] as const) {
          progress.start(`CommitLog ${mode}, ${size} B, ${batch > 1 ? `appendBatch(${batch})` : `append() × ${concurrency} appenders`}`);
          const messagesMax = batch > 1 ? Math.floor(profile.asyncBatchBytes / (size + 120)) : profile.asyncSingleMessages;
          const result = await benchAppend({ root, ...MODES[mode], messageBytes: size, segmentBytes: profile.segmentBytes, batch, concurrency, messagesMax, durationMs: 120_000 });
          appendResults.push(result);
          appendRows.push(row(result, `${percent(result.messagesPerSecond / limit.messagesPerSecond)} of copy+crc`));
        }
      }
    }
    const syncSize = args.sizes.includes(1024) ? 1024 : args.sizes[args.sizes.length - 1]!;
    // A group commit of n appenders syncs about n records at once: beside the
    // 4 KiB probe, each row is also held to fdatasync after a write of that size.
    // The device's tail drifts within minutes here, so both probes are taken
    // right before and right after each row, and the row is held to the mean
    // of their p99s (the run's first 4 KiB probe is given too).
    // A row's 4 KiB probe before is the row before's probe after (only a store's close and open lie between).
    let lastPageProbe: LatencyLimit | undefined;
    const syncRun = async (mode: ModeName, concurrency: number, batch: number): Promise<void> => {
      const groupBytes = Math.ceil((concurrency * batch * (syncSize + 120)) / 4096) * 4096;
      const probe = (page = measureFdatasyncLatency(root, 200)): FsyncProbes => ({ page, group: groupBytes === 4096 ? page : measureFdatasyncLatency(root, 200, groupBytes) });
      const before = probe(lastPageProbe);
      const result = await benchAppend({ root, ...MODES[mode], messageBytes: syncSize, segmentBytes: profile.segmentBytes, batch, concurrency, messagesMax: Number.MAX_SAFE_INTEGER, durationMs: profile.syncSecondsPerLevel * 1000 });
      const after = probe();
      lastPageProbe = after.page;
      const page = (before.page.p99Ms + after.page.p99Ms) / 2;
      const group = (before.group.p99Ms + after.group.p99Ms) / 2;
      appendResults.push({ ...result, fsyncBeside: { before, after, groupBytes } });
      const ack = result.ack.p99;
      appendRows.push(
        row(
          result,
          `ack p99 ${(ack / page).toFixed(1)}× fsync p99 (4 KiB, ${page.toFixed(2)} ms beside; ${(ack / fsyncLatency.p99Ms).toFixed(1)}× the first probe), ${(ack / group).toFixed(1)}× of a ${Math.round(groupBytes / 1024)} KiB write (${group.toFixed(2)} ms)`,
        ),
      );
    };
    for (const mode of syncModes) {
      for (const concurrency of profile.syncLevels) {
        progress.start(`CommitLog ${mode}, ${syncSize} B, ${concurrency} appenders`);
        await syncRun(mode, concurrency, 1);
      }
      progress.start(`CommitLog ${mode}, ${syncSize} B, appendBatch(64) × 16 appenders`);
      await syncRun(mode, 16, 64);
    }

    // --- reads and recovery --------------------------------------------------------------------
    progress.start(`reads and recovery on a ${mb(profile.storeBytes)} MiB store of 1 KiB messages`);
    const reads = await benchReadRecovery({ root, storeBytes: profile.storeBytes, segmentBytes: profile.segmentBytes, messageBytes: 1024, randomReads: profile.randomReads });
    const readRows: Row[] = [
      { what: 'random read (verified copy)', 'per s': Math.round(reads.randomRead.readsPerSecond), 'GB/s': '', 'vs limit': '', detail: `p50 ${reads.randomRead.p50Ms.toFixed(4)} ms, p99 ${reads.randomRead.p99Ms.toFixed(4)} ms` },
      { what: 'sequential scan (verified)', 'per s': Math.round(reads.scan.messagesPerSecond), 'GB/s': gb(reads.scan.bytesPerSecond), 'vs limit': `${percent(reads.scan.bytesPerSecond / reads.scan.crcLimitBytesPerSecond)} of crc32`, detail: `crc32 interleaved ${gb(reads.scan.crcLimitBytesPerSecond).toFixed(2)} GB/s (best before/after ${gb(reads.scan.crcBestBesideBytesPerSecond).toFixed(2)}: ${percent(reads.scan.bytesPerSecond / reads.scan.crcBestBesideBytesPerSecond)}); loop max ${reads.scan.loopMaxMs.toFixed(1)} ms` },
      { what: 'open a new store', 'per s': '', 'GB/s': '', 'vs limit': '', detail: `${reads.openNew.openMs.toFixed(0)} ms; whenWarm() after ${(reads.openNew.warmMs / 1000).toFixed(2)} s (its first ${mb(profile.segmentBytes)} MiB segment pre-faulted beside the caller)` },
      { what: 'normal recovery (open after clean close)', 'per s': '', 'GB/s': '', 'vs limit': '', detail: `${(reads.normalRecovery.seconds * 1000).toFixed(0)} ms; loop max ${reads.normalRecovery.loopMaxMs.toFixed(1)} ms` },
      { what: 'abnormal recovery (crash, stale checkpoint)', 'per s': Math.round(reads.abnormalRecovery.messagesScanned / reads.abnormalRecovery.seconds), 'GB/s': gb(reads.abnormalRecovery.bytesPerSecond), 'vs limit': `${percent(reads.abnormalRecovery.bytesPerSecond / reads.abnormalRecovery.crcLimitBytesPerSecond)} of crc32`, detail: `${reads.abnormalRecovery.seconds.toFixed(2)} s for ${mb(reads.storeBytes)} MiB; crc32 next to it ${gb(reads.abnormalRecovery.crcLimitBytesPerSecond).toFixed(2)} GB/s; loop max ${reads.abnormalRecovery.loopMaxMs.toFixed(1)} ms` },
    ];

    // --- sustained, across many segments (--full) --------------------------------------------------
    const sustainedRows: Row[] = [];
    const sustainedResults = [];
    if (profile.sustainedBytes > 0) {
      const bound = Math.min(disk.pageCacheWriteBytesPerSecond, disk.writebackBytesPerSecond);
      // Each mode flat out, then paced at the issue's rate (80 % of the bound):
      // the second row answers "can that rate be held with no stalls and a
      // responsive event loop", the first how far past it a burst goes.
      for (const writeMode of writeModes) {
        for (const pace of [undefined, 0.8 * bound]) {
          const how = pace === undefined ? 'flat out' : `paced at ${gb(pace).toFixed(2)} GB/s`;
          progress.start(`MappedFileQueue, ${writeMode}, ${how}: ${mb(profile.sustainedBytes)} MiB sustained across segments`);
          const result = await benchQueue({ directory: root, segmentBytes: profile.segmentBytes, mode: writeMode, messageBytes: 1024, totalBytes: profile.sustainedBytes, ...(pace === undefined ? {} : { paceBytesPerSecond: pace }) });
          sustainedResults.push(result);
          sustainedRows.push({ mode: writeMode, writer: how, 'GB/s': gb(result.bytesPerSecond), 'vs min(page cache, writeback)': percent(result.bytesPerSecond / bound), segments: result.segments, stalls: result.allocationStalls, 'loop max ms': result.eventLoop.maxMs, 'loop p99 ms': result.eventLoop.p99Ms });
        }
      }
    }

    // --- peers -------------------------------------------------------------------------------------
    let peerRows: Row[] = [];
    let peerResults: unknown[] = [];
    if (args.peers) {
      progress.start('peers: lmdb, better-sqlite3, classic-level, fs append log');
      const peers = await runPeers({ root, messageBytes: 1024, messages: Math.min(200_000, Math.floor(profile.storeBytes / 1100)) });
      peerRows = peers.rows;
      peerResults = peers.results;
    }
    progress.done();

    // --- report ----------------------------------------------------------------------------------------
    const title = `mapped-commitlog bench, ${startedAt.toISOString()}, profile ${profile.name}, node ${process.version}`;
    const sections: Array<{ heading: string; rows: Row[] }> = [
      { heading: 'Machine limits (same run)', rows: limitRows },
      { heading: 'MappedFile alone: one pre-faulted segment (target: append ≥ 60 % of copy, event loop ≤ 5 ms during the flush)', rows: segmentRows },
      { heading: 'CommitLog appends (MB/s counts record bytes; ack = one call; heap after a full GC)', rows: appendRows },
      { heading: 'Reads and recovery', rows: readRows },
      ...(sustainedRows.length > 0 ? [{ heading: 'Sustained appends across segments (target ≥ 80 % of min(page cache, writeback), 0 stalls)', rows: sustainedRows }] : []),
      ...(peerRows.length > 0 ? [{ heading: 'Peers, same workload (1 KiB values)', rows: peerRows }] : []),
    ];
    console.log(`\n${title}\n`);
    for (const section of sections) console.log(`${section.heading}\n${formatTable(section.rows)}\n`);

    const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const jsonPath = join(resultsDir, `${stamp}.json`);
    writeFileSync(jsonPath, JSON.stringify({ startedAt, node: process.version, profile, limits: { copy: [...copy], crc: [...crc], disk, fsyncLatency }, segment: segmentResults, append: appendResults, reads, sustained: sustainedResults, peers: peerResults, tables: sections }, null, 2));
    const charts = [
      barChartSvg({ title: 'CommitLog append throughput', unit: 'msg/s', bars: appendResults.map((r) => ({ label: `${r.flushDiskType === 'SYNC_FLUSH' ? 'sync' : 'async'}-${r.writeMode} ${r.messageBytes} B ${r.batch > 1 ? `batch ${r.batch}` : 'append'} ×${r.concurrency}`, value: r.messagesPerSecond })) }),
      groupedChartSvg({ title: 'Ack latency per call', unit: 'ms', series: ['p50', 'p99', 'max'], groups: [...appendResults.map((r) => ({ label: `${r.flushDiskType === 'SYNC_FLUSH' ? 'sync' : 'async'}-${r.writeMode} ${r.messageBytes}B ×${r.concurrency}${r.batch > 1 ? ` b${r.batch}` : ''}`, values: [r.ack.p50, r.ack.p99, r.ack.max] })), { label: 'fdatasync (limit)', values: [fsyncLatency.p50Ms, fsyncLatency.p99Ms, fsyncLatency.maxMs] }] }),
    ];
    const htmlPath = join(resultsDir, `${stamp}.html`);
    writeFileSync(htmlPath, htmlPage(title, [{ heading: 'Charts', html: charts.join('\n') }, ...sections.map((s) => ({ heading: s.heading, html: htmlTable(s.rows) }))]));
    console.log(`results: ${jsonPath}\nreport:  ${htmlPath}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
