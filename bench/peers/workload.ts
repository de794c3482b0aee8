/**
 * The workload every peer runs, and what a peer mode reports.
 *
 * Values: `messageBytes` bytes each, incompressible (a slice of a random
 * pool, so LevelDB's Snappy gains nothing a real payload would not give it),
 * with the sequence number in the first 8 bytes (big-endian) so a read-back
 * can tell which value it got. Keys: the same sequence number, 8 bytes
 * big-endian (or the store's natural equivalent, e.g. SQLite's INTEGER
 * PRIMARY KEY).
 */
import { randomBytes } from 'node:crypto';

/** Random reads per peer mode (the engine's quick profile reads 100k too). */
export const RANDOM_READS = 100_000;
/** A write phase that has not finished after this long stops early (a slow disk must not hang the bench). */
export const WRITE_DEADLINE_MS = 120_000;

const POOL_BYTES = 1024 * 1024;

export interface PeerResult {
  peer: string;
  mode: string;
  /** How this mode makes the writes durable, in words. */
  durability: string;
  messageBytes: number;
  /** Messages written (all of them unless the write deadline stopped the phase). */
  messages: number;
  messagesRequested: number;
  /** Write phase, including the durability step the mode implies. Open and close are not timed. */
  writeSeconds: number;
  /** Reading every value back in key order, after a close and a reopen. */
  readSeconds: number;
  readMessages: number;
  randomReads: number;
  randomSeconds: number;
}

/** Payload bytes written per message and the generator of values and keys. */
export class Workload {
  readonly pool: Buffer;

  constructor(readonly messageBytes: number, readonly messages: number) {
    if (!Number.isInteger(messageBytes) || messageBytes < 16) throw new Error(`peers: messageBytes must be an integer ≥ 16, got ${messageBytes}`);
    if (!Number.isInteger(messages) || messages < 1) throw new Error(`peers: messages must be a positive integer, got ${messages}`);
    this.pool = randomBytes(POOL_BYTES + messageBytes);
  }

  private poolOffset(seq: number): number {
    return (seq * 7919) % POOL_BYTES;
  }

  /** Writes the value of `seq` into `target` at `offset`. */
  fillValue(target: Buffer, offset: number, seq: number): void {
    const from = this.poolOffset(seq);
    this.pool.copy(target, offset + 8, from + 8, from + this.messageBytes);
    target.writeBigUInt64BE(BigInt(seq), offset);
  }

  /** A fresh buffer holding the value of `seq`. */
  value(seq: number): Buffer {
    const value = Buffer.allocUnsafe(this.messageBytes);
    this.fillValue(value, 0, seq);
    return value;
  }

  /** `count` fresh values from `first` on, as slices of one new slab. */
  values(first: number, count: number): Buffer[] {
    const slab = Buffer.allocUnsafe(count * this.messageBytes);
    const out: Buffer[] = new Array(count);
    for (let i = 0; i < count; i += 1) {
      this.fillValue(slab, i * this.messageBytes, first + i);
      out[i] = slab.subarray(i * this.messageBytes, (i + 1) * this.messageBytes);
    }
    return out;
  }

  /** Throws unless `value` is the value of `seq` (length, the sequence header, and the last byte). */
  check(value: Uint8Array | undefined | null, seq: number): void {
    if (value === undefined || value === null) throw new Error(`read-back: value ${seq} is missing`);
    if (value.length !== this.messageBytes) throw new Error(`read-back: value ${seq} has ${value.length} bytes, expected ${this.messageBytes}`);
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const header = view.getBigUint64(0, false);
    if (header !== BigInt(seq)) throw new Error(`read-back: expected value ${seq}, got value ${header}`);
    const last = this.messageBytes - 1;
    if (value[last] !== this.pool[this.poolOffset(seq) + last]) throw new Error(`read-back: value ${seq} differs at byte ${last}`);
  }

  /** Seeded random sequence numbers for the random-read phase (the same LCG as the engine's read bench). */
  *randomSeqs(count: number, written: number): Generator<number> {
    let seed = 12345;
    for (let i = 0; i < count; i += 1) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      yield seed % written;
    }
  }
}

/** 8-byte big-endian key of `seq`. */
export function key(seq: number): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(BigInt(seq));
  return k;
}

/** Reads a key written by key(). */
export function seqOfKey(k: Uint8Array): number {
  return Number(new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(0, false));
}

/** Seconds since `start` (a performance.now() value). */
export function since(start: number): number {
  return (performance.now() - start) / 1000;
}

/** Lets queued I/O callbacks and setImmediate work run (lmdb-js batches per event turn). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The first line of an error's message, for a table cell. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? '').trim() || (error instanceof Error ? error.name : 'error');
}
