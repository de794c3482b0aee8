import { describe, expect, it } from 'vitest';
import { parseSegmentFileName, segmentFileName } from '../../lib/format/index.js';

describe('segment file names', () => {
  it('are the start offset in 20 zero-padded digits', () => {
    expect(segmentFileName(0)).toBe('00000000000000000000');
    expect(segmentFileName(1073741824)).toBe('00000000001073741824');
    expect(segmentFileName(Number.MAX_SAFE_INTEGER)).toBe('00009007199254740991');
  });

  it('sort as strings in offset order', () => {
    const offsets = [0, 1024, 1073741824, 5 * 1073741824, 999, 10 ** 12];
    const names = offsets.map(segmentFileName).sort();
    expect(names.map(parseSegmentFileName)).toEqual([...offsets].sort((a, b) => a - b));
  });

  it('reject an offset that is not a safe integer >= 0', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
      expect(() => segmentFileName(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
  });

  it('parse back exactly', () => {
    for (const offset of [0, 1, 4096, 1073741824, Number.MAX_SAFE_INTEGER]) {
      expect(parseSegmentFileName(segmentFileName(offset))).toBe(offset);
    }
  });

  it('parse to undefined unless exactly 20 digits standing for a safe integer', () => {
    for (const bad of [
      '',
      '0',
      '0000000000000000000', // 19
      '000000000000000000000', // 21
      '0000000000000000000a',
      '-0000000000000000001',
      ' 0000000000000000000',
      '00000000000000000000.tmp',
      '0000000000000000000\n',
      '１２３４５６７８９０１２３４５６７８９０', // full-width digits
      '00009007199254740992', // 2^53
      '99999999999999999999',
    ]) {
      expect(parseSegmentFileName(bad)).toBeUndefined();
    }
  });
});
