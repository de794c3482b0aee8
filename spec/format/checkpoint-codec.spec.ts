import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { CHECKPOINT_SIZE, decodeCheckpoint, encodeCheckpoint } from '../../lib/format/index.js';

const fields = { flushedOffset: 3 * 1073741824 + 17, lastFlushStoreTimestamp: 1_700_000_000_123, writtenAt: 1_700_000_000_500 };

/** The documented layout, built by hand. */
function golden(f: typeof fields, version = 2, flags = 0): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x434b5054, 0);
  b.writeUInt32BE(version, 4);
  b.writeBigUInt64BE(BigInt(f.flushedOffset), 8);
  b.writeBigUInt64BE(BigInt(f.lastFlushStoreTimestamp), 16);
  b.writeBigUInt64BE(BigInt(f.writtenAt), 24);
  b.writeUInt32BE(flags, 32);
  b.writeUInt32BE(crc32(b.subarray(0, 60)), 60);
  return b;
}

/** Rewrites the CRC so a test can change a field and reach the checks after the CRC. */
function resealed(b: Buffer): Buffer {
  b.writeUInt32BE(crc32(b.subarray(0, 60)), 60);
  return b;
}

describe('checkpoint codec', () => {
  it('writes the documented 64-byte layout', () => {
    const bytes = encodeCheckpoint(fields);
    expect(bytes.length).toBe(CHECKPOINT_SIZE);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('CKPT');
    expect(bytes.toString('hex')).toBe(golden(fields).toString('hex'));
    // CLEAN_CLOSE is bit 0 of FLAGS, at 32.
    expect(encodeCheckpoint({ ...fields, cleanClose: true }).toString('hex')).toBe(golden(fields, 2, 1).toString('hex'));
  });

  it('reads CLEAN_CLOSE, and a version 1 record (no FLAGS) as not clean', () => {
    expect(decodeCheckpoint(golden(fields, 2, 1))).toEqual({ kind: 'ok', ...fields, cleanClose: true });
    expect(decodeCheckpoint(golden(fields, 2, 0))).toEqual({ kind: 'ok', ...fields, cleanClose: false });
    expect(decodeCheckpoint(golden(fields, 1))).toEqual({ kind: 'ok', ...fields, cleanClose: false });
    // Bits no version defines, or FLAGS in a version 1 record (reserved there), are corruption.
    expect(decodeCheckpoint(golden(fields, 2, 2))).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('FLAGS') });
    expect(decodeCheckpoint(golden(fields, 1, 1))).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('FLAGS') });
  });

  it('round-trips, extremes included', () => {
    for (const f of [fields, { flushedOffset: 0, lastFlushStoreTimestamp: 0, writtenAt: 0 }, {
      flushedOffset: Number.MAX_SAFE_INTEGER, lastFlushStoreTimestamp: Number.MAX_SAFE_INTEGER, writtenAt: Number.MAX_SAFE_INTEGER,
    }]) {
      expect(decodeCheckpoint(encodeCheckpoint(f))).toEqual({ kind: 'ok', ...f, cleanClose: false });
    }
  });

  it('reads an empty file and 64 zero bytes as empty', () => {
    expect(decodeCheckpoint(Buffer.alloc(0))).toEqual({ kind: 'empty' });
    expect(decodeCheckpoint(new Uint8Array(64))).toEqual({ kind: 'empty' });
  });

  it('reads from a Uint8Array view inside a larger buffer', () => {
    const backing = Buffer.alloc(200, 0xee);
    encodeCheckpoint(fields).copy(backing, 33);
    expect(decodeCheckpoint(new Uint8Array(backing.buffer, backing.byteOffset + 33, 64))).toEqual({ kind: 'ok', ...fields, cleanClose: false });
  });

  it('catches every single-byte change', () => {
    const original = encodeCheckpoint(fields);
    for (let i = 0; i < 64; i++) {
      for (let mask = 1; mask < 256; mask++) {
        const bytes = Buffer.from(original);
        bytes[i]! ^= mask;
        expect(decodeCheckpoint(bytes).kind).toBe('corrupt');
      }
    }
  });

  it('is corrupt at the wrong size, with another magic or version, reserved bytes set, or a field above 2^53 - 1', () => {
    const original = encodeCheckpoint(fields);
    expect(decodeCheckpoint(original.subarray(0, 63))).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('63') });
    expect(decodeCheckpoint(Buffer.concat([original, Buffer.alloc(1)])).kind).toBe('corrupt');
    expect(decodeCheckpoint(golden(fields, 3))).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('version') });
    const magic = Buffer.from(original);
    magic.writeUInt32BE(0x434b5055, 0);
    expect(decodeCheckpoint(resealed(magic))).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('magic') });
    const reserved = Buffer.from(original);
    reserved[40] = 1;
    expect(decodeCheckpoint(resealed(reserved))).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('reserved') });
    for (const at of [8, 16, 24]) {
      const big = Buffer.from(original);
      big.writeBigUInt64BE(2n ** 53n, at);
      expect(decodeCheckpoint(resealed(big))).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('2^53') });
    }
  });

  it('refuses fields that are not safe integers >= 0', () => {
    for (const name of ['flushedOffset', 'lastFlushStoreTimestamp', 'writtenAt'] as const) {
      for (const bad of [-1, 0.5, NaN, 2 ** 53]) {
        expect(() => encodeCheckpoint({ ...fields, [name]: bad })).toThrow(
          expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(name) }),
        );
      }
    }
  });
});
