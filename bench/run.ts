/**
 * The main job: `npm run bench`. Measures the machine's limits, then the
 * engine, in one run on a temporary store, and prints every engine figure as
 * a ratio to the limit that bounds it. Writes bench/results/<timestamp>.json.
 *
 *   --dir PATH     measure on another disk (default: a new directory under the OS temp dir)
 *   --quick        256 MiB segments instead of 1 GiB (under 30 s)
 *   --mode M       mapped | direct | all (default all)
 *   --size N       message bytes, comma-separated (default 100,1024)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { WriteMode } from '../lib/index.js';
import { formatTable, percent, type Row } from './harness/table.js';
import { measureCopy, measureCrc32, measureDisk, measureFdatasyncLatency } from './limits.js';
import { benchSegment } from './store/mapped-file.bench.js';

const MiB = 1024 * 1024;
const GB = 1e9;

function parse() {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      quick: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'all' },
      size: { type: 'string', default: '100,1024' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench -- [--dir PATH] [--quick] [--mode mapped|direct|all] [--size 100,1024]');
    process.exit(0);
  }
  const modes: WriteMode[] = values.mode === 'all' ? ['mapped', 'direct'] : [values.mode as WriteMode];
  for (const mode of modes) {
    if (mode !== 'mapped' && mode !== 'direct') throw new Error(`--mode must be mapped, direct or all, got ${mode}`);
  }
  const sizes = values.size.split(',').map(Number);
  for (const size of sizes) if (!Number.isInteger(size) || size <= 0) throw new Error(`--size must list positive integers, got ${values.size}`);
  return { dir: values.dir, quick: values.quick, modes, sizes };
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  const args = parse();
  const root = args.dir ?? tmpdir();
  const directory = mkdtempSync(join(root, 'mapped-commitlog-bench-'));
  const segmentBytes = args.quick ? 256 * MiB : 1024 * MiB;
  const startedAt = new Date();
  try {
    progress(`bench: store ${directory}, segment ${segmentBytes / MiB} MiB`);
    progress('limits: memory copy, crc32, page-cache write, disk writeback, fdatasync latency');
    const copy = new Map(args.sizes.map((size) => [size, measureCopy(size)]));
    const crc = new Map(args.sizes.map((size) => [size, measureCrc32(size)]));
    const disk = measureDisk(directory, segmentBytes);
    const fsyncLatency = measureFdatasyncLatency(directory);
    const limitRows: Row[] = [
      ...args.sizes.map((size) => ({ limit: `Buffer.copy ${size} B`, value: `${(copy.get(size)!.bytesPerSecond / GB).toFixed(2)} GB/s`, 'msg/s': Math.round(copy.get(size)!.messagesPerSecond) })),
      ...args.sizes.map((size) => ({ limit: `zlib.crc32 ${size} B`, value: `${(crc.get(size)!.bytesPerSecond / GB).toFixed(2)} GB/s`, 'msg/s': Math.round(crc.get(size)!.messagesPerSecond) })),
      { limit: 'pwrite 1 MiB chunks, new file', value: `${(disk.pageCacheWriteBytesPerSecond / GB).toFixed(2)} GB/s` },
      { limit: `fdatasync of ${segmentBytes / MiB} MiB dirty`, value: `${(disk.writebackBytesPerSecond / GB).toFixed(2)} GB/s` },
      { limit: '4 KiB write + fdatasync', value: `p50 ${fsyncLatency.p50Ms.toFixed(2)} / p99 ${fsyncLatency.p99Ms.toFixed(2)} / max ${fsyncLatency.maxMs.toFixed(2)} ms` },
    ];

    const appendRows: Row[] = [];
    const flushRows: Row[] = [];
    const results: unknown[] = [];
    for (const mode of args.modes) {
      for (const size of args.sizes) {
        for (const batch of [1, 64]) {
          const measureFlush = batch === 1 && size === Math.max(...args.sizes);
          progress(`segment: ${mode}, ${size} B, batch ${batch}${measureFlush ? ', then commit + flush' : ''}`);
          const { append, flush } = await benchSegment({ directory, segmentBytes, mode, messageBytes: size, batch, measureFlush });
          const limit = copy.get(size)!;
          results.push({ append, flush });
          appendRows.push({
            mode,
            'msg bytes': size,
            api: batch === 1 ? 'append' : `appendBatch(${batch})`,
            'msg/s': Math.round(append.messagesPerSecond),
            'GB/s': append.bytesPerSecond / GB,
            'vs copy': percent(append.bytesPerSecond / limit.bytesPerSecond),
            'warm s': append.warmSeconds,
          });
          if (flush) {
            flushRows.push({
              mode,
              'dirty MiB': flush.dirtyBytes / MiB,
              'commit s': flush.commitSeconds,
              'flush s': flush.flushSeconds,
              'GB/s': flush.dirtyBytes / (flush.commitSeconds + flush.flushSeconds) / GB,
              'vs writeback': percent(flush.dirtyBytes / (flush.commitSeconds + flush.flushSeconds) / disk.writebackBytesPerSecond),
              'event-loop max ms': flush.eventLoop.maxMs,
              'event-loop p99 ms': flush.eventLoop.p99Ms,
            });
          }
        }
      }
    }

    console.log(`\nmapped-commitlog bench, ${startedAt.toISOString()}, node ${process.version}\n`);
    console.log('Machine limits (same run)');
    console.log(formatTable(limitRows));
    console.log('\nMappedFile: append into one pre-faulted segment (ratio to Buffer.copy of the same message size)');
    console.log(formatTable(appendRows));
    console.log('\nMappedFile: commit + flush of the full segment, event loop measured meanwhile (target ≤ 5 ms)');
    console.log(formatTable(flushRows));

    const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ startedAt, node: process.version, segmentBytes, limits: { copy: [...copy], crc: [...crc], disk, fsyncLatency }, results }, null, 2));
    console.log(`\nresults: ${file}`);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
