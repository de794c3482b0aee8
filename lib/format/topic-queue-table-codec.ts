/**
 * The topic-queue table file: for each (topic, queueId), the next
 * QUEUEOFFSET to assign, as of a physical offset of the log. Recovery loads
 * it and replays the records after that offset, so queue offsets continue
 * exactly where they were (RocketMQ rebuilds its topicQueueTable from the
 * consume queues, which this package does not have).
 *
 *   offset  width  field
 *   ------  -----  ---------------------------------------------------
 *        0      4  MAGIC          0x54515442 ("TQTB"), uint32
 *        4      4  VERSION        1, uint32
 *        8      8  COVEREDOFFSET  int64: the table includes every record below this log offset
 *       16      4  COUNT          uint32: number of entries
 *       20      …  ENTRIES        COUNT times:
 *                                   2  TOPICLENGTH  uint16
 *                                   …  TOPIC        UTF-8
 *                                   4  QUEUEID      int32
 *                                   8  NEXTQUEUEOFFSET int64
 *   end-4       4  CRC            CRC-32 of every byte before it, uint32
 *
 * Big-endian. Written whole to a temporary file, synced, then renamed over
 * the old one, so a crash leaves either the old table or the new.
 */
import { crc32 } from 'node:zlib';
import { CommitLogError } from '../errors.js';

export const TOPIC_QUEUE_TABLE_MAGIC = 0x54515442;
export const TOPIC_QUEUE_TABLE_VERSION = 1;
const MAGIC_OFFSET = 0;
const VERSION_OFFSET = MAGIC_OFFSET + 4;
const COVERED_OFFSET_OFFSET = VERSION_OFFSET + 4;
const COUNT_OFFSET = COVERED_OFFSET_OFFSET + 8;
const ENTRIES_OFFSET = COUNT_OFFSET + 4;
const CRC_SIZE = 4;
/** Fixed bytes of one entry besides its topic: TOPICLENGTH + QUEUEID + NEXTQUEUEOFFSET. */
const ENTRY_FIXED_SIZE = 2 + 4 + 8;

/** Key of a queue in the table: topic and queue id joined by a character no topic contains. */
export function queueKey(topic: string, queueId: number): string {
  return `${topic}\u0000${queueId}`;
}

export interface TopicQueueTable {
  /** Every record below this log offset is counted in `nextQueueOffsets`. */
  coveredOffset: number;
  /** queueKey(topic, queueId) → next queue offset. */
  nextQueueOffsets: Map<string, number>;
}

export function encodeTopicQueueTable(table: TopicQueueTable): Buffer {
  const entries = [...table.nextQueueOffsets].map(([key, next]) => {
    const split = key.lastIndexOf('\u0000');
    return { topic: Buffer.from(key.slice(0, split), 'utf8'), queueId: Number(key.slice(split + 1)), next };
  });
  const size = ENTRIES_OFFSET + entries.reduce((sum, entry) => sum + ENTRY_FIXED_SIZE + entry.topic.length, 0) + CRC_SIZE;
  const out = Buffer.alloc(size);
  out.writeUInt32BE(TOPIC_QUEUE_TABLE_MAGIC, MAGIC_OFFSET);
  out.writeUInt32BE(TOPIC_QUEUE_TABLE_VERSION, VERSION_OFFSET);
  out.writeBigInt64BE(BigInt(table.coveredOffset), COVERED_OFFSET_OFFSET);
  out.writeUInt32BE(entries.length, COUNT_OFFSET);
  let position = ENTRIES_OFFSET;
  for (const entry of entries) {
    out.writeUInt16BE(entry.topic.length, position);
    entry.topic.copy(out, position + 2);
    position += 2 + entry.topic.length;
    out.writeInt32BE(entry.queueId, position);
    out.writeBigInt64BE(BigInt(entry.next), position + 4);
    position += 12;
  }
  out.writeUInt32BE(crc32(out.subarray(0, position)), position);
  return out;
}

/** Decodes a table file; ERR_CORRUPT when its CRC or structure is wrong. */
export function decodeTopicQueueTable(bytes: Buffer): TopicQueueTable {
  const corrupt = (reason: string) => new CommitLogError('ERR_CORRUPT', `topic-queue table: ${reason}`);
  if (bytes.length < ENTRIES_OFFSET + CRC_SIZE) throw corrupt(`${bytes.length} bytes is too short`);
  const crcAt = bytes.length - CRC_SIZE;
  if (crc32(bytes.subarray(0, crcAt)) !== bytes.readUInt32BE(crcAt)) throw corrupt('CRC mismatch');
  if (bytes.readUInt32BE(MAGIC_OFFSET) !== TOPIC_QUEUE_TABLE_MAGIC) throw corrupt('bad magic');
  if (bytes.readUInt32BE(VERSION_OFFSET) !== TOPIC_QUEUE_TABLE_VERSION) throw corrupt('unknown version');
  const coveredOffset = Number(bytes.readBigInt64BE(COVERED_OFFSET_OFFSET));
  const count = bytes.readUInt32BE(COUNT_OFFSET);
  const nextQueueOffsets = new Map<string, number>();
  let position = ENTRIES_OFFSET;
  for (let index = 0; index < count; index += 1) {
    if (position + 2 > crcAt) throw corrupt('entry past the end');
    const topicLength = bytes.readUInt16BE(position);
    if (position + 2 + topicLength + 12 > crcAt) throw corrupt('entry past the end');
    const topic = bytes.toString('utf8', position + 2, position + 2 + topicLength);
    position += 2 + topicLength;
    nextQueueOffsets.set(queueKey(topic, bytes.readInt32BE(position)), Number(bytes.readBigInt64BE(position + 4)));
    position += 12;
  }
  if (position !== crcAt) throw corrupt('trailing bytes');
  return { coveredOffset, nextQueueOffsets };
}
