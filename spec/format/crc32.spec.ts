import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { crc32Range } from '../../lib/format/index.js';
import { crc32Table, ZLIB_MIN_BYTES } from '../../lib/format/crc32.js';

describe('crc32Range is zlib.crc32 over a range, on both routes', () => {
  const bytes = Buffer.alloc(1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 167 + 13) & 0xff;

  it('known values', () => {
    expect(crc32Range(Buffer.from('123456789'), 0, 9, 0)).toBe(0xcbf43926);
    expect(crc32Range(Buffer.alloc(0), 0, 0, 0)).toBe(0);
    expect(crc32Range(Buffer.alloc(0), 0, 0, 0xdeadbeef)).toBe(0xdeadbeef);
  });

  it('every length 0..600 at every start alignment 0..7, fresh and chained', () => {
    for (let start = 0; start < 8; start++) {
      for (let length = 0; length <= 600; length++) {
        const slice = bytes.subarray(start, start + length);
        expect(crc32Range(bytes, start, start + length, 0)).toBe(crc32(slice));
        expect(crc32Table(bytes, start, start + length, 0x12345678)).toBe(crc32(slice, 0x12345678));
      }
    }
  });

  it('chains across ranges like zlib', () => {
    for (const cut of [0, 1, 7, 8, 100, ZLIB_MIN_BYTES, 1000]) {
      expect(crc32Range(bytes, cut, 1024, crc32Range(bytes, 0, cut, 0))).toBe(crc32(bytes));
    }
  });

  it('works on any Uint8Array view', () => {
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 3, 500);
    expect(crc32Range(view, 0, 500, 0)).toBe(crc32(view));
    expect(crc32Range(view, 10, 20, 0)).toBe(crc32(view.subarray(10, 20)));
  });
});
