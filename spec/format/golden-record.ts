/**
 * Builds a message record field by field, the slow and obvious way, with
 * Buffer's own writers, BigInt and zlib.crc32: independent of
 * lib/format/message-codec.ts, so the golden-byte specs compare the
 * encoder against a second reading of docs/FORMAT.md.
 */
import { crc32 } from 'node:zlib';
import { isIPv4 } from 'node:net';

export interface GoldenFields {
  queueId: number;
  flag: number;
  queueOffset: number;
  physicalOffset: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: { address: string; port: number };
  storeTimestamp: number;
  storeHost: { address: string; port: number };
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Buffer;
  topic: string;
  /** Already in stored order; the CRC property is appended by goldenRecord. */
  properties: [string, string][];
}

const int32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const uint32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const int64 = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(v));
  return b;
};

/** 16 bytes of a fully written-out IPv6 address (tests give all 8 groups, no `::`). */
function ipv6Bytes(text: string): Buffer {
  const groups = text.split(':');
  if (groups.length !== 8) throw new Error('golden IPv6 addresses are written out in full');
  return Buffer.concat(groups.map((g) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(parseInt(g, 16));
    return b;
  }));
}

function host(h: { address: string; port: number }): Buffer {
  const address = isIPv4(h.address) ? Buffer.from(h.address.split('.').map(Number)) : ipv6Bytes(h.address);
  return Buffer.concat([address, int32(h.port)]);
}

/** The whole record, and where its pieces are, for specs that poke at them. */
export function goldenRecord(f: GoldenFields): { bytes: Buffer; bodyStart: number; bodyEnd: number; digitsStart: number } {
  const topic = Buffer.from(f.topic, 'utf8');
  const v2 = topic.length > 127;
  const userProperties = f.properties.map(([n, v]) => `${n}\u0001${v}\u0002`).join('');
  const properties = Buffer.from(`${userProperties}__CRC32#\u00010000000000\u0002`, 'utf8');
  const head = [
    Buffer.alloc(4), // TOTALSIZE, filled below
    uint32(v2 ? 0xdaa320ab : 0xdaa320a7),
    uint32(crc32(f.body)),
    int32(f.queueId),
    int32(f.flag),
    int64(f.queueOffset),
    int64(f.physicalOffset),
    int32(f.sysFlag),
    int64(f.bornTimestamp),
    host(f.bornHost),
    int64(f.storeTimestamp),
    host(f.storeHost),
    int32(f.reconsumeTimes),
    int64(f.preparedTransactionOffset),
    int32(f.body.length),
  ];
  const topicLength = v2 ? Buffer.alloc(2) : Buffer.alloc(1);
  if (v2) topicLength.writeUInt16BE(topic.length);
  else topicLength.writeUInt8(topic.length);
  const propertiesLength = Buffer.alloc(2);
  propertiesLength.writeUInt16BE(properties.length);
  const headBytes = Buffer.concat(head);
  const bytes = Buffer.concat([headBytes, f.body, topicLength, topic, propertiesLength, properties]);
  bytes.writeInt32BE(bytes.length, 0);
  const bodyStart = headBytes.length;
  const bodyEnd = bodyStart + f.body.length;
  const digitsStart = bytes.length - 11;
  // The record CRC: everything but the body and the digits, in order.
  const covered = Buffer.concat([
    bytes.subarray(0, bodyStart),
    bytes.subarray(bodyEnd, digitsStart),
    bytes.subarray(digitsStart + 10),
  ]);
  const crc = crc32(covered);
  bytes.write(String(crc).padStart(10, '0'), digitsStart, 'latin1');
  return { bytes, bodyStart, bodyEnd, digitsStart };
}
