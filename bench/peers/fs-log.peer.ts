/**
 * A naive append log on node:fs, the floor any log-structured store has to
 * beat or explain: one file, records of [4-byte big-endian length][value],
 * one fs.writeSync per record at the file position (no buffering, no
 * preallocation, no CRC), an in-memory array of record offsets as the index.
 *
 * - writeSync per record, one fdatasync: after the last record, one
 *   fdatasync of the file and one fsync of its directory (the file is new,
 *   so its name has to be made durable as well).
 * - fdatasync every 64 records: the same, with an fdatasync after every 64
 *   records, so every 64 are durable before the next is written.
 *
 * Reads: the whole file in 1 MiB preads, records parsed out of them;
 * random reads are one pread of a whole record at its offset.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerDefinition, PeerMode } from './peer.js';
import { RANDOM_READS, WRITE_DEADLINE_MS, since, type PeerResult } from './workload.js';

const HEADER_BYTES = 4;
const READ_CHUNK_BYTES = 1024 * 1024;

function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function mode(syncEvery: number | undefined, label: string): PeerMode {
  const note = syncEvery === undefined ? 'one fdatasync (+ directory fsync) at the end' : `fdatasync after every ${syncEvery} records`;
  return {
    mode: label,
    note,
    async run(directory, workload): Promise<PeerResult> {
      const file = join(directory, 'peer.log');
      const recordBytes = HEADER_BYTES + workload.messageBytes;
      const offsets = new Float64Array(workload.messages);
      let written = 0;
      let fd = openSync(file, 'w');
      const start = performance.now();
      try {
        let position = 0;
        while (written < workload.messages && performance.now() - start < WRITE_DEADLINE_MS) {
          const count = Math.min(256, workload.messages - written);
          const slab = Buffer.allocUnsafe(count * recordBytes);
          for (let i = 0; i < count; i += 1) {
            const at = i * recordBytes;
            slab.writeUInt32BE(workload.messageBytes, at);
            workload.fillValue(slab, at + HEADER_BYTES, written + i);
          }
          for (let i = 0; i < count; i += 1) {
            writeSync(fd, slab, i * recordBytes, recordBytes, position);
            offsets[written] = position;
            position += recordBytes;
            written += 1;
            if (syncEvery !== undefined && written % syncEvery === 0) fdatasyncSync(fd);
          }
        }
        if (syncEvery === undefined || written % syncEvery !== 0) fdatasyncSync(fd);
        syncDirectory(directory);
      } finally {
        closeSync(fd);
      }
      const writeSeconds = since(start);

      fd = openSync(file, 'r');
      try {
        let readStart = performance.now();
        const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES + recordBytes);
        let filePosition = 0;
        let filled = 0;
        let expected = 0;
        for (;;) {
          const got = readSync(fd, chunk, filled, READ_CHUNK_BYTES, filePosition);
          filePosition += got;
          filled += got;
          let at = 0;
          while (filled - at >= HEADER_BYTES) {
            const length = chunk.readUInt32BE(at);
            if (filled - at < HEADER_BYTES + length) break;
            workload.check(chunk.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length), expected);
            expected += 1;
            at += HEADER_BYTES + length;
          }
          chunk.copyWithin(0, at, filled);
          filled -= at;
          if (got === 0) break;
        }
        if (filled !== 0) throw new Error(`read-back: ${filled} bytes of a torn record at the end`);
        if (expected !== written) throw new Error(`read-back: ${expected} records, ${written} written`);
        const readSeconds = since(readStart);

        readStart = performance.now();
        const record = Buffer.allocUnsafe(recordBytes);
        let reads = 0;
        for (const seq of workload.randomSeqs(RANDOM_READS, written)) {
          const got = readSync(fd, record, 0, recordBytes, offsets[seq]!);
          if (got !== recordBytes || record.readUInt32BE(0) !== workload.messageBytes) throw new Error(`read-back: bad record ${seq} at ${offsets[seq]}`);
          workload.check(record.subarray(HEADER_BYTES), seq);
          reads += 1;
        }
        const randomSeconds = since(readStart);
        return { peer: 'fs append log', mode: label, durability: note, messageBytes: workload.messageBytes, messages: written, messagesRequested: workload.messages, writeSeconds, readSeconds, readMessages: expected, randomReads: reads, randomSeconds };
      } finally {
        closeSync(fd);
      }
    },
  };
}

export const fsLogPeer: PeerDefinition = {
  peer: 'fs append log',
  async load() {
    return [mode(undefined, 'writeSync per record, one fdatasync'), mode(64, 'writeSync per record, fdatasync every 64 (durable per batch)')];
  },
};
