import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import {
  decodeRecord,
  encodeMessage,
  prepareMessage,
  MESSAGE_MAGIC_CODE_V1,
  MESSAGE_MAGIC_CODE_V2,
  MESSAGE_MIN_SIZE,
  type EncodeStamp,
  type MessageInput,
  type StoredMessage,
} from '../../lib/format/index.js';

const MAX = 4 * 1024 * 1024;
const STAMP: EncodeStamp = { physicalOffset: 4096, queueOffset: 7, storeTimestamp: 1_700_000_000_999 };

function roundTrip(input: MessageInput, stamp: EncodeStamp = STAMP, maxMessageSize = MAX): { message: StoredMessage; bytes: Buffer } {
  const prepared = prepareMessage(input, maxMessageSize);
  const bytes = Buffer.alloc(prepared.size + 64);
  expect(encodeMessage(bytes, 16, prepared, stamp)).toBe(prepared.size);
  const result = decodeRecord(bytes, 16, bytes.length, { verify: true, copy: true, expectedPhysicalOffset: stamp.physicalOffset });
  if (result.kind !== 'message') throw new Error(`decoded ${JSON.stringify(result)}`);
  expect(result.size).toBe(prepared.size);
  expect(result.message.size).toBe(prepared.size);
  // What follows the record is untouched zero: the next decode sees the end.
  expect(decodeRecord(bytes, 16 + prepared.size, bytes.length, { verify: true, copy: false })).toEqual({ kind: 'end' });
  return { message: result.message, bytes: bytes.subarray(16, 16 + prepared.size) };
}

const full: MessageInput = {
  topic: 'orders',
  body: Buffer.from('{"id":1}'),
  queueId: 0x7fffffff,
  flag: -0x80000000,
  sysFlag: 0x0103, // unrelated bits survive
  bornTimestamp: Number.MAX_SAFE_INTEGER,
  bornHost: { address: '255.255.255.255', port: 65535 },
  storeHost: { address: '0.0.0.0', port: 0 },
  reconsumeTimes: 0x7fffffff,
  preparedTransactionOffset: Number.MAX_SAFE_INTEGER,
  properties: { TAGS: 'a||b', KEYS: 'k1 k2', empty: '' },
};

describe('round trip of every field', () => {
  it('keeps every field, at the extremes of each range', () => {
    const stamp = { physicalOffset: Number.MAX_SAFE_INTEGER, queueOffset: Number.MAX_SAFE_INTEGER, storeTimestamp: Number.MAX_SAFE_INTEGER };
    const { message } = roundTrip(full, stamp);
    expect(message).toEqual({
      topic: 'orders',
      queueId: 0x7fffffff,
      flag: -0x80000000,
      sysFlag: 0x0103,
      bornTimestamp: Number.MAX_SAFE_INTEGER,
      bornHost: { address: '255.255.255.255', port: 65535 },
      storeHost: { address: '0.0.0.0', port: 0 },
      reconsumeTimes: 0x7fffffff,
      preparedTransactionOffset: Number.MAX_SAFE_INTEGER,
      physicalOffset: Number.MAX_SAFE_INTEGER,
      queueOffset: Number.MAX_SAFE_INTEGER,
      storeTimestamp: Number.MAX_SAFE_INTEGER,
      size: message.size,
      bodyCrc: crc32(Buffer.from('{"id":1}')),
      body: Buffer.from('{"id":1}'),
      properties: { TAGS: 'a||b', KEYS: 'k1 k2', empty: '' },
    });
  });

  it('fills the defaults: 127.0.0.1:0 hosts, zeros, bornTimestamp = now', () => {
    const before = Date.now();
    const { message } = roundTrip({ topic: 't', body: Buffer.from('x') });
    expect(message.bornTimestamp).toBeGreaterThanOrEqual(before);
    expect(message.bornTimestamp).toBeLessThanOrEqual(Date.now());
    expect(message).toMatchObject({
      queueId: 0,
      flag: 0,
      sysFlag: 0,
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      bornHost: { address: '127.0.0.1', port: 0 },
      storeHost: { address: '127.0.0.1', port: 0 },
      properties: {},
    });
  });

  it('messages without properties share one frozen, prototype-less empty object; others get their own', () => {
    const first = roundTrip({ topic: 't', body: Buffer.from('a') }).message;
    const second = roundTrip({ topic: 't', body: Buffer.from('b'), properties: {} }).message;
    expect(second.properties).toBe(first.properties);
    expect(Object.isFrozen(first.properties)).toBe(true);
    expect(Object.getPrototypeOf(first.properties)).toBe(null);
    expect(Object.keys(first.properties)).toEqual([]);
    expect(() => {
      (first.properties as Record<string, string>).k = 'v';
    }).toThrow(TypeError);
    const withOne = roundTrip({ topic: 't', body: Buffer.from('c'), properties: { k: 'v' } }).message;
    const withOneAgain = roundTrip({ topic: 't', body: Buffer.from('c'), properties: { k: 'v' } }).message;
    expect(withOne.properties).not.toBe(withOneAgain.properties);
    expect(Object.isFrozen(withOne.properties)).toBe(false);
  });

  it('the smallest record is 91 + topic + 20 bytes', () => {
    const prepared = prepareMessage({ topic: 't', body: new Uint8Array(0) }, MAX);
    expect(prepared.size).toBe(MESSAGE_MIN_SIZE + 1 + 20);
  });

  it('empty body', () => {
    const { message } = roundTrip({ topic: 't', body: new Uint8Array(0) });
    expect(message.body.length).toBe(0);
    expect(message.bodyCrc).toBe(0);
  });

  it('a body that is any Uint8Array view (offset into a larger buffer)', () => {
    const backing = new Uint8Array(100).map((_, i) => i);
    const view = new Uint8Array(backing.buffer, 10, 20);
    const { message } = roundTrip({ topic: 't', body: view });
    expect([...message.body]).toEqual([...view]);
  });

  it('IPv4 and IPv6 hosts in all four combinations; the codec owns SYSFLAG bits 0x10 and 0x20', () => {
    const v4 = { address: '10.1.2.3', port: 80 };
    const v6 = { address: '2001:db8::8:800:200c:417a', port: 443 };
    for (const [bornHost, storeHost, bits] of [
      [v4, v4, 0x00],
      [v6, v4, 0x10],
      [v4, v6, 0x20],
      [v6, v6, 0x30],
    ] as const) {
      // Given bits that contradict the hosts are overridden.
      const { message, bytes } = roundTrip({ topic: 't', body: Buffer.from('b'), bornHost, storeHost, sysFlag: 0x30 ^ bits });
      expect(message.bornHost).toEqual(bornHost);
      expect(message.storeHost).toEqual(storeHost);
      expect(message.sysFlag).toBe(bits);
      expect(bytes.length).toBe(MESSAGE_MIN_SIZE + 1 + 1 + 20 + (bits & 0x10 ? 12 : 0) + (bits & 0x20 ? 12 : 0));
    }
  });

  it('IPv6 text reads back in RFC 5952 form', () => {
    const cases: [string, string][] = [
      ['0:0:0:0:0:0:0:1', '::1'],
      ['::', '::'],
      ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['fe80::', 'fe80::'],
      ['::ffff:1.2.3.4', '::ffff:102:304'],
      ['0001:0002::0003', '1:2::3'],
    ];
    for (const [given, read] of cases) {
      const { message } = roundTrip({ topic: 't', body: Buffer.alloc(0), bornHost: { address: given, port: 1 } });
      expect(message.bornHost.address).toBe(read);
    }
  });

  it('v2 topics: 128 bytes and the 32767-byte maximum', () => {
    for (const length of [128, 1000, 32767]) {
      const topic = 'q'.repeat(length);
      const { message, bytes } = roundTrip({ topic, body: Buffer.from('b') });
      expect(message.topic).toBe(topic);
      expect(bytes.readUInt32BE(4)).toBe(MESSAGE_MAGIC_CODE_V2);
    }
    expect(roundTrip({ topic: 'q'.repeat(127), body: Buffer.from('b') }).bytes.readUInt32BE(4)).toBe(MESSAGE_MAGIC_CODE_V1);
  });

  it('multi-byte topic near the v1/v2 boundary counts bytes, not chars', () => {
    const topic = 'é'.repeat(64); // 128 UTF-8 bytes, 64 chars
    const { message, bytes } = roundTrip({ topic, body: Buffer.from('b') });
    expect(message.topic).toBe(topic);
    expect(bytes.readUInt32BE(4)).toBe(MESSAGE_MAGIC_CODE_V2);
  });

  it('unicode topic and properties, including astral chars and a __proto__ name', () => {
    const properties = { 'ключ': '值 😀', ['__proto__']: 'p', constructor: 'c', 'a=b': 'x\ny' };
    expect(Object.keys(properties)).toHaveLength(4);
    const { message } = roundTrip({ topic: '主题-😀', body: Buffer.from('b'), properties });
    expect(message.topic).toBe('主题-😀');
    expect(Object.entries(message.properties)).toEqual(Object.entries(properties));
    expect(Object.getPrototypeOf(message.properties)).toBe(null);
  });

  it('properties at the 32747-byte maximum (32767 with the record CRC property)', () => {
    const properties = { k: 'v'.repeat(32747 - 3) };
    const { message, bytes } = roundTrip({ topic: 't', body: Buffer.from('b'), properties });
    expect(message.properties).toEqual(properties);
    const propertiesLength = bytes.readUInt16BE(bytes.length - 32767 - 2);
    expect(propertiesLength).toBe(32767);
  });

  it('a record of exactly maxMessageSize bytes', () => {
    const max = 1000;
    const size = prepareMessage({ topic: 't', body: new Uint8Array(0) }, max).size;
    const body = new Uint8Array(max - size).fill(0xab);
    const { message } = roundTrip({ topic: 't', body }, STAMP, max);
    expect(message.size).toBe(max);
    expect(message.body.equals(body)).toBe(true);
  });

  it('large body (zlib route of the CRC)', () => {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
    const { message } = roundTrip({ topic: 't', body });
    expect(message.body.equals(body)).toBe(true);
    expect(message.bodyCrc).toBe(crc32(body));
  });

  it('copy: false returns a view of the source, copy: true a private copy', () => {
    const prepared = prepareMessage({ topic: 't', body: Buffer.from('abc') }, MAX);
    const source = Buffer.alloc(prepared.size);
    encodeMessage(source, 0, prepared, STAMP);
    const view = decodeRecord(source, 0, source.length, { verify: true, copy: false });
    const copy = decodeRecord(source, 0, source.length, { verify: true, copy: true });
    if (view.kind !== 'message' || copy.kind !== 'message') throw new Error('not a message');
    expect(view.message.body.buffer).toBe(source.buffer);
    source[view.message.body.byteOffset - source.byteOffset] = 0x7a; // 'a' -> 'z' in the source
    expect(view.message.body.toString()).toBe('zbc');
    expect(copy.message.body.toString()).toBe('abc');
  });

  it('prepared messages can be encoded more than once, at different positions', () => {
    const prepared = prepareMessage({ topic: 't', body: Buffer.from('again'), bornTimestamp: 1 }, MAX);
    const target = Buffer.alloc(prepared.size * 3);
    let position = 0;
    for (let i = 0; i < 3; i++) position += encodeMessage(target, position, prepared, { physicalOffset: 100 + position, queueOffset: i, storeTimestamp: 2 });
    position = 0;
    for (let i = 0; i < 3; i++) {
      const result = decodeRecord(target, position, target.length, { verify: true, copy: false, expectedPhysicalOffset: 100 + position });
      if (result.kind !== 'message') throw new Error(result.kind);
      expect(result.message.queueOffset).toBe(i);
      position += result.size;
    }
  });
});
