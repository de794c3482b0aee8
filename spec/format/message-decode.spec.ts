import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import {
  BLANK_MAGIC_CODE,
  BLANK_RECORD_SIZE,
  decodeRecord,
  encodeBlank,
  encodeMessage,
  prepareMessage,
  type DecodeResult,
  type MessageInput,
} from '../../lib/format/index.js';
import { goldenRecord } from './golden-record.js';

const MAX = 1024 * 1024;
const VERIFY = { verify: true, copy: false } as const;
const STRUCTURE_ONLY = { verify: false, copy: false } as const;

function encodeOne(input: MessageInput, physicalOffset = 0): Buffer {
  const prepared = prepareMessage(input, MAX);
  const bytes = Buffer.alloc(prepared.size);
  encodeMessage(bytes, 0, prepared, { physicalOffset, queueOffset: 5, storeTimestamp: 1_700_000_000_000 });
  return bytes;
}

const sample: MessageInput = {
  topic: 'TopicTest',
  body: Buffer.from('the body of the message'),
  queueId: 2,
  bornTimestamp: 1_699_999_999_999,
  properties: { TAGS: 'tagA', KEYS: 'k' },
};

describe('end of data: zero means nothing here', () => {
  it('eight zero bytes', () => {
    expect(decodeRecord(Buffer.alloc(64), 0, 64, VERIFY)).toEqual({ kind: 'end' });
    expect(decodeRecord(Buffer.alloc(8), 0, 8, STRUCTURE_ONLY)).toEqual({ kind: 'end' });
  });

  it('fewer than eight bytes before the limit, all zero, including none', () => {
    for (let left = 0; left < 8; left++) {
      const bytes = Buffer.alloc(16, 0xff);
      bytes.fill(0, 8, 8 + left);
      expect(decodeRecord(bytes, 8, 8 + left, VERIFY)).toEqual({ kind: 'end' });
    }
  });

  it('fewer than eight bytes with something in them is a cut record prefix', () => {
    for (let left = 1; left < 8; left++) {
      const bytes = Buffer.alloc(left);
      bytes[left - 1] = 1;
      expect(decodeRecord(bytes, 0, left, VERIFY)).toMatchObject({ kind: 'truncated', size: 8 });
    }
  });

  it('TOTALSIZE 0 with a non-zero MAGICCODE, or the reverse, is corrupt, not the end', () => {
    const a = Buffer.alloc(16);
    a.writeUInt32BE(0xdeadbeef, 4);
    expect(decodeRecord(a, 0, 16, VERIFY).kind).toBe('corrupt');
    const b = Buffer.alloc(16);
    b.writeInt32BE(100, 0);
    expect(decodeRecord(b, 0, 16, VERIFY).kind).toBe('corrupt');
  });
});

describe('blank record', () => {
  it('encodes as TOTALSIZE + 0xcbd43194 + BLANKCRC and decodes to its size', () => {
    const segment = Buffer.alloc(1024);
    encodeBlank(segment, 940, 84, 940);
    // BLANKCRC = CRC-32 of the 8 header bytes, then the physical offset as 8 big-endian bytes:
    // zlib.crc32(00000054cbd43194 00000000000003ac) = 0x5f3db7a1.
    expect(segment.subarray(940, 952).toString('hex')).toBe('00000054cbd431945f3db7a1');
    expect(segment.readUInt32BE(944)).toBe(BLANK_MAGIC_CODE);
    const at = { ...VERIFY, expectedPhysicalOffset: 940 };
    expect(decodeRecord(segment, 940, 1024, at)).toEqual({ kind: 'blank', size: 84 });
    // Whatever lies in the blank's extent past BLANKCRC is not read.
    segment.fill(0x55, 952);
    expect(decodeRecord(segment, 940, 1024, at)).toEqual({ kind: 'blank', size: 84 });
  });

  it('a blank of 12 bytes or more with a wrong BLANKCRC, or found at another offset, is corrupt', () => {
    const segment = Buffer.alloc(1024);
    encodeBlank(segment, 100, 300, 5_000_100);
    const at = { ...VERIFY, expectedPhysicalOffset: 5_000_100 };
    expect(decodeRecord(segment, 100, 1024, at)).toEqual({ kind: 'blank', size: 300 });
    for (const flipped of [100, 103, 104, 108, 111]) {
      const damaged = Buffer.from(segment);
      damaged[flipped]! ^= 0x01;
      expect(decodeRecord(damaged, 100, 1024, at).kind, `byte ${flipped - 100} flipped`).not.toBe('blank');
    }
    // A valid blank at the wrong place (a misdirected page): corrupt.
    expect(decodeRecord(segment, 100, 1024, { ...VERIFY, expectedPhysicalOffset: 5_000_100 + 4096 })).toMatchObject({ kind: 'corrupt', reason: expect.stringMatching(/BLANKCRC/) });
    // The header alone, over a record's bytes (what a forged TOTALSIZE + magic leaves): corrupt.
    const forged = Buffer.alloc(1024, 0x37);
    forged.writeInt32BE(300, 100);
    forged.writeUInt32BE(BLANK_MAGIC_CODE, 104);
    expect(decodeRecord(forged, 100, 1024, { ...VERIFY, expectedPhysicalOffset: 100 })).toMatchObject({ kind: 'corrupt', reason: expect.stringMatching(/BLANKCRC/) });
  });

  it('a blank of 8 to 11 bytes (the last bytes of a segment) has no room for BLANKCRC: header only', () => {
    const segment = Buffer.alloc(64, 0x55);
    encodeBlank(segment, 53, 11, 53);
    expect(segment.subarray(53, 64).toString('hex')).toBe('0000000bcbd43194555555');
    expect(decodeRecord(segment, 53, 64, { ...VERIFY, expectedPhysicalOffset: 53 })).toEqual({ kind: 'blank', size: 11 });
  });

  it('the smallest blank is 8 bytes', () => {
    const segment = Buffer.alloc(8);
    encodeBlank(segment, 0, BLANK_RECORD_SIZE, 0);
    expect(decodeRecord(segment, 0, 8, VERIFY)).toEqual({ kind: 'blank', size: 8 });
  });

  it('a blank smaller than 8 or negative is corrupt', () => {
    for (const size of [0, 1, 7, -1, -0x80000000]) {
      const bytes = Buffer.alloc(16);
      bytes.writeInt32BE(size, 0);
      bytes.writeUInt32BE(BLANK_MAGIC_CODE, 4);
      expect(decodeRecord(bytes, 0, 16, VERIFY).kind).toBe('corrupt');
    }
  });

  it('a blank reaching past the limit is truncated', () => {
    const bytes = Buffer.alloc(64);
    encodeBlank(bytes, 0, 100, 0);
    expect(decodeRecord(bytes, 0, 64, VERIFY)).toMatchObject({ kind: 'truncated', size: 100 });
  });
});

describe('truncated: the record claims bytes beyond the limit', () => {
  it('every limit short of the whole record', () => {
    const bytes = encodeOne(sample);
    for (let limit = 1; limit < bytes.length; limit++) {
      const result = decodeRecord(bytes, 0, limit, VERIFY);
      if (limit < 8 && bytes.subarray(0, limit).every((b) => b === 0)) {
        // The high bytes of a small TOTALSIZE are zero: a cut that leaves only them reads as the end.
        expect(result).toEqual({ kind: 'end' });
      } else {
        expect(result).toMatchObject({ kind: 'truncated', size: limit < 8 ? 8 : bytes.length });
      }
    }
    expect(decodeRecord(bytes, 0, bytes.length, VERIFY).kind).toBe('message');
  });

  it('a torn write (the tail of the record still zero) fails verification', () => {
    const bytes = encodeOne(sample);
    for (let written = 8; written < bytes.length; written++) {
      const torn = Buffer.alloc(bytes.length);
      bytes.copy(torn, 0, 0, written);
      expect(['corrupt', 'truncated']).toContain(decodeRecord(torn, 0, torn.length, VERIFY).kind);
    }
  });
});

describe('structure is checked even without verify', () => {
  it('a bad magic code', () => {
    const bytes = encodeOne(sample);
    bytes.writeUInt32BE(0x12345678, 4);
    expect(decodeRecord(bytes, 0, bytes.length, STRUCTURE_ONLY)).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('magic') });
  });

  it('TOTALSIZE below the minimum header, negative, or disagreeing with the lengths', () => {
    const bytes = encodeOne(sample);
    for (const size of [0, 1, 90, -1, bytes.length - 1]) {
      const copy = Buffer.from(bytes);
      copy.writeInt32BE(size, 0);
      expect(decodeRecord(copy, 0, copy.length, STRUCTURE_ONLY).kind).toBe('corrupt');
    }
    const padded = Buffer.concat([bytes, Buffer.alloc(10)]);
    padded.writeInt32BE(bytes.length + 10, 0);
    expect(decodeRecord(padded, 0, padded.length, STRUCTURE_ONLY).kind).toBe('corrupt');
  });

  it('BODYLENGTH, TOPICLENGTH, PROPERTIESLENGTH out of range', () => {
    const golden = goldenRecord({
      queueId: 0, flag: 0, queueOffset: 0, physicalOffset: 0, sysFlag: 0, bornTimestamp: 0,
      bornHost: { address: '127.0.0.1', port: 0 }, storeTimestamp: 0, storeHost: { address: '127.0.0.1', port: 0 },
      reconsumeTimes: 0, preparedTransactionOffset: 0, body: Buffer.from('body'), topic: 'T', properties: [],
    });
    const bodyLengthAt = golden.bodyStart - 4;
    for (const bodyLength of [-1, 5, 3, 0x7fffffff]) {
      const bytes = Buffer.from(golden.bytes);
      bytes.writeInt32BE(bodyLength, bodyLengthAt);
      expect(decodeRecord(bytes, 0, bytes.length, STRUCTURE_ONLY).kind).toBe('corrupt');
    }
    for (const topicLength of [0, 2, 128, 255]) {
      const bytes = Buffer.from(golden.bytes);
      bytes[golden.bodyEnd] = topicLength;
      expect(decodeRecord(bytes, 0, bytes.length, STRUCTURE_ONLY).kind).toBe('corrupt');
    }
    for (const propertiesLength of [19, 21, 0x8000, 0xffff]) {
      const bytes = Buffer.from(golden.bytes);
      bytes.writeUInt16BE(propertiesLength, golden.bodyEnd + 2);
      expect(decodeRecord(bytes, 0, bytes.length, STRUCTURE_ONLY).kind).toBe('corrupt');
    }
  });

  it('a v2 magic with a topic short enough for v1 is corrupt (one encoding per message)', () => {
    const bytes = encodeOne({ topic: 'x'.repeat(200), body: Buffer.alloc(0) });
    const short = goldenRecord({
      queueId: 0, flag: 0, queueOffset: 0, physicalOffset: 0, sysFlag: 0, bornTimestamp: 0,
      bornHost: { address: '127.0.0.1', port: 0 }, storeTimestamp: 0, storeHost: { address: '127.0.0.1', port: 0 },
      reconsumeTimes: 0, preparedTransactionOffset: 0, body: Buffer.alloc(0), topic: 'x'.repeat(127), properties: [],
    }).bytes;
    expect(decodeRecord(bytes, 0, bytes.length, VERIFY).kind).toBe('message');
    short.writeUInt32BE(0xdaa320ab, 4);
    expect(decodeRecord(short, 0, short.length, STRUCTURE_ONLY).kind).toBe('corrupt');
  });

  it('an int64 above 2^53 - 1 or negative is corrupt', () => {
    for (const at of [20, 28, 40]) {
      for (const high of [0x0020_0000, -1]) {
        const bytes = encodeOne(sample);
        bytes.writeInt32BE(high, at);
        expect(decodeRecord(bytes, 0, bytes.length, STRUCTURE_ONLY).kind).toBe('corrupt');
      }
    }
  });

  it('PHYSICALOFFSET must be the expected one when the caller says which', () => {
    const bytes = encodeOne(sample, 12345);
    expect(decodeRecord(bytes, 0, bytes.length, { ...VERIFY, expectedPhysicalOffset: 12345 }).kind).toBe('message');
    expect(decodeRecord(bytes, 0, bytes.length, { ...VERIFY, expectedPhysicalOffset: 12346 })).toMatchObject({
      kind: 'corrupt',
      reason: expect.stringContaining('PHYSICALOFFSET'),
    });
  });
});

describe('the record CRC property', () => {
  /** A RocketMQ 4 style record: same layout, no __CRC32# property. */
  function withoutCrcProperty(): Buffer {
    const body = Buffer.from('old');
    const properties = Buffer.from('TAGS\u0001x\u0002');
    const head = Buffer.alloc(88);
    head.writeUInt32BE(0xdaa320a7, 4);
    head.writeUInt32BE(crc32(body), 8);
    head.set([127, 0, 0, 1], 48);
    head.set([127, 0, 0, 1], 64);
    head.writeInt32BE(body.length, 84);
    const topicLength = Buffer.from([1]);
    const propertiesLength = Buffer.alloc(2);
    propertiesLength.writeUInt16BE(properties.length);
    const bytes = Buffer.concat([head, body, topicLength, Buffer.from('T'), propertiesLength, properties]);
    bytes.writeInt32BE(bytes.length, 0);
    return bytes;
  }

  it('verify rejects a record without it; structure-only decoding reads it', () => {
    const bytes = withoutCrcProperty();
    expect(decodeRecord(bytes, 0, bytes.length, VERIFY)).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('__CRC32#') });
    const result = decodeRecord(bytes, 0, bytes.length, STRUCTURE_ONLY);
    expect(result.kind).toBe('message');
    if (result.kind === 'message') expect(result.message.properties).toEqual({ TAGS: 'x' });
  });

  it('is never among the decoded properties', () => {
    const bytes = encodeOne(sample);
    for (const options of [VERIFY, STRUCTURE_ONLY]) {
      const result = decodeRecord(bytes, 0, bytes.length, options);
      if (result.kind !== 'message') throw new Error(result.kind);
      expect(result.message.properties).toEqual({ TAGS: 'tagA', KEYS: 'k' });
    }
  });

  it('a __CRC32# property before the end is corrupt', () => {
    const golden = goldenRecord({
      queueId: 0, flag: 0, queueOffset: 0, physicalOffset: 0, sysFlag: 0, bornTimestamp: 0,
      bornHost: { address: '127.0.0.1', port: 0 }, storeTimestamp: 0, storeHost: { address: '127.0.0.1', port: 0 },
      reconsumeTimes: 0, preparedTransactionOffset: 0, body: Buffer.alloc(0), topic: 'T', properties: [['__CRC32#', '0000000000']],
    });
    expect(decodeRecord(golden.bytes, 0, golden.bytes.length, VERIFY).kind).toBe('corrupt');
    expect(decodeRecord(golden.bytes, 0, golden.bytes.length, STRUCTURE_ONLY).kind).toBe('corrupt');
  });

  it('malformed properties are corrupt even without verify', () => {
    for (const text of ['novalue\u0002', 'a\u0001b', 'a\u0001b\u0001c\u0002', '\u0001v\u0002', 'a\u00011\u0002a\u00012\u0002']) {
      const golden = goldenRecord({
        queueId: 0, flag: 0, queueOffset: 0, physicalOffset: 0, sysFlag: 0, bornTimestamp: 0,
        bornHost: { address: '127.0.0.1', port: 0 }, storeTimestamp: 0, storeHost: { address: '127.0.0.1', port: 0 },
        reconsumeTimes: 0, preparedTransactionOffset: 0, body: Buffer.alloc(0), topic: 'T', properties: [],
      });
      // Splice the malformed text in front of the CRC property (the golden builder writes well-formed pairs only).
      const { bytes } = golden;
      const propertiesAt = bytes.length - 20;
      const spliced = Buffer.concat([bytes.subarray(0, propertiesAt), Buffer.from(text), bytes.subarray(propertiesAt)]);
      spliced.writeInt32BE(spliced.length, 0);
      spliced.writeUInt16BE(20 + Buffer.byteLength(text), propertiesAt - 2);
      expect(decodeRecord(spliced, 0, spliced.length, STRUCTURE_ONLY)).toMatchObject({ kind: 'corrupt' });
    }
  });
});

describe('corruption: every single-byte change of a record is caught by verify', () => {
  const records: [string, MessageInput][] = [
    ['IPv4, properties', sample],
    ['IPv6 hosts, empty body, no properties', { topic: 't', body: new Uint8Array(0), bornHost: { address: '::1', port: 1 }, storeHost: { address: 'fe80::1', port: 2 } }],
    ['v2 topic', { topic: 'v'.repeat(130), body: Buffer.from([1, 2, 3]), properties: { é: '😀' } }],
    ['body on the zlib route', { topic: 't', body: Buffer.alloc(300, 9) }],
  ];

  for (const [name, input] of records) {
    it(name, () => {
      const record = encodeOne(input, 4096);
      const original = decodeRecord(record, 0, record.length, { verify: true, copy: true });
      expect(original.kind).toBe('message');
      const { bodyStart, bodyEnd } = locateBody(record);
      // Two layouts: the record alone, and the record followed by zeroed space.
      for (const slack of [0, 512]) {
        const buf = Buffer.alloc(record.length + slack);
        for (let i = 0; i < record.length; i++) {
          for (let mask = 1; mask < 256; mask++) {
            record.copy(buf);
            buf.fill(0, record.length);
            buf[i]! ^= mask;
            const result = decodeRecord(buf, 0, buf.length, { verify: true, copy: true, expectedPhysicalOffset: 4096 });
            assertCaught(result, i, mask);
            if (i >= bodyStart && i < bodyEnd) {
              expect(result).toMatchObject({ kind: 'corrupt', reason: expect.stringContaining('body CRC') });
            }
          }
        }
      }
    });
  }

  function assertCaught(result: DecodeResult, index: number, mask: number): void {
    if (result.kind === 'corrupt' || result.kind === 'truncated') return;
    throw new Error(`byte ${index} ^ 0x${mask.toString(16)} decoded as ${result.kind}`);
  }

  function locateBody(record: Buffer): { bodyStart: number; bodyEnd: number } {
    const result = decodeRecord(record, 0, record.length, { verify: true, copy: false });
    if (result.kind !== 'message') throw new Error(result.kind);
    const bodyStart = result.message.body.byteOffset - record.byteOffset;
    return { bodyStart, bodyEnd: bodyStart + result.message.body.length };
  }
});

describe('decodeRecord arguments', () => {
  it('needs 0 <= position <= limit <= source.length', () => {
    const bytes = Buffer.alloc(16);
    for (const [position, limit] of [[-1, 16], [8, 4], [0, 17], [0.5, 16], [0, NaN]]) {
      expect(() => decodeRecord(bytes, position!, limit!, VERIFY)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
  });

  it('reads at a position inside a larger buffer', () => {
    const record = encodeOne(sample);
    const buf = Buffer.alloc(record.length + 100, 0);
    record.copy(buf, 37);
    expect(decodeRecord(buf, 37, buf.length, VERIFY).kind).toBe('message');
  });
});
