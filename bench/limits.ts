/**
 * The machine's own limits, measured in the same run as the engine, so every
 * engine figure can be shown as a ratio to the limit that bounds it
 * (../shared/LIMITS.md has the figures of one reference run).
 */
import { closeSync, openSync, unlinkSync, writeSync, fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export interface CopyLimit {
  /** Bytes per second copying `messageBytes` messages into resident memory with Buffer.copy. */
  bytesPerSecond: number;
  messagesPerSecond: number;
}

/**
 * Copy bandwidth for messages of one size into an already-faulted buffer:
 * the ceiling of any append into a pre-faulted segment.
 */
export function measureCopy(messageBytes: number, totalBytes = 512 * 1024 * 1024): CopyLimit {
  const target = Buffer.alloc(totalBytes).fill(1); // touched, so every page is resident before timing
  const message = Buffer.alloc(messageBytes, 7);
  const count = Math.floor(totalBytes / messageBytes);
  let best = Infinity;
  for (let round = 0; round < 3; round += 1) {
    const start = performance.now();
    for (let index = 0, position = 0; index < count; index += 1, position += messageBytes) {
      message.copy(target, position);
    }
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return { bytesPerSecond: (count * messageBytes) / best, messagesPerSecond: count / best };
}

/**
 * zlib.crc32 throughput over messages of one size: the best of three passes
 * (one pass varied 1.5-2.3 GB/s from run to run on this machine; the best
 * is the stable figure, and the harder one to reach).
 */
export function measureCrc32(messageBytes: number, totalBytes = 256 * 1024 * 1024): CopyLimit {
  const source = Buffer.alloc(totalBytes, 3);
  const count = Math.floor(totalBytes / messageBytes);
  let sink = 0;
  let best = Infinity;
  for (let round = 0; round < 3; round += 1) {
    const start = performance.now();
    for (let index = 0, position = 0; index < count; index += 1, position += messageBytes) {
      sink ^= crc32(source.subarray(position, position + messageBytes));
    }
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  if (sink === 0.5) console.log(sink); // keep the loop from being optimised away
  return { bytesPerSecond: (count * messageBytes) / best, messagesPerSecond: count / best };
}

/**
 * zlib.crc32 run in short slices between the steps of the work it is the
 * limit of. On this VM the host's speed drifts by tens of percent within
 * a minute; slices taken at the same moments as the work see the same
 * drift, so their ratio measures the engine, not the host's mood.
 */
export class InterleavedCrc32Probe {
  /** The messages, made once: a slice allocates nothing, so it neither pays for nor triggers the work's GC. */
  private readonly messages: Buffer[];
  private bytes = 0;
  private seconds = 0;
  private sink = 0;

  constructor(private readonly messageBytes: number, sourceBytes = 8 * 1024 * 1024) {
    const source = Buffer.alloc(sourceBytes, 3);
    this.messages = Array.from({ length: Math.floor(sourceBytes / messageBytes) }, (_, i) => source.subarray(i * messageBytes, (i + 1) * messageBytes));
  }

  /** Checksums `totalBytes` in messageBytes pieces, timed. */
  run(totalBytes: number): void {
    const count = Math.floor(totalBytes / this.messageBytes);
    const start = performance.now();
    for (let index = 0; index < count; index += 1) {
      this.sink ^= crc32(this.messages[index % this.messages.length]!);
    }
    this.seconds += (performance.now() - start) / 1000;
    this.bytes += count * this.messageBytes;
  }

  /** Throughput over every slice run so far. */
  get bytesPerSecond(): number {
    if (this.sink === 0.5) console.log(this.sink); // keep the loop from being optimised away
    return this.bytes / this.seconds;
  }
}

export interface DiskLimits {
  /** pwrite of 1 MiB chunks into a new file: page-cache allocation bandwidth. */
  pageCacheWriteBytesPerSecond: number;
  /** fdatasync of the file just written: disk writeback bandwidth. */
  writebackBytesPerSecond: number;
}

/** Writes `totalBytes` into a new file in `directory` in 1 MiB chunks, then fdatasyncs it. */
export function measureDisk(directory: string, totalBytes: number): DiskLimits {
  const path = join(directory, `limits-probe-${process.pid}.tmp`);
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  const fd = openSync(path, 'w');
  try {
    const start = performance.now();
    for (let written = 0; written < totalBytes; written += chunk.length) writeSync(fd, chunk, 0, chunk.length, written);
    const wroteSeconds = (performance.now() - start) / 1000;
    const syncStart = performance.now();
    fdatasyncSync(fd);
    const syncSeconds = (performance.now() - syncStart) / 1000;
    return { pageCacheWriteBytesPerSecond: totalBytes / wroteSeconds, writebackBytesPerSecond: totalBytes / syncSeconds };
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}

export interface LatencyLimit {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Latency of one 4 KiB append + fdatasync: the floor of one SYNC_FLUSH group. */
export function measureFdatasyncLatency(directory: string, rounds = 200, writeBytes = 4096): LatencyLimit {
  const path = join(directory, `fsync-probe-${process.pid}.tmp`);
  const page = Buffer.alloc(writeBytes, 1);
  const fd = openSync(path, 'w');
  const samples: number[] = [];
  try {
    for (let round = 0; round < rounds; round += 1) {
      const start = performance.now();
      writeSync(fd, page, 0, page.length, round * page.length);
      fdatasyncSync(fd);
      samples.push(performance.now() - start);
    }
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: samples[samples.length - 1]! };
}
