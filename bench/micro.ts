/**
 * benchmark.js micro-suites (`npm run bench:micro`): ops/s with error bars
 * for the pieces on the append path, each beside its reference in the same
 * run. Expectations: MappedFile.append of 1 KiB runs near Buffer.copy of
 * 1 KiB (it is that copy plus position bookkeeping); encodeMessage is bound
 * by the CRC of the record.
 */
import Benchmark from 'benchmark';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { MappedFile, TransientStorePool, crc32Range, decodeRecord, encodeMessage, prepareMessage, realNativeIO, writeStrategyFactory, type WriteMode } from '../lib/index.js';

const SEGMENT_BYTES = 1024 * 1024 * 1024;

function run(name: string, cases: Array<[string, () => void, number]>): void {
  const suite = new Benchmark.Suite(name);
  for (const [label, fn] of cases) suite.add(label, fn, { minTime: 0.005, maxTime: 0.1, minSamples: 5 });
  console.log(`\n${name}`);
  suite.on('cycle', (event: Benchmark.Event) => {
    const bench = event.target as unknown as Benchmark;
    const bytes = cases.find(([label]) => label === bench.name)?.[2] ?? 0;
    const hz = bench.hz ?? 0;
    const gbps = bytes > 0 ? `  ${((hz * bytes) / 1e9).toFixed(2)} GB/s` : '';
    console.log(`  ${String(bench.name).padEnd(44)} ${Math.round(hz).toLocaleString('en-US').padStart(14)} ops/s ±${(bench.stats?.rme ?? 0).toFixed(1)}%${gbps}`);
  });
  suite.run();
}

async function main(): Promise<void> {
  const native = realNativeIO();
  const dir = mkdtempSync(join(tmpdir(), 'mapped-commitlog-micro-'));
  try {
    for (const size of [100, 1024]) {
      const message = Buffer.alloc(size, 7);
      const target = Buffer.alloc(64 * 1024 * 1024).fill(1); // faulted in: the reference copies into resident memory
      let at = 0;
      const cases: Array<[string, () => void, number]> = [
        [`Buffer.copy ${size} B (reference)`, () => {
          if (at + size > target.length) at = 0;
          message.copy(target, at);
          at += size;
        }, size],
        [`zlib.crc32 ${size} B (reference)`, () => void crc32(message), size],
        [`crc32Range ${size} B`, () => void crc32Range(message, 0, size, 0), size],
      ];
      for (const mode of ['mapped', 'direct'] as WriteMode[]) {
        const pool = mode === 'direct' ? await TransientStorePool.create({ native, poolSize: 1, bufferSizeBytes: SEGMENT_BYTES, lock: true }) : undefined;
        await pool?.whenPrepared();
        const file = await MappedFile.create({ native, directory: dir, fileFromOffset: mode === 'mapped' ? 0 : SEGMENT_BYTES, fileSizeBytes: SEGMENT_BYTES, strategyFactory: writeStrategyFactory({ mode, ...(pool ? { pool } : {}) }) });
        await file.warm();
        cases.push([`MappedFile.append ${size} B (${mode})`, () => {
          // A full segment ends the case early rather than wrapping: the numbers stay about fresh, warmed pages.
          if (file.remainingBytes >= size) file.append(message);
        }, size]);
        cleanups.push(async () => {
          await file.destroy();
          await pool?.destroy();
        });
      }
      const prepared = prepareMessage({ topic: 'bench', body: message }, 4 * 1024 * 1024);
      const record = Buffer.alloc(prepared.size * 2);
      encodeMessage(record, 0, prepared, { physicalOffset: 0, queueOffset: 0, storeTimestamp: Date.now() });
      cases.push([`prepareMessage + encodeMessage ${size} B`, () => {
        const p = prepareMessage({ topic: 'bench', body: message }, 4 * 1024 * 1024);
        encodeMessage(record, 0, p, { physicalOffset: 0, queueOffset: 1, storeTimestamp: 1_700_000_000_000 });
      }, prepared.size]);
      cases.push([`decodeRecord ${size} B (verify, view)`, () => void decodeRecord(record, 0, record.length, { verify: true, copy: false }), prepared.size]);
      run(`${size} B messages`, cases);
      for (const cleanup of cleanups.splice(0)) await cleanup();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cleanups: Array<() => Promise<void>> = [];

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
