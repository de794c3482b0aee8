import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { AssertionError } from '../../lib/assert.js';
import {
  BODY_CRC_OFFSET,
  BORN_HOST_OFFSET,
  BORNHOST_V6_FLAG,
  IPV4_HOST_SIZE,
  IPV6_HOST_SIZE,
  RECORD_CRC_DIGITS,
  RECORD_CRC_DIGITS_FROM_END,
  STORE_HOST_AFTER_BORN_HOST,
  STOREHOSTADDRESS_V6_FLAG,
  BODY_AFTER_STORE_HOST,
  SYS_FLAG_OFFSET,
  decodeRecord,
  encodeMessage,
  prepareMessage,
  type MessageInput,
} from '../../lib/format/index.js';
import {
  SEAL_BODY_END,
  SEAL_BODY_START,
  SEAL_DESCRIPTOR_INT32S,
  SEAL_DIGITS_START,
  SEAL_RECORD_END,
  SEAL_RECORD_START,
  crc32Native,
  crc32NativeAccelerated,
  crc32NativePortable,
  sealRecords,
  verifyCopyRecords,
  verifyRecords,
} from '../../lib/native/crc32-native.js';
import { seededRandomForTest, type SeededRandom } from '../helpers/seeded-random.js';

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const STAMP = { physicalOffset: 1 << 20, queueOffset: 42, storeTimestamp: 1_700_000_000_123 };

function randomBytes(random: SeededRandom, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = random.nextUint32() & 0xff;
  return bytes;
}

describe('crc32Native is zlib.crc32 over a range', () => {
  it('reports its route', () => {
    // Informational: both routes are pinned to zlib below whatever this says.
    expect(typeof crc32NativeAccelerated()).toBe('boolean');
  });

  it('known values', () => {
    expect(crc32Native(Buffer.from('123456789'), 0, 9)).toBe(0xcbf43926);
    expect(crc32Native(Buffer.alloc(0), 0, 0)).toBe(0);
    expect(crc32Native(Buffer.alloc(0), 0, 0, 0xdeadbeef)).toBe(0xdeadbeef);
    expect(crc32Native(Buffer.alloc(64), 0, 64)).toBe(crc32(Buffer.alloc(64)));
    expect(crc32Native(Buffer.alloc(100, 0xff), 0, 100)).toBe(crc32(Buffer.alloc(100, 0xff)));
  });

  it('every length 0..4096 at several misalignments, fresh and chained, on both routes', () => {
    const random = seededRandomForTest();
    const bytes = randomBytes(random, 4096 + 64);
    // Mismatches are collected and compared once: an expect per length costs more than the CRCs.
    const mismatches: string[] = [];
    for (const start of [0, 1, 3, 7, 8, 13]) {
      for (let length = 0; length <= 4096; length++) {
        const end = start + length;
        const slice = bytes.subarray(start, end);
        const fresh = crc32(slice);
        if (crc32Native(bytes, start, end) !== fresh) mismatches.push(`native [${start}, ${end})`);
        if (crc32Native(bytes, start, end, 0x9abcdef0) !== crc32(slice, 0x9abcdef0)) mismatches.push(`native chained [${start}, ${end})`);
        if (crc32NativePortable(bytes, start, end, 0x9abcdef0) !== crc32(slice, 0x9abcdef0)) {
          mismatches.push(`portable [${start}, ${end})`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('random buffers up to 1 MiB, at random ranges', () => {
    const random = seededRandomForTest();
    const bytes = randomBytes(random, (1 << 20) + 16);
    expect(crc32Native(bytes, 0, bytes.length)).toBe(crc32(bytes));
    expect(crc32Native(bytes, 3, 1 << 20)).toBe(crc32(bytes.subarray(3, 1 << 20)));
    for (let round = 0; round < 60; round++) {
      const length = random.nextInt(1 << 20);
      const start = random.nextInt(bytes.length - length + 1);
      const previous = random.nextUint32();
      const expected = crc32(bytes.subarray(start, start + length), previous);
      expect(crc32Native(bytes, start, start + length, previous)).toBe(expected);
      if (round < 8) expect(crc32NativePortable(bytes, start, start + length, previous)).toBe(expected);
    }
  });

  it('chains across ranges like zlib', () => {
    const random = seededRandomForTest();
    const bytes = randomBytes(random, 9000);
    const whole = crc32(bytes);
    for (const cut of [0, 1, 15, 16, 63, 64, 65, 127, 128, 1000, 4096, 8999, 9000]) {
      expect(crc32Native(bytes, cut, bytes.length, crc32Native(bytes, 0, cut))).toBe(whole);
      expect(crc32NativePortable(bytes, cut, bytes.length, crc32Native(bytes, 0, cut))).toBe(whole);
    }
    // Three ranges, each chained from the last.
    let crc = 0;
    for (const [from, to] of [[0, 88], [88, 5000], [5000, 9000]] as const) crc = crc32Native(bytes, from, to, crc);
    expect(crc).toBe(whole);
  });

  it('rejects a range outside the buffer or a previous that is not a uint32', () => {
    const bytes = Buffer.alloc(16);
    expect(() => crc32Native(bytes, 0, 17)).toThrow(AssertionError);
    expect(() => crc32Native(bytes, 5, 4)).toThrow(AssertionError);
    expect(() => crc32Native(bytes, -1, 4)).toThrow(AssertionError);
    expect(() => crc32Native(bytes, 0, 4, -1)).toThrow(AssertionError);
    expect(() => crc32Native(bytes, 0, 4, 2 ** 32)).toThrow(AssertionError);
  });
});

// --- sealRecords -------------------------------------------------------------

/** The descriptor of the record at `recordStart`, read from its bytes as an encoder would know it. */
function descriptorOf(bytes: Buffer, recordStart: number, size: number): [number, number, number, number, number] {
  const sysFlag = bytes.readInt32BE(recordStart + SYS_FLAG_OFFSET);
  const bornHostSize = sysFlag & BORNHOST_V6_FLAG ? IPV6_HOST_SIZE : IPV4_HOST_SIZE;
  const storeHostSize = sysFlag & STOREHOSTADDRESS_V6_FLAG ? IPV6_HOST_SIZE : IPV4_HOST_SIZE;
  const storeHostEnd = recordStart + BORN_HOST_OFFSET + bornHostSize + STORE_HOST_AFTER_BORN_HOST + storeHostSize;
  const bodyStart = storeHostEnd + BODY_AFTER_STORE_HOST;
  const bodyEnd = bodyStart + bytes.readInt32BE(bodyStart - 4);
  const recordEnd = recordStart + size;
  return [recordStart, bodyStart, bodyEnd, recordEnd - RECORD_CRC_DIGITS_FROM_END, recordEnd];
}

/** Encodes `inputs` one after another from `firstPosition` (with `gap` bytes between); returns the bytes and descriptors. */
function encodeBatch(inputs: readonly MessageInput[], firstPosition: number, gap: number): { bytes: Buffer; descriptors: Int32Array } {
  const prepared = inputs.map((input) => prepareMessage(input, MAX_MESSAGE_BYTES));
  const total = prepared.reduce((sum, p) => sum + p.size + gap, firstPosition);
  const bytes = Buffer.alloc(total + 32);
  const descriptors = new Int32Array(inputs.length * SEAL_DESCRIPTOR_INT32S);
  let position = firstPosition;
  prepared.forEach((p, i) => {
    expect(encodeMessage(bytes, position, p, { ...STAMP, physicalOffset: STAMP.physicalOffset + position })).toBe(p.size);
    descriptors.set(descriptorOf(bytes, position, p.size), i * SEAL_DESCRIPTOR_INT32S);
    position += p.size + gap;
  });
  return { bytes, descriptors };
}

/** A copy of `bytes` with every record's BODYCRC and record CRC digits zeroed. */
function unsealed(bytes: Buffer, descriptors: Int32Array, count: number): Buffer {
  const copy = Buffer.from(bytes);
  for (let i = 0; i < count; i++) {
    const d = i * SEAL_DESCRIPTOR_INT32S;
    const recordStart = descriptors[d + SEAL_RECORD_START]!;
    copy.fill(0, recordStart + BODY_CRC_OFFSET, recordStart + BODY_CRC_OFFSET + 4);
    const digitsStart = descriptors[d + SEAL_DIGITS_START]!;
    copy.fill(0, digitsStart, digitsStart + RECORD_CRC_DIGITS);
  }
  return copy;
}

function expectSealedLikeCodec(inputs: readonly MessageInput[], firstPosition = 0, gap = 0): void {
  const { bytes, descriptors } = encodeBatch(inputs, firstPosition, gap);
  const target = unsealed(bytes, descriptors, inputs.length);
  expect(target.equals(bytes)).toBe(false);
  sealRecords(target, descriptors, inputs.length);
  expect(target.equals(bytes)).toBe(true);
  // And the codec reads every sealed record back as verified.
  const first = descriptors[0]!;
  const decoded = decodeRecord(target, first, target.length, { verify: true, copy: false });
  expect(decoded.kind).toBe('message');
}

const IPV6_BORN = { address: '2001:db8::1', port: 10911 };
const IPV6_STORE = { address: 'fe80::1:2:3:4', port: 65535 };

describe('sealRecords writes exactly the bytes encodeMessage writes', () => {
  it('one small record', () => {
    expectSealedLikeCodec([{ topic: 't', body: Buffer.from('hello'), bornTimestamp: 1 }]);
  });

  it('an empty body, the smallest record', () => {
    expectSealedLikeCodec([{ topic: 't', body: Buffer.alloc(0), bornTimestamp: 1 }]);
  });

  it('body sizes 0..300 and around the fold thresholds, one record each, in one batch', () => {
    const random = seededRandomForTest();
    const sizes = [...Array.from({ length: 301 }, (_, i) => i), 1000, 1023, 1024, 1025, 2000, 4096, 65_536, 1_000_003];
    const inputs = sizes.map((size) => ({ topic: 'orders', body: randomBytes(random, size), bornTimestamp: 1_700_000_000_000 }));
    expectSealedLikeCodec(inputs);
  });

  it('v2 long topics, IPv6 hosts, properties, UTF-8, mixed in one batch', () => {
    const random = seededRandomForTest();
    const inputs: MessageInput[] = [];
    for (let i = 0; i < 200; i++) {
      const topicLength = random.pick([1, 5, 127, 128, 200, 1000]);
      inputs.push({
        topic: 'x'.repeat(topicLength - 1) + String.fromCharCode(0x61 + (i % 26)),
        body: randomBytes(random, random.pick([0, 1, 12, 63, 64, 100, 1024, 2000])),
        queueId: i,
        sysFlag: random.nextInt(256),
        bornTimestamp: 1_700_000_000_000 + i,
        bornHost: random.chance(0.5) ? IPV6_BORN : { address: '10.0.0.1', port: 1 },
        storeHost: random.chance(0.5) ? IPV6_STORE : { address: '192.168.1.2', port: 2 },
        ...(random.chance(0.7)
          ? { properties: { TAGS: 'a||b', KEYS: `key-${i}`, UNIQ_KEY: 'ü€😀'.repeat(random.nextInt(40)) } }
          : {}),
      });
    }
    expectSealedLikeCodec(inputs);
    // At an odd first position and with gaps between records (descriptors need not be contiguous).
    expectSealedLikeCodec(inputs.slice(0, 50), 3, 7);
  });

  it('256 records of 100 B and of 1 KiB, as a batch append makes them', () => {
    const random = seededRandomForTest();
    for (const bodyBytes of [100, 1024]) {
      const inputs = Array.from({ length: 256 }, (_, i) => ({
        topic: 'bench-topic',
        body: randomBytes(random, bodyBytes),
        queueId: i % 8,
        bornTimestamp: 1_700_000_000_000,
        properties: { KEYS: `k${i}` },
      }));
      expectSealedLikeCodec(inputs);
    }
  });

  it('count 0 seals nothing; count below the descriptors seals only the first records', () => {
    const inputs = [0, 1, 2].map((i) => ({ topic: 't', body: Buffer.from(`body ${i}`), bornTimestamp: 1 }));
    const { bytes, descriptors } = encodeBatch(inputs, 0, 0);
    const target = unsealed(bytes, descriptors, 3);
    const before = Buffer.from(target);
    sealRecords(target, descriptors, 0);
    expect(target.equals(before)).toBe(true);
    sealRecords(target, descriptors, 2);
    const secondEnd = descriptors[SEAL_DESCRIPTOR_INT32S + SEAL_RECORD_END]!;
    expect(target.subarray(0, secondEnd).equals(bytes.subarray(0, secondEnd))).toBe(true);
    expect(target.subarray(secondEnd).equals(before.subarray(secondEnd))).toBe(true);
  });

  it('accepts descriptors that are a view into a larger Int32Array', () => {
    const inputs = [0, 1].map((i) => ({ topic: 't', body: Buffer.from(`body ${i}`), bornTimestamp: 1 }));
    const { bytes, descriptors } = encodeBatch(inputs, 0, 0);
    const backing = new Int32Array(3 + descriptors.length);
    backing.fill(-1);
    backing.set(descriptors, 3);
    const target = unsealed(bytes, descriptors, 2);
    sealRecords(target, backing.subarray(3), 2);
    expect(target.equals(bytes)).toBe(true);
  });
});

describe('sealRecords refuses malformed descriptors and writes nothing', () => {
  const inputs = [0, 1, 2].map((i) => ({ topic: 'topic', body: Buffer.from(`a body of record ${i}`), bornTimestamp: 1 }));

  /**
   * Each case changes one field of one descriptor (or the buffer); the batch
   * must be refused untouched, by the shim's own checks (its -EINVAL), except
   * the first, which the TypeScript bounds check catches before the call.
   */
  const cases: ReadonlyArray<[string, (d: Int32Array, bytes: Buffer) => void]> = [
    ['negative recordStart (bounds check)', (d) => { d[SEAL_RECORD_START] = -1; }],
    ['bodyStart before BODYCRC ends', (d) => { d[SEAL_BODY_START] = d[SEAL_RECORD_START]! + 11; }],
    ['bodyEnd before bodyStart', (d) => { d[SEAL_BODY_END] = d[SEAL_BODY_START]! - 1; }],
    ['digitsStart too close to bodyEnd', (d) => { d[SEAL_BODY_END] = d[SEAL_DIGITS_START]! - 8; }],
    ['recordEnd not digitsStart + 11', (d) => { d[SEAL_RECORD_END] = d[SEAL_RECORD_END]! - 1; }],
    ['digitsStart not recordEnd - 11', (d) => { d[SEAL_DIGITS_START] = d[SEAL_DIGITS_START]! + 1; }],
    ['fields swapped', (d) => { const s = d[SEAL_BODY_START]!; d[SEAL_BODY_START] = d[SEAL_BODY_END]!; d[SEAL_BODY_END] = s; }],
    ['overlapping the previous record', (d) => { d[SEAL_DESCRIPTOR_INT32S + SEAL_RECORD_START] = d[SEAL_RECORD_END]! - 1; }],
    ['records out of order', (d) => {
      const first = d.slice(0, SEAL_DESCRIPTOR_INT32S);
      d.copyWithin(0, SEAL_DESCRIPTOR_INT32S, 2 * SEAL_DESCRIPTOR_INT32S);
      d.set(first, SEAL_DESCRIPTOR_INT32S);
    }],
    ['TOTALSIZE disagrees with the descriptor', (_d, bytes) => { bytes.writeInt32BE(bytes.readInt32BE(0) + 1, 0); }],
    ['no 0x01 before the digits', (d, bytes) => { bytes[d[SEAL_DIGITS_START]! - 1] = 0x30; }],
    ['no 0x02 at the end', (d, bytes) => { bytes[d[2 * SEAL_DESCRIPTOR_INT32S + SEAL_RECORD_END]! - 1] = 0; }],
  ];

  it.each(cases)('%s', (name, spoil) => {
    const { bytes, descriptors } = encodeBatch(inputs, 0, 0);
    const target = unsealed(bytes, descriptors, inputs.length);
    spoil(descriptors, target);
    const before = Buffer.from(target);
    const refusedBy = name.endsWith('(bounds check)') ? /must lie in the buffer/ : /mc_seal_records refused/;
    expect(() => sealRecords(target, descriptors, inputs.length)).toThrow(AssertionError);
    expect(() => sealRecords(target, descriptors, inputs.length)).toThrow(refusedBy);
    expect(target.equals(before)).toBe(true);
  });

  it('a count beyond the descriptors, or records beyond the buffer', () => {
    const { bytes, descriptors } = encodeBatch(inputs, 0, 0);
    const target = unsealed(bytes, descriptors, inputs.length);
    expect(() => sealRecords(target, descriptors, 4)).toThrow(AssertionError);
    expect(() => sealRecords(target, descriptors, -1)).toThrow(AssertionError);
    expect(() => sealRecords(target, descriptors, 1.5)).toThrow(AssertionError);
    const lastEnd = descriptors[2 * SEAL_DESCRIPTOR_INT32S + SEAL_RECORD_END]!;
    expect(() => sealRecords(target.subarray(0, lastEnd - 1), descriptors, 3)).toThrow(AssertionError);
    // Exactly fitting is fine.
    sealRecords(target.subarray(0, lastEnd), descriptors, 3);
    expect(target.equals(bytes)).toBe(true);
  });
});

describe('verifyRecords checks what sealRecords writes', () => {
  const inputs: MessageInput[] = Array.from({ length: 40 }, (_, i) => ({
    topic: i % 3 === 0 ? 't'.repeat(200) : 'orders',
    body: Buffer.alloc(i * 37, i),
    ...(i % 4 === 0 ? { bornHost: IPV6_BORN, storeHost: IPV6_STORE } : {}),
    ...(i % 5 === 0 ? { properties: { KEYS: `k${i}`, 'ünï': 'x' } } : {}),
  }));

  it('returns the count when every record verifies, and the index of the first one that does not', () => {
    const { bytes, descriptors } = encodeBatch(inputs, 0, 0);
    expect(verifyRecords(bytes, descriptors, inputs.length)).toBe(inputs.length);
    expect(verifyRecords(bytes, descriptors, 0)).toBe(0);
    for (const victim of [0, 17, 39]) {
      for (const where of ['header', 'body', 'digits', 'tail'] as const) {
        const damaged = Buffer.from(bytes);
        const d = victim * SEAL_DESCRIPTOR_INT32S;
        const at =
          where === 'header' ? descriptors[d + SEAL_RECORD_START]! + 20
          : where === 'body' ? (descriptors[d + SEAL_BODY_END]! > descriptors[d + SEAL_BODY_START]! ? descriptors[d + SEAL_BODY_START]! : descriptors[d + SEAL_RECORD_START]! + 20)
          : where === 'digits' ? descriptors[d + SEAL_DIGITS_START]! + 3
          : descriptors[d + SEAL_RECORD_END]! - 15; // inside the topic/properties run
        damaged[at]! ^= 0x10;
        expect(verifyRecords(damaged, descriptors, inputs.length), `record ${victim}, ${where}`).toBe(victim);
        // The codec agrees: that record fails its checks.
        const decoded = decodeRecord(damaged, descriptors[d + SEAL_RECORD_START]!, damaged.length, { verify: true, copy: false });
        expect(decoded.kind, `record ${victim}, ${where}`).not.toBe('message');
      }
    }
  });
});

describe('verifyCopyRecords checks and copies a scan batch on the pool', () => {
  const inputs: MessageInput[] = Array.from({ length: 30 }, (_, i) => ({
    topic: i % 3 === 0 ? 't'.repeat(200) : 'orders',
    body: Buffer.alloc(i * 41, i + 1),
    ...(i % 4 === 0 ? { bornHost: IPV6_BORN, storeHost: IPV6_STORE } : {}),
  }));

  /** The bytes [first recordStart, last recordEnd) of `bytes`, as the copy must hold them. */
  function span(bytes: Buffer, descriptors: Int32Array, count: number): Buffer {
    return bytes.subarray(descriptors[SEAL_RECORD_START]!, descriptors[(count - 1) * SEAL_DESCRIPTOR_INT32S + SEAL_RECORD_END]!);
  }

  it('copies every record to its distance from the first, verified or not', async () => {
    const { bytes, descriptors } = encodeBatch(inputs, 24, 0);
    const expected = span(bytes, descriptors, inputs.length);
    for (const verify of [true, false]) {
      const target = Buffer.alloc(expected.length + 8, 0xee);
      expect(await verifyCopyRecords(bytes, descriptors, inputs.length, target, verify)).toBe(inputs.length);
      expect(target.subarray(0, expected.length).equals(expected), `verify ${verify}`).toBe(true);
      expect(target.subarray(expected.length).every((b) => b === 0xee)).toBe(true);
    }
  });

  it('copies the records only, not the bytes between them', async () => {
    const { bytes, descriptors } = encodeBatch(inputs.slice(0, 5), 0, 16);
    const target = Buffer.alloc(span(bytes, descriptors, 5).length, 0xee);
    expect(await verifyCopyRecords(bytes, descriptors, 5, target, true)).toBe(5);
    for (let i = 0; i < 5; i++) {
      const d = i * SEAL_DESCRIPTOR_INT32S;
      const start = descriptors[d + SEAL_RECORD_START]!;
      const end = descriptors[d + SEAL_RECORD_END]!;
      expect(target.subarray(start, end).equals(bytes.subarray(start, end)), `record ${i}`).toBe(true);
      if (i < 4) expect(target.subarray(end, end + 16).every((b) => b === 0xee), `gap after record ${i}`).toBe(true);
    }
  });

  it('stops at the first record that does not verify and copies only those before it', async () => {
    const { bytes, descriptors } = encodeBatch(inputs, 0, 0);
    const victim = 17;
    const d = victim * SEAL_DESCRIPTOR_INT32S;
    const damaged = Buffer.from(bytes);
    damaged[descriptors[d + SEAL_BODY_START]!]! ^= 0x01;
    const target = Buffer.alloc(bytes.length, 0xee);
    expect(await verifyCopyRecords(damaged, descriptors, inputs.length, target, true)).toBe(victim);
    const victimStart = descriptors[d + SEAL_RECORD_START]!;
    expect(target.subarray(0, victimStart).equals(bytes.subarray(0, victimStart))).toBe(true);
    expect(target.subarray(victimStart).every((b) => b === 0xee)).toBe(true);
    // Without verify the damaged record is copied like the others.
    expect(await verifyCopyRecords(damaged, descriptors, inputs.length, target, false)).toBe(inputs.length);
    expect(target.subarray(0, span(bytes, descriptors, inputs.length).length).equals(span(damaged, descriptors, inputs.length))).toBe(true);
  });

  it('count 0 copies nothing; a short target, records beyond the source or malformed descriptors are assertions', async () => {
    const { bytes, descriptors } = encodeBatch(inputs.slice(0, 3), 0, 0);
    const target = Buffer.alloc(bytes.length, 0xee);
    expect(await verifyCopyRecords(bytes, descriptors, 0, target, true)).toBe(0);
    expect(target.every((b) => b === 0xee)).toBe(true);
    const needed = span(bytes, descriptors, 3).length;
    await expect(verifyCopyRecords(bytes, descriptors, 3, Buffer.alloc(needed - 1), true)).rejects.toThrow(AssertionError);
    await expect(verifyCopyRecords(bytes.subarray(0, needed - 1), descriptors, 3, target, true)).rejects.toThrow(AssertionError);
    await expect(verifyCopyRecords(bytes, descriptors, 4, target, true)).rejects.toThrow(AssertionError);
    const swapped = Int32Array.from(descriptors);
    swapped.copyWithin(0, SEAL_DESCRIPTOR_INT32S, 2 * SEAL_DESCRIPTOR_INT32S);
    await expect(verifyCopyRecords(bytes, swapped, 2, target, true)).rejects.toThrow(AssertionError);
    expect(target.every((b) => b === 0xee)).toBe(true);
  });
});

describe('the shim call block', () => {
  it('refuses a batch call whose block was not armed for it, and a second call on one arming', async () => {
    const { shim, shimCallBlock } = await import('../../lib/native/shim.js');
    const { constants } = await import('node:os');
    const block = shimCallBlock();
    block.fill(0n);
    expect(shim().mc_seal_records_from_block()).toBe(-constants.errno.EINVAL);
    expect(shim().mc_verify_records_from_block()).toBe(-constants.errno.EINVAL);
    // Armed with a count of 0: accepted once, then disarmed by the call itself.
    block[3] = 0x4d43424cn;
    expect(shim().mc_verify_records_from_block()).toBe(0);
    expect(block[3]).toBe(0n);
    expect(shim().mc_verify_records_from_block()).toBe(-constants.errno.EINVAL);
  });
});
