/**
 * CRC-32 in the native shim (native-shim/mc_crc32.c): zlib's CRC-32, folded
 * with PCLMULQDQ where the CPU has it, and the batch call that seals encoded
 * message records (writes BODYCRC and the record CRC digits).
 *
 * One ffi call costs ~3-4 µs plus ~4-5 µs per argument converted, so:
 *   - `sealRecords` is the hot-path entry: one call seals a whole batch of
 *     records, whatever their number, and (like `verifyRecords`) passes its
 *     arguments through the shim's call block, not as ffi arguments;
 *   - `crc32Native` is one call per range: for specs and benches, or for
 *     ranges of hundreds of KiB, never per message.
 * Both are synchronous: CPU work on bytes already in memory, no I/O.
 * `verifyCopyRecords` (a scan's batch: verify, then copy out) and
 * `verifyRecordsAsync` (abnormal recovery's runs) are made on the libuv
 * pool, so the JS thread decodes the next batch meanwhile; their arguments
 * travel in a block of their own.
 *
 * A seal descriptor is five int32 per record, byte positions in the target
 * buffer (see SEAL_* below and native-shim/README.md):
 *
 *   index  field        what encodeMessage writes there
 *   -----  -----------  ---------------------------------------------------
 *       0  recordStart  TOTALSIZE, the record's first byte
 *       1  bodyStart    BODY's first byte
 *       2  bodyEnd      one past BODY (TOPICLENGTH)
 *       3  digitsStart  the 10 record CRC digits (after `__CRC32#` 0x01)
 *       4  recordEnd    one past the final 0x02 = digitsStart + 11
 */
import { Buffer } from 'node:buffer';
import { constants } from 'node:os';
import { assert } from '../assert.js';
import { addressOf, callAsync, shim, shimCallBlock } from './shim.js';

/** Index of recordStart in a record's descriptor. */
export const SEAL_RECORD_START = 0;
/** Index of bodyStart. */
export const SEAL_BODY_START = 1;
/** Index of bodyEnd. */
export const SEAL_BODY_END = 2;
/** Index of digitsStart. */
export const SEAL_DIGITS_START = 3;
/** Index of recordEnd. */
export const SEAL_RECORD_END = 4;
/** int32 per record in a descriptor array. */
export const SEAL_DESCRIPTOR_INT32S = 5;

const UINT32_MAX = 0xffff_ffff;

/**
 * CRC-32 of `buffer[start..end)` continuing from `previous` (0 to start), as
 * `zlib.crc32(buffer.subarray(start, end), previous)` returns it: unsigned.
 * One ffi call: not for per-message use.
 */
export function crc32Native(buffer: Buffer, start: number, end: number, previous = 0): number {
  assertRange(buffer, start, end, previous);
  if (start === end) return previous;
  return shim().mc_crc32(previous, buffer, start, end - start);
}

/** crc32Native by the table route only, whatever the CPU: for specs and benches. */
export function crc32NativePortable(buffer: Buffer, start: number, end: number, previous = 0): number {
  assertRange(buffer, start, end, previous);
  if (start === end) return previous;
  return shim().mc_crc32_portable(previous, buffer, start, end - start);
}

/** Whether the shim folds with PCLMULQDQ on this CPU (decided once, when the shim loads). */
export function crc32NativeAccelerated(): boolean {
  return shim().mc_crc32_accelerated() === 1;
}

/**
 * Seals `count` records of `buffer` in one ffi call: for each, writes BODYCRC
 * and the record CRC digits; every other byte of the records must already be
 * written (TOTALSIZE, `__CRC32#` 0x01 and the final 0x02 are checked). The
 * result is byte-for-byte what encodeMessage writes.
 *
 * `descriptors` holds SEAL_DESCRIPTOR_INT32S int32 per record, records in
 * ascending, non-overlapping order. Malformed descriptors are an engine bug:
 * an assertion, and no byte is written.
 */
export function sealRecords(buffer: Buffer, descriptors: Int32Array, count: number): void {
  const result = callBatch('sealRecords', 'mc_seal_records', buffer, descriptors, count);
  assert(result === 0, `mc_seal_records returned ${result}`);
}

/**
 * Checks both CRCs of `count` records in one ffi call (the descriptors
 * sealRecords takes). Returns the index of the first record that does not
 * verify, or `count` when all do. Reads only.
 */
export function verifyRecords(buffer: Buffer, descriptors: Int32Array, count: number): number {
  const result = callBatch('verifyRecords', 'mc_verify_records', buffer, descriptors, count);
  assert(result >= 0 && result <= count, `mc_verify_records returned ${result}`);
  return result;
}

/** int64 words of mc_verify_copy_records' argument block (MC_VERIFY_COPY_WORDS). */
const VERIFY_COPY_WORDS = 5;

/**
 * A scan's batch off the JS thread: on the libuv pool, checks both CRCs of
 * each of `count` records (when `verify`) and copies it into `target` at
 * its distance from the first record's start, while its bytes are still in
 * the CPU's cache (one read of the mapping instead of two). Stops at the
 * first record that does not verify; resolves with how many were copied
 * (`count` when all). `target` needs room for [first recordStart, last
 * recordEnd). The caller keeps `source` mapped until this settles.
 */
export async function verifyCopyRecords(source: Buffer, descriptors: Int32Array, count: number, target: Buffer, verify: boolean): Promise<number> {
  if (!checkBatch('verifyCopyRecords', source, descriptors, count)) return 0;
  const span = descriptors[(count - 1) * SEAL_DESCRIPTOR_INT32S + SEAL_RECORD_END]! - descriptors[SEAL_RECORD_START]!;
  assert(span <= target.length, `verifyCopyRecords needs ${span} bytes of target, has ${target.length}`);
  return callVerifyCopy(source, descriptors, count, target, verify);
}

/**
 * verifyRecords on the libuv pool: the JS thread goes on meanwhile
 * (abnormal recovery's walk decodes the next run). The caller keeps
 * `source` mapped and `descriptors` unchanged until this settles.
 */
export async function verifyRecordsAsync(source: Buffer, descriptors: Int32Array, count: number): Promise<number> {
  if (!checkBatch('verifyRecordsAsync', source, descriptors, count)) return 0;
  return callVerifyCopy(source, descriptors, count, undefined, true);
}

/** mc_verify_copy_records with its block: no target means check only. */
async function callVerifyCopy(source: Buffer, descriptors: Int32Array, count: number, target: Buffer | undefined, verify: boolean): Promise<number> {
  const args = Buffer.allocUnsafe(VERIFY_COPY_WORDS * 8);
  args.writeBigInt64LE(BigInt(addressOf(source)), 0);
  args.writeBigInt64LE(BigInt(addressOf(descriptors)), 8);
  args.writeBigInt64LE(BigInt(count), 16);
  args.writeBigInt64LE(target === undefined ? 0n : BigInt(addressOf(target)), 24);
  args.writeBigInt64LE(verify ? 1n : 0n, 32);
  const result = await callAsync(shim().mc_verify_copy_records, args);
  // The block holds bare addresses: these references keep the buffers alive until the call returned.
  keepReachable(source, descriptors, target);
  assert(result !== -constants.errno.EINVAL, `mc_verify_copy_records refused a malformed descriptor among ${count} records`);
  assert(result >= 0 && result <= count, `mc_verify_copy_records returned ${result}`);
  return result;
}

let reachableSink: unknown;
function keepReachable(...values: unknown[]): void {
  reachableSink = values;
  reachableSink = undefined;
}

/** MC_CALL_BLOCK_ARMED in mc_shim.h: the entry point refuses a block not armed for it. */
const CALL_BLOCK_ARMED = 0x4d43424cn;

/**
 * What sealRecords and verifyRecords share: checkBatch, then
 * `${name}_from_block` with (buffer, descriptors, count) in the call block;
 * EINVAL (malformed descriptors) is an assertion. 0 records: 0, without
 * calling.
 */
function callBatch(caller: string, name: 'mc_seal_records' | 'mc_verify_records', buffer: Buffer, descriptors: Int32Array, count: number): number {
  if (!checkBatch(caller, buffer, descriptors, count)) return 0;
  const block = shimCallBlock();
  block[0] = BigInt(addressOf(buffer));
  block[1] = BigInt(addressOf(descriptors));
  block[2] = BigInt(count);
  block[3] = CALL_BLOCK_ARMED;
  // `buffer` and `descriptors` stay reachable through this frame until the call returns.
  const result = shim()[`${name}_from_block`]();
  assert(result !== -constants.errno.EINVAL, `${name} refused a malformed descriptor among ${count} records`);
  return result;
}

/**
 * The checks every batch call makes before the shim sees it: the count, and
 * the first start and last end inside `buffer` (the shim checks each
 * descriptor's order, so those two bound every position it touches).
 * False for 0 records: nothing to call.
 */
function checkBatch(caller: string, buffer: Buffer, descriptors: Int32Array, count: number): boolean {
  assert(
    Number.isInteger(count) && count >= 0 && count * SEAL_DESCRIPTOR_INT32S <= descriptors.length,
    `${caller} count ${count} must be in 0..${Math.floor(descriptors.length / SEAL_DESCRIPTOR_INT32S)}`,
  );
  if (count === 0) return false;
  const firstStart = descriptors[SEAL_RECORD_START]!;
  const lastEnd = descriptors[(count - 1) * SEAL_DESCRIPTOR_INT32S + SEAL_RECORD_END]!;
  assert(firstStart >= 0 && lastEnd <= buffer.length, `${caller} records [${firstStart}, ${lastEnd}) must lie in the buffer of ${buffer.length} bytes`);
  return true;
}

function assertRange(buffer: Buffer, start: number, end: number, previous: number): void {
  assert(
    Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= buffer.length,
    `crc32 range [${start}, ${end}) must lie in the buffer of ${buffer.length} bytes`,
  );
  assert(Number.isInteger(previous) && previous >= 0 && previous <= UINT32_MAX, `crc32 previous ${previous} must be a uint32`);
}
