/**
 * The checkpoint record: what the store knew to be durable when it last
 * wrote the checkpoint file. Fixed size, one record per file, rewritten in
 * place (it fits one 512-byte sector, and its CRC catches a torn write).
 *
 *   offset  width  field
 *   ------  -----  ---------------------------------------------------------
 *        0      4  MAGIC                    0x434b5054 ("CKPT"), uint32
 *        4      4  VERSION                  2, uint32 (version 1 records still read)
 *        8      8  FLUSHEDOFFSET            int64, log bytes below it are durable
 *       16      8  LASTFLUSHSTORETIMESTAMP  int64, STORETIMESTAMP of the last durable message (ms)
 *       24      8  WRITTENAT                int64, wall clock when this record was made (ms)
 *       32      4  FLAGS                    uint32, bit 0 CLEAN_CLOSE (version 2; zero in version 1)
 *       36     24  reserved                 zero
 *       60      4  CRC                      CRC-32 of bytes [0, 60), uint32
 *       64         end
 *
 * All big-endian. 64 zero bytes (a file created but never written) read as
 * `empty`, not as corrupt. Version 1 records (no FLAGS) still read, as not
 * clean.
 */
import { CommitLogError } from '../errors.js';
import { crc32Range } from './crc32.js';
import { describe } from './describe.js';

/** MAGIC: uint32 at 0, "CKPT" in ASCII. */
export const CHECKPOINT_MAGIC = 0x434b5054;
/** VERSION: uint32 at 0 + 4 = 4. Version 2 added FLAGS; version 1 records still decode. */
export const CHECKPOINT_VERSION = 2;
/** FLAGS bit 0: written by close() after its final flush: nothing was written past FLUSHEDOFFSET since. */
const FLAG_CLEAN_CLOSE = 1;
const MAGIC_OFFSET = 0;
const VERSION_OFFSET = MAGIC_OFFSET + 4;
/** FLUSHEDOFFSET: int64 at 4 + 4 = 8. */
const FLUSHED_OFFSET_OFFSET = VERSION_OFFSET + 4;
/** LASTFLUSHSTORETIMESTAMP: int64 at 8 + 8 = 16. */
const LAST_FLUSH_STORE_TIMESTAMP_OFFSET = FLUSHED_OFFSET_OFFSET + 8;
/** WRITTENAT: int64 at 16 + 8 = 24. */
const WRITTEN_AT_OFFSET = LAST_FLUSH_STORE_TIMESTAMP_OFFSET + 8;
/** FLAGS: uint32 at 24 + 8 = 32. */
const FLAGS_OFFSET = WRITTEN_AT_OFFSET + 8;
/** Reserved zero bytes at 32 + 4 = 36, up to the CRC. */
const RESERVED_OFFSET = FLAGS_OFFSET + 4;
/** The whole record: 64 bytes. */
export const CHECKPOINT_SIZE = 64;
/** CRC: uint32 at 64 - 4 = 60, over bytes [0, 60). */
const CRC_OFFSET = CHECKPOINT_SIZE - 4;

export interface CheckpointFields {
  /** Physical offset below which the log is known durable; a safe integer >= 0. */
  flushedOffset: number;
  /** STORETIMESTAMP of the last message below flushedOffset (ms), 0 if none; a safe integer >= 0. */
  lastFlushStoreTimestamp: number;
  /** Wall-clock time the checkpoint was made (ms); a safe integer >= 0. */
  writtenAt: number;
  /**
   * CLEAN_CLOSE: close() wrote this after its final flush, so the log ends
   * exactly at flushedOffset and nothing was written past it. Cleared by the
   * first checkpoint of the next open. False when absent.
   */
  cleanClose?: boolean;
}

export type CheckpointDecodeResult =
  | ({ readonly kind: 'ok'; readonly cleanClose: boolean } & Readonly<CheckpointFields>)
  | { readonly kind: 'empty' }
  | { readonly kind: 'corrupt'; readonly reason: string };

/** A new 64-byte checkpoint record. Throws ERR_INVALID_ARGUMENT for a field that is not a safe integer >= 0. */
export function encodeCheckpoint(fields: CheckpointFields): Buffer {
  for (const name of ['flushedOffset', 'lastFlushStoreTimestamp', 'writtenAt'] as const) {
    const value = fields[name];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `${name} must be a safe integer >= 0, got ${describe(value)}`);
    }
  }
  const buf = Buffer.alloc(CHECKPOINT_SIZE);
  buf.writeUInt32BE(CHECKPOINT_MAGIC, MAGIC_OFFSET);
  buf.writeUInt32BE(CHECKPOINT_VERSION, VERSION_OFFSET);
  buf.writeBigUInt64BE(BigInt(fields.flushedOffset), FLUSHED_OFFSET_OFFSET);
  buf.writeBigUInt64BE(BigInt(fields.lastFlushStoreTimestamp), LAST_FLUSH_STORE_TIMESTAMP_OFFSET);
  buf.writeBigUInt64BE(BigInt(fields.writtenAt), WRITTEN_AT_OFFSET);
  buf.writeUInt32BE(fields.cleanClose === true ? FLAG_CLEAN_CLOSE : 0, FLAGS_OFFSET);
  buf.writeUInt32BE(crc32Range(buf, 0, CRC_OFFSET, 0), CRC_OFFSET);
  return buf;
}

/** Reads a checkpoint file's bytes: `empty` for no bytes or 64 zero bytes, `corrupt` for anything not written by encodeCheckpoint. */
export function decodeCheckpoint(buf: Uint8Array): CheckpointDecodeResult {
  if (buf.length === 0) return { kind: 'empty' };
  if (buf.length !== CHECKPOINT_SIZE) {
    return { kind: 'corrupt', reason: `checkpoint of ${buf.length} bytes, expected ${CHECKPOINT_SIZE}` };
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.every((byte) => byte === 0)) return { kind: 'empty' };
  const magic = b.readUInt32BE(MAGIC_OFFSET);
  if (magic !== CHECKPOINT_MAGIC) return { kind: 'corrupt', reason: `bad checkpoint magic 0x${magic.toString(16).padStart(8, '0')}` };
  const crc = crc32Range(b, 0, CRC_OFFSET, 0);
  const stored = b.readUInt32BE(CRC_OFFSET);
  if (crc !== stored) return { kind: 'corrupt', reason: `checkpoint CRC ${crc} does not match the stored ${stored}` };
  const version = b.readUInt32BE(VERSION_OFFSET);
  if (version !== 1 && version !== CHECKPOINT_VERSION) return { kind: 'corrupt', reason: `unsupported checkpoint version ${version}` };
  // Version 1 had no FLAGS: its bytes were reserved, zero.
  const flags = b.readUInt32BE(FLAGS_OFFSET);
  if ((flags & ~FLAG_CLEAN_CLOSE) !== 0 || (version === 1 && flags !== 0)) {
    return { kind: 'corrupt', reason: `checkpoint FLAGS 0x${flags.toString(16)} has bits version ${version} does not define` };
  }
  for (let i = RESERVED_OFFSET; i < CRC_OFFSET; i++) {
    if (b[i] !== 0) return { kind: 'corrupt', reason: `reserved checkpoint byte ${i} is not zero` };
  }
  const read = (at: number): number | undefined => {
    const value = b.readBigUInt64BE(at);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  };
  const flushedOffset = read(FLUSHED_OFFSET_OFFSET);
  const lastFlushStoreTimestamp = read(LAST_FLUSH_STORE_TIMESTAMP_OFFSET);
  const writtenAt = read(WRITTEN_AT_OFFSET);
  if (flushedOffset === undefined || lastFlushStoreTimestamp === undefined || writtenAt === undefined) {
    return { kind: 'corrupt', reason: 'a checkpoint int64 field is above 2^53 - 1' };
  }
  return { kind: 'ok', flushedOffset, lastFlushStoreTimestamp, writtenAt, cleanClose: (flags & FLAG_CLEAN_CLOSE) !== 0 };
}
