import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { decodeRecord, encodeMessage, prepareMessage, type MessageInput } from '../../lib/format/index.js';
import { goldenRecord, type GoldenFields } from './golden-record.js';

const MAX = 4 * 1024 * 1024;

function encode(input: MessageInput, stamp: { physicalOffset: number; queueOffset: number; storeTimestamp: number }): Buffer {
  const prepared = prepareMessage(input, MAX);
  const target = Buffer.alloc(prepared.size);
  expect(encodeMessage(target, 0, prepared, stamp)).toBe(prepared.size);
  return target;
}

/** The same message as a MessageInput and as golden fields. */
function both(f: GoldenFields): [MessageInput, { physicalOffset: number; queueOffset: number; storeTimestamp: number }] {
  return [
    {
      topic: f.topic,
      body: f.body,
      queueId: f.queueId,
      flag: f.flag,
      sysFlag: f.sysFlag,
      bornTimestamp: f.bornTimestamp,
      bornHost: f.bornHost,
      storeHost: f.storeHost,
      reconsumeTimes: f.reconsumeTimes,
      preparedTransactionOffset: f.preparedTransactionOffset,
      properties: Object.fromEntries(f.properties),
    },
    { physicalOffset: f.physicalOffset, queueOffset: f.queueOffset, storeTimestamp: f.storeTimestamp },
  ];
}

const base: GoldenFields = {
  queueId: 3,
  flag: 0x0102_0304,
  queueOffset: 0x1_0000_0002, // needs the high half
  physicalOffset: 1024,
  sysFlag: 0,
  bornTimestamp: 1_700_000_000_123,
  bornHost: { address: '10.0.0.1', port: 54321 },
  storeTimestamp: 1_700_000_000_456,
  storeHost: { address: '192.168.1.2', port: 10911 },
  reconsumeTimes: 2,
  preparedTransactionOffset: 0,
  body: Buffer.from('hello, commitlog'),
  topic: 'TopicTest',
  properties: [
    ['TAGS', 'tagA'],
    ['KEYS', 'order-1'],
  ],
};

describe('golden bytes: the encoder writes exactly the documented layout', () => {
  it('v1 record with IPv4 hosts and properties', () => {
    const golden = goldenRecord(base);
    expect(encode(...both(base)).toString('hex')).toBe(golden.bytes.toString('hex'));
  });

  it('IPv6 born host and store host set SYSFLAG bits 0x10 and 0x20 and take 20 bytes each', () => {
    const f: GoldenFields = {
      ...base,
      sysFlag: 0x30 | 0x4,
      bornHost: { address: '2001:db8:0:0:0:0:0:1', port: 1 },
      storeHost: { address: 'fe80:0:0:0:0:0:0:a', port: 65535 },
    };
    expect(encode(...both(f)).toString('hex')).toBe(goldenRecord(f).bytes.toString('hex'));
  });

  it('one IPv6 host, one IPv4 host', () => {
    const f: GoldenFields = { ...base, sysFlag: 0x20, storeHost: { address: '0:0:0:0:0:0:0:1', port: 7 } };
    expect(encode(...both(f)).toString('hex')).toBe(goldenRecord(f).bytes.toString('hex'));
  });

  it('v2 record (magic 0xdaa320ab, 2-byte TOPICLENGTH) for a topic longer than 127 bytes', () => {
    const f: GoldenFields = { ...base, topic: 't'.repeat(200) };
    const bytes = encode(...both(f));
    expect(bytes.readUInt32BE(4)).toBe(0xdaa320ab);
    expect(bytes.toString('hex')).toBe(goldenRecord(f).bytes.toString('hex'));
  });

  it('a 127-byte topic is still v1', () => {
    const f: GoldenFields = { ...base, topic: 'x'.repeat(127) };
    const bytes = encode(...both(f));
    expect(bytes.readUInt32BE(4)).toBe(0xdaa320a7);
    expect(bytes.toString('hex')).toBe(goldenRecord(f).bytes.toString('hex'));
  });

  it('empty body, no properties, unicode topic', () => {
    const f: GoldenFields = { ...base, body: Buffer.alloc(0), topic: 'Thé-主题-😀', properties: [] };
    expect(encode(...both(f)).toString('hex')).toBe(goldenRecord(f).bytes.toString('hex'));
  });

  it('unicode properties', () => {
    const f: GoldenFields = { ...base, properties: [['ключ', 'значение 😀'], ['e', '']] };
    expect(encode(...both(f)).toString('hex')).toBe(goldenRecord(f).bytes.toString('hex'));
  });

  it('a body long enough for the zlib route of the CRC', () => {
    const body = Buffer.alloc(5000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const f: GoldenFields = { ...base, body };
    expect(encode(...both(f)).toString('hex')).toBe(goldenRecord(f).bytes.toString('hex'));
  });

  it('the docs/FORMAT.md example record, pinned as hex', () => {
    // docs/FORMAT.md "A record, byte by byte": topic "T", body "hi", no user
    // properties, IPv4 hosts 127.0.0.1:0, every number small.
    const bytes = encode(
      { topic: 'T', body: Buffer.from('hi'), queueId: 1, bornTimestamp: 0x10 },
      { physicalOffset: 0, queueOffset: 0, storeTimestamp: 0x20 },
    );
    const hex = [
      '00000072', // TOTALSIZE 114
      'daa320a7', // MAGICCODE v1
      'd8932aac', // BODYCRC = CRC-32("hi")
      '00000001', // QUEUEID
      '00000000', // FLAG
      '0000000000000000', // QUEUEOFFSET
      '0000000000000000', // PHYSICALOFFSET
      '00000000', // SYSFLAG
      '0000000000000010', // BORNTIMESTAMP
      '7f000001' + '00000000', // BORNHOST
      '0000000000000020', // STORETIMESTAMP
      '7f000001' + '00000000', // STOREHOST
      '00000000', // RECONSUMETIMES
      '0000000000000000', // PREPAREDTRANSACTIONOFFSET
      '00000002' + '6869', // BODYLENGTH, BODY
      '01' + '54', // TOPICLENGTH, TOPIC
      '0014', // PROPERTIESLENGTH 20
      Buffer.from('__CRC32#\u0001').toString('hex'),
    ].join('');
    expect(bytes.length).toBe(114);
    expect(bytes.subarray(0, 103).toString('hex')).toBe(hex);
    expect(bytes[113]).toBe(0x02);
    // The digits: the CRC of bytes [0, 88) ++ [90, 103) ++ [113, 114).
    const crc = crc32(Buffer.concat([bytes.subarray(0, 88), bytes.subarray(90, 103), bytes.subarray(113)]));
    expect(bytes.subarray(103, 113).toString('latin1')).toBe(String(crc).padStart(10, '0'));
    expect(bytes.subarray(103, 113).toString('latin1')).toBe('0469170227'); // as printed in docs/FORMAT.md
  });
});

describe('golden bytes decode to the fields they were built from', () => {
  it('decodes every field of a hand-built record', () => {
    const f: GoldenFields = { ...base, bornHost: { address: '2001:db8:0:0:0:0:0:1', port: 1 }, sysFlag: 0x10 };
    const { bytes } = goldenRecord(f);
    const result = decodeRecord(bytes, 0, bytes.length, { verify: true, copy: true, expectedPhysicalOffset: 1024 });
    expect(result.kind).toBe('message');
    if (result.kind !== 'message') return;
    const m = result.message;
    expect(result.size).toBe(bytes.length);
    expect(m).toEqual({
      topic: f.topic,
      queueId: f.queueId,
      flag: f.flag,
      sysFlag: 0x10,
      bornTimestamp: f.bornTimestamp,
      bornHost: { address: '2001:db8::1', port: 1 },
      storeHost: f.storeHost,
      reconsumeTimes: f.reconsumeTimes,
      preparedTransactionOffset: f.preparedTransactionOffset,
      physicalOffset: f.physicalOffset,
      queueOffset: f.queueOffset,
      storeTimestamp: f.storeTimestamp,
      size: bytes.length,
      bodyCrc: crc32(f.body),
      body: f.body,
      properties: { TAGS: 'tagA', KEYS: 'order-1' },
    });
  });
});
