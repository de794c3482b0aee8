/**
 * The CommitLog message codec: RocketMQ's v1 record (layout in
 * message-layout.ts and docs/FORMAT.md) plus a whole-record CRC kept, as in
 * RocketMQ 5, in a reserved last property `__CRC32#`.
 *
 * Coverage, so that every byte of a record is checksummed exactly once and
 * the body, the only large part, is hashed once per append:
 *   - BODYCRC  = CRC-32(BODY)
 *   - __CRC32# = CRC-32 of every record byte except BODY and except the 10
 *     digits themselves, in record order:
 *       [record start, BODY start) ++ [BODY end, digits start) ++ [digits end, record end)
 *     The last range is the single 0x02 that ends the record. BODYCRC sits
 *     in the first range, so a changed body byte breaks BODYCRC and a changed
 *     BODYCRC breaks the record CRC.
 *
 * Writing is two steps so the caller can decide where a record goes before
 * writing it: `prepareMessage` validates and sizes a user's message (and
 * hashes its body), `encodeMessage` writes it at a position with the
 * offsets and store time only known then. A message that does not fit the
 * rest of a segment is not split: the segment is closed by `encodeBlank`.
 *
 * Hot path: no BigInt (int64 fields are safe integers written as two
 * 32-bit halves), bytes stored directly into the target, encoded topics and
 * hosts cached in small bounded maps, and CRCs computed over ranges of the
 * target without copying (crc32.ts).
 */
import { CommitLogError } from '../errors.js';
import { assert } from '../assert.js';
import { remember } from './bounded-map.js';
import { crc32Range } from './crc32.js';
import { dataViewOf } from './data-views.js';
import { describe } from './describe.js';
import {
  DEFAULT_HOST,
  decodeIPv4Host,
  decodeIPv6Host,
  encodeHostAddress,
  type EncodedAddress,
  type SocketAddress,
} from './hosts.js';
import {
  BLANK_CHECKED_MIN_SIZE,
  BLANK_CRC_OFFSET,
  BLANK_MAGIC_CODE,
  BLANK_RECORD_SIZE,
  BODY_AFTER_STORE_HOST,
  BODY_CRC_OFFSET,
  BODY_LENGTH_AFTER_STORE_HOST,
  BORN_HOST_OFFSET,
  BORN_TIMESTAMP_OFFSET,
  BORNHOST_V6_FLAG,
  FLAG_OFFSET,
  IPV4_HOST_SIZE,
  IPV6_HOST_SIZE,
  MAGIC_CODE_OFFSET,
  MESSAGE_FIXED_SIZE_WITHOUT_HOSTS,
  MESSAGE_MAGIC_CODE_V1,
  MESSAGE_MAGIC_CODE_V2,
  MESSAGE_MIN_SIZE,
  NAME_VALUE_SEPARATOR,
  PHYSICAL_OFFSET_OFFSET,
  PREPARED_TRANSACTION_OFFSET_AFTER_STORE_HOST,
  PROPERTIES_LENGTH_SIZE,
  PROPERTIES_MAX_BYTES,
  PROPERTY_SEPARATOR,
  QUEUE_ID_OFFSET,
  QUEUE_OFFSET_OFFSET,
  RECONSUME_TIMES_AFTER_STORE_HOST,
  RECORD_CRC_DIGITS,
  RECORD_CRC_DIGITS_FROM_END,
  RECORD_CRC_PROPERTY_NAME,
  RECORD_CRC_PROPERTY_SIZE,
  RECORD_PREFIX_SIZE,
  STORE_HOST_AFTER_BORN_HOST,
  STORE_TIMESTAMP_AFTER_BORN_HOST,
  STOREHOSTADDRESS_V6_FLAG,
  SYS_FLAG_OFFSET,
  TOPIC_LENGTH_SIZE_V1,
  TOPIC_LENGTH_SIZE_V2,
  TOPIC_MAX_BYTES,
  TOPIC_V1_MAX_BYTES,
  TOTAL_SIZE_OFFSET,
} from './message-layout.js';
import { decodeProperties, encodeProperties } from './properties.js';

export {
  BLANK_MAGIC_CODE,
  BLANK_RECORD_SIZE,
  MESSAGE_MAGIC_CODE_V1,
  MESSAGE_MAGIC_CODE_V2,
  MESSAGE_MIN_SIZE,
} from './message-layout.js';
export type { SocketAddress } from './hosts.js';

/** What a user appends. Every optional field defaults as documented. */
export interface MessageInput {
  /** 1..32767 UTF-8 bytes; up to 127 bytes is a v1 record, longer is v2. */
  topic: string;
  /** Any bytes, empty allowed. */
  body: Uint8Array;
  /** int32 >= 0; default 0. */
  queueId?: number;
  /** Any int32; default 0. */
  flag?: number;
  /**
   * Any int32; default 0. Bits BORNHOST_V6_FLAG (0x10) and
   * STOREHOSTADDRESS_V6_FLAG (0x20) belong to the codec: it sets them from
   * the hosts' address families and ignores the values given here.
   */
  sysFlag?: number;
  /** Milliseconds since the epoch, a safe integer >= 0; default Date.now() at prepareMessage. */
  bornTimestamp?: number;
  /** Default 127.0.0.1:0. */
  bornHost?: SocketAddress;
  /** Default 127.0.0.1:0. */
  storeHost?: SocketAddress;
  /** int32 >= 0; default 0. */
  reconsumeTimes?: number;
  /** A safe integer >= 0; default 0. */
  preparedTransactionOffset?: number;
  /** Names non-empty; names and values without \u0001 or \u0002; `__CRC32#` reserved. Default none. */
  properties?: Readonly<Record<string, string>>;
}

/** A message read back from the log. */
export interface StoredMessage
  extends Required<Omit<MessageInput, 'body' | 'properties' | 'bornHost' | 'storeHost'>> {
  bornHost: SocketAddress;
  storeHost: SocketAddress;
  /** The record's global offset in the log. */
  physicalOffset: number;
  queueOffset: number;
  storeTimestamp: number;
  /** The record's length in bytes (TOTALSIZE). */
  size: number;
  /** CRC-32 of the body, unsigned. */
  bodyCrc: number;
  /** A view into the source (decodeRecord with copy: false) or a copy (copy: true). */
  body: Buffer;
  /**
   * The user's properties, without `__CRC32#`: an object without prototype,
   * frozen (NO_PROPERTIES, shared) when the message has none.
   */
  properties: Readonly<Record<string, string>>;
}

/** What only the store knows at the moment of writing. All safe integers >= 0. */
export interface EncodeStamp {
  physicalOffset: number;
  queueOffset: number;
  storeTimestamp: number;
}

/**
 * A validated, sized message, ready for encodeMessage. Treat as opaque
 * except `size`. It holds `body` by reference: the caller must not change
 * the body bytes between prepareMessage and encodeMessage (BODYCRC is
 * computed in prepareMessage).
 */
export interface PreparedMessage {
  /** The record's length in bytes: what encodeMessage will write. */
  readonly size: number;
  readonly magicCode: number;
  readonly bodyCrc: number;
  readonly queueId: number;
  readonly flag: number;
  readonly sysFlag: number;
  readonly bornTimestamp: number;
  readonly bornHost: EncodedAddress;
  readonly bornPort: number;
  readonly storeHost: EncodedAddress;
  readonly storePort: number;
  readonly reconsumeTimes: number;
  readonly preparedTransactionOffset: number;
  readonly body: Uint8Array;
  /** The topic as given (the store keys its queue offsets by it). */
  readonly topic: string;
  readonly topicBytes: Uint8Array;
  /** The user's properties as text, without the record CRC property. */
  readonly propertiesText: string;
  readonly propertiesByteLength: number;
}

export type DecodeResult =
  | { readonly kind: 'message'; readonly size: number; readonly message: StoredMessage }
  /** A blank record: no message from here to position + size; its BLANKCRC checked when it has one and the offset is known (the caller checks whether it reaches the segment's end). */
  | { readonly kind: 'blank'; readonly size: number }
  /** Eight zero bytes, or fewer than eight bytes before `limit` all zero: no data here. */
  | { readonly kind: 'end' }
  /** The record claims `size` bytes but fewer are before `limit`; size is 8 when even the prefix is cut. */
  | { readonly kind: 'truncated'; readonly size: number; readonly reason: string }
  /** Bad magic, size, lengths, CRC or physical offset. */
  | { readonly kind: 'corrupt'; readonly reason: string };

export interface DecodeOptions {
  /** Check BODYCRC and the record CRC (requires the `__CRC32#` property). Structure is always checked. */
  verify: boolean;
  /** Copy the body out of `source` (true) or return a view into it (false). */
  copy: boolean;
  /** When given, a record whose PHYSICALOFFSET differs is corrupt. */
  expectedPhysicalOffset?: number;
  /**
   * With `verify: false`: where to put a message's five seal positions
   * (recordStart, bodyStart, bodyEnd, digitsStart, recordEnd) so a caller
   * can check many records' CRCs in one native call (verifyRecords).
   */
  sealPositions?: { descriptors: Int32Array; slot: number };
  /**
   * Leave `body` empty: the caller copies the bodies itself, from the
   * sealPositions (a scan copying a whole batch into one buffer).
   */
  skipBody?: boolean;
}

/** The body of a message decoded with `skipBody`. */
const NO_BODY = Buffer.alloc(0);

/**
 * Writes one record's seal descriptor at `descriptors[slot * 5 ..]`: the
 * layout sealRecords / verifyRecords read (lib/native/crc32-native.ts),
 * digitsStart being the 10 digits before the final 0x02 at `end`.
 */
function putSealDescriptor(descriptors: Int32Array, slot: number, recordStart: number, bodyStart: number, bodyEnd: number, end: number): void {
  const at = slot * 5;
  descriptors[at] = recordStart;
  descriptors[at + 1] = bodyStart;
  descriptors[at + 2] = bodyEnd;
  descriptors[at + 3] = end - RECORD_CRC_DIGITS_FROM_END;
  descriptors[at + 4] = end;
}

/** Largest value of a signed 32-bit size field. */
const INT32_MAX = 0x7fffffff;
/** 2^32, for splitting an int64 into two 32-bit halves. */
const TWO_POW_32 = 0x1_0000_0000;
/** An int64's high half is at most this for the value to be a safe integer (2^21 - 1). */
const SAFE_HIGH_MAX = 0x1f_ffff;

/** Buffer#copy, callable on any Uint8Array body. */
const copyBytes = Buffer.prototype.copy;

/** Encoded topics kept by their text: topics are few and repeat. */
const TOPIC_CACHE_ENTRIES_MAX = 1024;
const topicCache = new Map<string, Uint8Array>();

/** A UTF-16 surrogate without its other half: UTF-8 cannot carry it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `__CRC32#` and 0x01: the bytes before the record CRC digits. */
const RECORD_CRC_PREFIX = Uint8Array.from([
  ...Buffer.from(RECORD_CRC_PROPERTY_NAME, 'latin1'),
  NAME_VALUE_SEPARATOR,
]);
const ASCII_ZERO = 0x30;
/** ASCII properties up to this many chars are stored by a JS loop, longer ones by Buffer#write. */
const ASCII_LOOP_MAX_CHARS = 256;

/**
 * Validates `message`, encodes its topic and properties, hashes its body and
 * computes the record's size. Throws ERR_INVALID_ARGUMENT for a malformed
 * field (naming it) and ERR_MESSAGE_TOO_LARGE when the record would exceed
 * `maxMessageSize` bytes or its properties 32767 bytes.
 */
export function prepareMessage(message: MessageInput, maxMessageSize: number, computeBodyCrc = true, nowMs?: number): PreparedMessage {
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < MESSAGE_MIN_SIZE || maxMessageSize > INT32_MAX) {
    throw invalid('maxMessageSize', maxMessageSize, `an integer in ${MESSAGE_MIN_SIZE}..${INT32_MAX}`);
  }
  if (typeof message !== 'object' || message === null) throw invalid('message', message, 'an object');
  const body = message.body;
  if (!(body instanceof Uint8Array)) throw invalid('body', body, 'a Uint8Array');
  if (body.length > maxMessageSize) {
    throw new CommitLogError('ERR_MESSAGE_TOO_LARGE', `body of ${body.length} bytes exceeds maxMessageSize ${maxMessageSize}`);
  }
  const topicBytes = encodeTopic(message.topic);

  const queueId = orDefault(message.queueId, 0);
  if ((queueId | 0) !== queueId || queueId < 0) throw invalid('queueId', queueId, 'an int32 >= 0');
  const flag = orDefault(message.flag, 0);
  if ((flag | 0) !== flag) throw invalid('flag', flag, 'an int32');
  const sysFlagGiven = orDefault(message.sysFlag, 0);
  if ((sysFlagGiven | 0) !== sysFlagGiven) throw invalid('sysFlag', sysFlagGiven, 'an int32');
  // A batch passes one clock reading for all its messages (Date.now() costs ~70 ns).
  const bornTimestamp = message.bornTimestamp === undefined ? (nowMs ?? Date.now()) : message.bornTimestamp;
  if (!isSafeNonNegative(bornTimestamp)) throw invalid('bornTimestamp', bornTimestamp, 'a safe integer >= 0');
  const reconsumeTimes = orDefault(message.reconsumeTimes, 0);
  if ((reconsumeTimes | 0) !== reconsumeTimes || reconsumeTimes < 0) {
    throw invalid('reconsumeTimes', reconsumeTimes, 'an int32 >= 0');
  }
  const preparedTransactionOffset = orDefault(message.preparedTransactionOffset, 0);
  if (!isSafeNonNegative(preparedTransactionOffset)) {
    throw invalid('preparedTransactionOffset', preparedTransactionOffset, 'a safe integer >= 0');
  }
  const bornHostGiven = orDefault(message.bornHost, DEFAULT_HOST);
  const storeHostGiven = orDefault(message.storeHost, DEFAULT_HOST);
  const bornHost = encodeHostAddress(bornHostGiven, 'bornHost');
  const storeHost = encodeHostAddress(storeHostGiven, 'storeHost');
  const sysFlag =
    (sysFlagGiven & ~(BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG)) |
    (bornHost.v6 ? BORNHOST_V6_FLAG : 0) |
    (storeHost.v6 ? STOREHOSTADDRESS_V6_FLAG : 0);

  const propertiesText = encodeProperties(message.properties);
  const propertiesByteLength = propertiesText === '' ? 0 : Buffer.byteLength(propertiesText, 'utf8');
  if (propertiesByteLength + RECORD_CRC_PROPERTY_SIZE > PROPERTIES_MAX_BYTES) {
    throw new CommitLogError(
      'ERR_MESSAGE_TOO_LARGE',
      `properties of ${propertiesByteLength} bytes exceed ${PROPERTIES_MAX_BYTES - RECORD_CRC_PROPERTY_SIZE}` +
        ` (${PROPERTIES_MAX_BYTES} with the ${RECORD_CRC_PROPERTY_SIZE}-byte record CRC property)`,
    );
  }

  const v2 = topicBytes.length > TOPIC_V1_MAX_BYTES;
  const size =
    MESSAGE_FIXED_SIZE_WITHOUT_HOSTS +
    (bornHost.v6 ? IPV6_HOST_SIZE : IPV4_HOST_SIZE) +
    (storeHost.v6 ? IPV6_HOST_SIZE : IPV4_HOST_SIZE) +
    body.length +
    (v2 ? TOPIC_LENGTH_SIZE_V2 - TOPIC_LENGTH_SIZE_V1 : 0) +
    topicBytes.length +
    propertiesByteLength +
    RECORD_CRC_PROPERTY_SIZE;
  if (size > maxMessageSize) {
    throw new CommitLogError('ERR_MESSAGE_TOO_LARGE', `record of ${size} bytes exceeds maxMessageSize ${maxMessageSize}`);
  }

  return {
    size,
    magicCode: v2 ? MESSAGE_MAGIC_CODE_V2 : MESSAGE_MAGIC_CODE_V1,
    // Left at 0 when the record will be sealed natively (encodeMessageForSeal + sealRecords).
    bodyCrc: computeBodyCrc ? crc32Range(body, 0, body.length, 0) : 0,
    queueId,
    flag,
    sysFlag,
    bornTimestamp,
    bornHost,
    bornPort: bornHostGiven.port,
    storeHost,
    storePort: storeHostGiven.port,
    reconsumeTimes,
    preparedTransactionOffset,
    body,
    topic: message.topic,
    topicBytes,
    propertiesText,
    propertiesByteLength,
  };
}

/** Where encodeFields put the parts the CRCs cover. */
interface EncodedRanges {
  readonly bodyStart: number;
  readonly bodyEnd: number;
  readonly digitsStart: number;
  readonly end: number;
}

/** Every byte of the record but the record CRC digits (and BODYCRC as prepared). */
function encodeFields(target: Buffer, position: number, prepared: PreparedMessage, stamp: EncodeStamp): EncodedRanges {
  const size = prepared.size;
  if (!isSafeNonNegative(position)) throw invalid('position', position, 'a safe integer >= 0');
  if (position + size > target.length) {
    throw new CommitLogError(
      'ERR_SEGMENT_FULL',
      `record of ${size} bytes at position ${position} does not fit in ${target.length} bytes`,
    );
  }
  const { physicalOffset, queueOffset, storeTimestamp } = stamp;
  if (!isSafeNonNegative(physicalOffset)) throw invalid('physicalOffset', physicalOffset, 'a safe integer >= 0');
  if (!isSafeNonNegative(queueOffset)) throw invalid('queueOffset', queueOffset, 'a safe integer >= 0');
  if (!isSafeNonNegative(storeTimestamp)) throw invalid('storeTimestamp', storeTimestamp, 'a safe integer >= 0');

  const t = target;
  const v = dataViewOf(t);
  const p = position;
  v.setInt32(p + TOTAL_SIZE_OFFSET, size);
  v.setUint32(p + MAGIC_CODE_OFFSET, prepared.magicCode);
  v.setUint32(p + BODY_CRC_OFFSET, prepared.bodyCrc);
  v.setInt32(p + QUEUE_ID_OFFSET, prepared.queueId);
  v.setInt32(p + FLAG_OFFSET, prepared.flag);
  setInt64(v, p + QUEUE_OFFSET_OFFSET, queueOffset);
  setInt64(v, p + PHYSICAL_OFFSET_OFFSET, physicalOffset);
  v.setInt32(p + SYS_FLAG_OFFSET, prepared.sysFlag);
  setInt64(v, p + BORN_TIMESTAMP_OFFSET, prepared.bornTimestamp);
  const bornAddress = prepared.bornHost.bytes;
  putBytes(t, p + BORN_HOST_OFFSET, bornAddress);
  v.setInt32(p + BORN_HOST_OFFSET + bornAddress.length, prepared.bornPort);
  const bornHostEnd = p + BORN_HOST_OFFSET + bornAddress.length + 4;
  setInt64(v, bornHostEnd + STORE_TIMESTAMP_AFTER_BORN_HOST, storeTimestamp);
  const storeAddress = prepared.storeHost.bytes;
  putBytes(t, bornHostEnd + STORE_HOST_AFTER_BORN_HOST, storeAddress);
  v.setInt32(bornHostEnd + STORE_HOST_AFTER_BORN_HOST + storeAddress.length, prepared.storePort);
  const storeHostEnd = bornHostEnd + STORE_HOST_AFTER_BORN_HOST + storeAddress.length + 4;
  v.setInt32(storeHostEnd + RECONSUME_TIMES_AFTER_STORE_HOST, prepared.reconsumeTimes);
  setInt64(v, storeHostEnd + PREPARED_TRANSACTION_OFFSET_AFTER_STORE_HOST, prepared.preparedTransactionOffset);
  const body = prepared.body;
  v.setInt32(storeHostEnd + BODY_LENGTH_AFTER_STORE_HOST, body.length);
  const bodyStart = storeHostEnd + BODY_AFTER_STORE_HOST;
  // Buffer#copy is ~25 % faster than TypedArray#set for KiB bodies.
  copyBytes.call(body, t, bodyStart);
  let q = bodyStart + body.length;
  const bodyEnd = q;

  const topic = prepared.topicBytes;
  if (prepared.magicCode === MESSAGE_MAGIC_CODE_V1) {
    v.setUint8(q, topic.length);
    q += TOPIC_LENGTH_SIZE_V1;
  } else {
    v.setUint16(q, topic.length);
    q += TOPIC_LENGTH_SIZE_V2;
  }
  putBytes(t, q, topic);
  q += topic.length;

  v.setUint16(q, prepared.propertiesByteLength + RECORD_CRC_PROPERTY_SIZE);
  q += PROPERTIES_LENGTH_SIZE;
  const propertiesText = prepared.propertiesText;
  const propertiesByteLength = prepared.propertiesByteLength;
  if (propertiesByteLength === propertiesText.length && propertiesByteLength <= ASCII_LOOP_MAX_CHARS) {
    // ASCII (one byte per char): a store per char beats Buffer#write's ~100 ns call.
    for (let i = 0; i < propertiesByteLength; i++) t[q + i] = propertiesText.charCodeAt(i);
    q += propertiesByteLength;
  } else if (propertiesByteLength > 0) {
    const written = t.write(propertiesText, q, propertiesByteLength, 'utf8');
    assert(written === propertiesByteLength, 'properties text wrote the bytes prepareMessage counted');
    q += written;
  }
  putBytes(t, q, RECORD_CRC_PREFIX);
  q += RECORD_CRC_PREFIX.length;
  const digitsStart = q;
  q += RECORD_CRC_DIGITS;
  t[q] = PROPERTY_SEPARATOR;
  q += 1;
  assert(q === p + size, 'encodeMessage wrote exactly the prepared size');

  return { bodyStart, bodyEnd, digitsStart, end: q };
}

/**
 * Writes `prepared` as a record at `target[position..position + size)` and
 * returns its size. Throws ERR_SEGMENT_FULL when the record does not fit in
 * `target`, ERR_INVALID_ARGUMENT for a bad position or stamp. Writes no byte
 * before every check has passed.
 */
export function encodeMessage(target: Buffer, position: number, prepared: PreparedMessage, stamp: EncodeStamp): number {
  const { bodyStart, bodyEnd, digitsStart, end } = encodeFields(target, position, prepared, stamp);
  const t = target;
  const p = position;
  const q = end;
  let crc = crc32Range(t, p, bodyStart, 0);
  crc = crc32Range(t, bodyEnd, digitsStart, crc);
  crc = crc32Range(t, digitsStart + RECORD_CRC_DIGITS, q, crc);
  // Ten digits, last first. (crc / 10) >>> 0 is the integer quotient (crc < 2^32);
  // % and Math.floor on a value above 2^31 fall off V8's integer path (10x slower).
  for (let i = digitsStart + RECORD_CRC_DIGITS - 1; i >= digitsStart; i--) {
    const quotient = (crc / 10) >>> 0;
    t[i] = ASCII_ZERO + crc - quotient * 10;
    crc = quotient;
  }
  return prepared.size;
}

/**
 * Like encodeMessage, but leaves both CRCs to a native batch call: writes
 * every other byte and the record's five seal positions into
 * `descriptors[slot * 5 ..]` (recordStart, bodyStart, bodyEnd, digitsStart,
 * recordEnd: the layout of lib/native/crc32-native.ts sealRecords). The
 * record is not valid until sealed; the caller seals before anything can
 * read it. `prepared` should come from prepareMessage(..., false).
 */
export function encodeMessageForSeal(target: Buffer, position: number, prepared: PreparedMessage, stamp: EncodeStamp, descriptors: Int32Array, slot: number): number {
  const { bodyStart, bodyEnd, end } = encodeFields(target, position, prepared, stamp);
  putSealDescriptor(descriptors, slot, position, bodyStart, bodyEnd, end);
  return prepared.size;
}

/**
 * Writes a blank record at `target[position..)`, for physical offset
 * `physicalOffset`: TOTALSIZE = size, MAGICCODE = BLANK_MAGIC_CODE and,
 * when size >= BLANK_CHECKED_MIN_SIZE, BLANKCRC (see blankCrc): 8 or 12
 * bytes written, the rest of the `size` bytes left as they are. `size` is
 * at least BLANK_RECORD_SIZE.
 */
export function encodeBlank(target: Buffer, position: number, size: number, physicalOffset: number): void {
  if ((size | 0) !== size || size < BLANK_RECORD_SIZE) {
    throw invalid('size', size, `an int32 >= ${BLANK_RECORD_SIZE}`);
  }
  const written = blankHeaderSize(size);
  if (!isSafeNonNegative(position) || position + written > target.length) {
    throw invalid('position', position, `a position with ${written} bytes before the end of ${target.length}`);
  }
  if (!isSafeNonNegative(physicalOffset)) throw invalid('physicalOffset', physicalOffset, 'a safe integer >= 0');
  const v = dataViewOf(target);
  v.setInt32(position + TOTAL_SIZE_OFFSET, size);
  v.setUint32(position + MAGIC_CODE_OFFSET, BLANK_MAGIC_CODE);
  if (written === BLANK_CHECKED_MIN_SIZE) v.setUint32(position + BLANK_CRC_OFFSET, blankCrc(target, position, physicalOffset));
}

/**
 * BLANKCRC: CRC-32 of the blank's 8 header bytes followed by its physical
 * offset as 8 big-endian bytes. The offset makes a valid blank found at the
 * wrong place (a misdirected or stale page) fail as well.
 */
function blankCrc(source: Buffer, position: number, physicalOffset: number): number {
  const header = crc32Range(source, position, position + BLANK_RECORD_SIZE, 0);
  blankOffsetView.setUint32(0, Math.floor(physicalOffset / TWO_POW_32));
  blankOffsetView.setUint32(4, physicalOffset >>> 0);
  return crc32Range(blankOffsetBytes, 0, 8, header);
}
const blankOffsetBytes = Buffer.alloc(8);
const blankOffsetView = new DataView(blankOffsetBytes.buffer, blankOffsetBytes.byteOffset, 8);

/** The bytes encodeBlank writes for a blank record of `size`: 12 with BLANKCRC, 8 for the 8–11 bytes that end a segment. */
export function blankHeaderSize(size: number): number {
  return size >= BLANK_CHECKED_MIN_SIZE ? BLANK_CHECKED_MIN_SIZE : BLANK_RECORD_SIZE;
}

/**
 * Whether a record of `size` bytes may go where `bytesLeftInSegment` bytes
 * remain: it must leave room for the blank record that will close the
 * segment (RocketMQ's END_FILE_MIN_BLANK_LENGTH rule), so a record never
 * ends exactly at the segment's end.
 */
export function messageFitsInSegment(size: number, bytesLeftInSegment: number): boolean {
  return size + BLANK_RECORD_SIZE <= bytesLeftInSegment;
}

/**
 * Reads the record at `source[position..]`, looking no further than `limit`
 * (exclusive). Never throws on bad bytes: they are a `corrupt` or
 * `truncated` result. Throws ERR_INVALID_ARGUMENT only when position and
 * limit are not `0 <= position <= limit <= source.length`.
 */
/**
 * Where the fields of a structurally sound (and, when asked, verified)
 * message record are. One instance, refilled by every locateRecord and read
 * right away by its caller: a walk locates a million records a second, and
 * an object per record was a fifth of its garbage. Its callers clear `v`
 * once read, so it never keeps a source (a read-only mapping of a segment
 * retention has deleted, say) reachable.
 */
const NO_VIEW = new DataView(new ArrayBuffer(0));
class Located {
  readonly kind = 'located' as const;
  v: DataView = NO_VIEW;
  totalSize = 0;
  end = 0;
  sysFlag = 0;
  bornV6 = false;
  storeV6 = false;
  storeHostStart = 0;
  storeHostEnd = 0;
  bodyStart = 0;
  bodyEnd = 0;
  topicStart = 0;
  topicEnd = 0;
  propertiesStart = 0;
  hasRecordCrc = false;
  physicalOffset = 0;
  bodyCrc = 0;
  storeTimestampAt = 0;
  preparedTransactionAt = 0;
}
const located = new Located();

/**
 * The checks every decode shares: bounds, magic, lengths, int64 ranges, the
 * expected physical offset and (with `verify`) both CRCs. Returns the
 * non-message outcome, or where the message's fields are.
 */
function locateRecord(source: Buffer, position: number, limit: number, options: Omit<DecodeOptions, 'copy'>): NonMessage | Located {
  if (!Number.isInteger(position) || !Number.isInteger(limit) || position < 0 || position > limit || limit > source.length) {
    throw new CommitLogError(
      'ERR_INVALID_ARGUMENT',
      `need 0 <= position <= limit <= ${source.length}, got position ${describe(position)}, limit ${describe(limit)}`,
    );
  }
  const s = source;
  const p = position;
  const available = limit - p;
  if (available < RECORD_PREFIX_SIZE) {
    for (let i = p; i < limit; i++) {
      if (s[i] !== 0) {
        return {
          kind: 'truncated',
          size: RECORD_PREFIX_SIZE,
          reason: `only ${available} of the ${RECORD_PREFIX_SIZE} prefix bytes before the limit`,
        };
      }
    }
    return END;
  }

  const v = dataViewOf(s);
  const totalSize = v.getInt32(p + TOTAL_SIZE_OFFSET);
  const magicCode = v.getUint32(p + MAGIC_CODE_OFFSET);
  if (magicCode === BLANK_MAGIC_CODE) {
    if (totalSize < BLANK_RECORD_SIZE) return corrupt(`blank record of size ${totalSize}`);
    if (totalSize > available) return truncated(totalSize, available);
    // BLANKCRC covers the physical offset: checked wherever the caller says where the record is.
    const at = options.expectedPhysicalOffset;
    if (totalSize >= BLANK_CHECKED_MIN_SIZE && at !== undefined) {
      const crc = blankCrc(s, p, at);
      const stored = v.getUint32(p + BLANK_CRC_OFFSET);
      if (crc !== stored) return corrupt(`blank record of ${totalSize} bytes with BLANKCRC ${stored}, expected ${crc} at offset ${at}`);
    }
    return { kind: 'blank', size: totalSize };
  }
  if (magicCode !== MESSAGE_MAGIC_CODE_V1 && magicCode !== MESSAGE_MAGIC_CODE_V2) {
    if (magicCode === 0 && totalSize === 0) return END;
    return corrupt(`bad magic code 0x${hex32(magicCode)} (TOTALSIZE ${totalSize})`);
  }
  if (totalSize < MESSAGE_MIN_SIZE) return corrupt(`message of size ${totalSize}, below the minimum ${MESSAGE_MIN_SIZE}`);
  if (totalSize > available) return truncated(totalSize, available);
  const end = p + totalSize;

  // Structure: each length must leave room for what follows it, and the
  // last field must end exactly at TOTALSIZE.
  const sysFlag = v.getInt32(p + SYS_FLAG_OFFSET);
  const bornV6 = (sysFlag & BORNHOST_V6_FLAG) !== 0;
  const storeV6 = (sysFlag & STOREHOSTADDRESS_V6_FLAG) !== 0;
  const v2 = magicCode === MESSAGE_MAGIC_CODE_V2;
  const topicLengthSize = v2 ? TOPIC_LENGTH_SIZE_V2 : TOPIC_LENGTH_SIZE_V1;
  const fixedSize =
    MESSAGE_FIXED_SIZE_WITHOUT_HOSTS +
    (bornV6 ? IPV6_HOST_SIZE : IPV4_HOST_SIZE) +
    (storeV6 ? IPV6_HOST_SIZE : IPV4_HOST_SIZE) +
    (topicLengthSize - TOPIC_LENGTH_SIZE_V1);
  if (totalSize < fixedSize) return corrupt(`message of size ${totalSize}, below the ${fixedSize} its SYSFLAG and magic need`);
  const bornHostEnd = p + BORN_HOST_OFFSET + (bornV6 ? IPV6_HOST_SIZE : IPV4_HOST_SIZE);
  const storeHostStart = bornHostEnd + STORE_HOST_AFTER_BORN_HOST;
  const storeHostEnd = storeHostStart + (storeV6 ? IPV6_HOST_SIZE : IPV4_HOST_SIZE);
  const bodyLength = v.getInt32(storeHostEnd + BODY_LENGTH_AFTER_STORE_HOST);
  const bodyStart = storeHostEnd + BODY_AFTER_STORE_HOST;
  // The room left for BODY, TOPIC and PROPERTIES: TOTALSIZE minus the fixed part.
  const variableBytes = totalSize - fixedSize;
  if (bodyLength < 0 || bodyLength > variableBytes) {
    return corrupt(`BODYLENGTH ${bodyLength} does not fit in TOTALSIZE ${totalSize}`);
  }
  const bodyEnd = bodyStart + bodyLength;
  const topicLength = v2 ? v.getUint16(bodyEnd) : v.getUint8(bodyEnd);
  if (v2 ? topicLength <= TOPIC_V1_MAX_BYTES || topicLength > TOPIC_MAX_BYTES : topicLength === 0 || topicLength > TOPIC_V1_MAX_BYTES) {
    return corrupt(`TOPICLENGTH ${topicLength} out of range for magic 0x${hex32(magicCode)}`);
  }
  if (bodyLength + topicLength > variableBytes) {
    return corrupt(`TOPICLENGTH ${topicLength} does not fit in TOTALSIZE ${totalSize}`);
  }
  const topicStart = bodyEnd + topicLengthSize;
  const topicEnd = topicStart + topicLength;
  const propertiesLength = v.getUint16(topicEnd);
  if (propertiesLength > PROPERTIES_MAX_BYTES) return corrupt(`PROPERTIESLENGTH ${propertiesLength} above ${PROPERTIES_MAX_BYTES}`);
  const propertiesStart = topicEnd + PROPERTIES_LENGTH_SIZE;
  if (propertiesStart + propertiesLength !== end) {
    return corrupt(
      `lengths (body ${bodyLength}, topic ${topicLength}, properties ${propertiesLength}) disagree with TOTALSIZE ${totalSize}`,
    );
  }

  // int64 fields must be safe integers >= 0.
  const storeTimestampAt = bornHostEnd + STORE_TIMESTAMP_AFTER_BORN_HOST;
  const preparedTransactionAt = storeHostEnd + PREPARED_TRANSACTION_OFFSET_AFTER_STORE_HOST;
  if (
    !isSafeUint64(v, p + QUEUE_OFFSET_OFFSET) ||
    !isSafeUint64(v, p + PHYSICAL_OFFSET_OFFSET) ||
    !isSafeUint64(v, p + BORN_TIMESTAMP_OFFSET) ||
    !isSafeUint64(v, storeTimestampAt) ||
    !isSafeUint64(v, preparedTransactionAt)
  ) {
    return corrupt('an int64 field is negative or above 2^53 - 1');
  }
  const physicalOffset = getUint64(v, p + PHYSICAL_OFFSET_OFFSET);
  const expected = options.expectedPhysicalOffset;
  if (expected !== undefined && physicalOffset !== expected) {
    return corrupt(`PHYSICALOFFSET ${physicalOffset}, expected ${expected}`);
  }

  const hasRecordCrc = propertiesLength >= RECORD_CRC_PROPERTY_SIZE && isRecordCrcProperty(s, end);
  const bodyCrc = v.getUint32(p + BODY_CRC_OFFSET);
  if (options.verify) {
    if (!hasRecordCrc) return corrupt(`no ${RECORD_CRC_PROPERTY_NAME} property at the end of the record`);
    const digitsStart = end - RECORD_CRC_DIGITS_FROM_END;
    let crc = crc32Range(s, p, bodyStart, 0);
    crc = crc32Range(s, bodyEnd, digitsStart, crc);
    crc = crc32Range(s, digitsStart + RECORD_CRC_DIGITS, end, crc);
    const stored = readDigits(s, digitsStart);
    if (crc !== stored) return corrupt(`record CRC ${crc} does not match the stored ${stored}`);
    const actualBodyCrc = crc32Range(s, bodyStart, bodyEnd, 0);
    if (actualBodyCrc !== bodyCrc) return corrupt(`body CRC ${actualBodyCrc} does not match BODYCRC ${bodyCrc}`);
  }

  const l = located;
  l.v = v;
  l.totalSize = totalSize;
  l.end = end;
  l.sysFlag = sysFlag;
  l.bornV6 = bornV6;
  l.storeV6 = storeV6;
  l.storeHostStart = storeHostStart;
  l.storeHostEnd = storeHostEnd;
  l.bodyStart = bodyStart;
  l.bodyEnd = bodyEnd;
  l.topicStart = topicStart;
  l.topicEnd = topicEnd;
  l.propertiesStart = propertiesStart;
  l.hasRecordCrc = hasRecordCrc;
  l.physicalOffset = physicalOffset;
  l.bodyCrc = bodyCrc;
  l.storeTimestampAt = storeTimestampAt;
  l.preparedTransactionAt = preparedTransactionAt;
  return l;
}

export function decodeRecord(source: Buffer, position: number, limit: number, options: DecodeOptions): DecodeResult {
  const decoded = decodeMessage(source, position, limit, options);
  return 'kind' in decoded ? decoded : { kind: 'message', size: decoded.size, message: decoded };
}

/**
 * decodeRecord without the result wrapper: the message itself (its `size`
 * is the record's), or the non-message outcome (the only kind with a
 * `kind`). A scan decodes a million records a second; one object less each.
 */
export function decodeMessage(source: Buffer, position: number, limit: number, options: DecodeOptions): StoredMessage | NonMessage {
  const found = locateRecord(source, position, limit, options);
  if (found.kind !== 'located') return found;
  if (options.sealPositions !== undefined) putSealDescriptor(options.sealPositions.descriptors, options.sealPositions.slot, position, found.bodyStart, found.bodyEnd, found.end);
  const s = source;
  const p = position;
  const {
    v, totalSize, end, sysFlag, bornV6, storeV6, storeHostStart, storeHostEnd, bodyStart, bodyEnd, topicStart, topicEnd,
    propertiesStart, hasRecordCrc, physicalOffset, bodyCrc, storeTimestampAt, preparedTransactionAt,
  } = found;
  found.v = NO_VIEW;
  const bodyLength = bodyEnd - bodyStart;
  const bornHost = bornV6 ? decodeIPv6Host(s, p + BORN_HOST_OFFSET) : decodeIPv4Host(s, p + BORN_HOST_OFFSET);
  const storeHost = storeV6 ? decodeIPv6Host(s, storeHostStart) : decodeIPv4Host(s, storeHostStart);
  if (bornHost === undefined || storeHost === undefined) return corrupt('a host port outside 0..65535');
  const queueId = v.getInt32(p + QUEUE_ID_OFFSET);
  if (queueId < 0) return corrupt(`negative QUEUEID ${queueId}`);
  const reconsumeTimes = v.getInt32(storeHostEnd + RECONSUME_TIMES_AFTER_STORE_HOST);
  if (reconsumeTimes < 0) return corrupt(`negative RECONSUMETIMES ${reconsumeTimes}`);

  const properties = decodeProperties(s, propertiesStart, hasRecordCrc ? end - RECORD_CRC_PROPERTY_SIZE : end);
  if (typeof properties === 'string') return corrupt(properties);

  let body: Buffer;
  if (options.skipBody) {
    body = NO_BODY;
  } else if (options.copy) {
    body = Buffer.allocUnsafe(bodyLength);
    s.copy(body, 0, bodyStart, bodyEnd);
  } else {
    body = s.subarray(bodyStart, bodyEnd);
  }
  const message: StoredMessage = {
    topic: decodeTopic(s, topicStart, topicEnd),
    queueId,
    flag: v.getInt32(p + FLAG_OFFSET),
    sysFlag,
    bornTimestamp: getUint64(v, p + BORN_TIMESTAMP_OFFSET),
    bornHost,
    storeHost,
    reconsumeTimes,
    preparedTransactionOffset: getUint64(v, preparedTransactionAt),
    physicalOffset,
    queueOffset: getUint64(v, p + QUEUE_OFFSET_OFFSET),
    storeTimestamp: getUint64(v, storeTimestampAt),
    size: totalSize,
    bodyCrc,
    body,
    properties,
  };
  return message;
}

/** The fields recovery needs of a record: what queue it belongs to, and when it was stored. */
export interface RecordSummary {
  readonly topic: string;
  readonly queueId: number;
  readonly queueOffset: number;
  readonly storeTimestamp: number;
}

export type SummaryResult = NonMessage | { readonly kind: 'message'; readonly size: number; readonly summary: RecordSummary };

/**
 * Like decodeRecord with `copy: false`, with the same checks (CRCs when
 * `verify`), but builds only the summary: no hosts, properties or body.
 * A recovery walk over every record is bound by the CRC, not by building
 * objects it would throw away.
 */
export function decodeRecordSummary(source: Buffer, position: number, limit: number, options: Omit<DecodeOptions, 'copy'>): SummaryResult {
  const found = locateRecord(source, position, limit, options);
  if (found.kind !== 'located') return found;
  if (options.sealPositions !== undefined) putSealDescriptor(options.sealPositions.descriptors, options.sealPositions.slot, position, found.bodyStart, found.bodyEnd, found.end);
  const { v } = found;
  found.v = NO_VIEW;
  const queueId = v.getInt32(position + QUEUE_ID_OFFSET);
  if (queueId < 0) return corrupt(`negative QUEUEID ${queueId}`);
  return {
    kind: 'message',
    size: found.totalSize,
    summary: {
      topic: decodeTopic(source, found.topicStart, found.topicEnd),
      queueId,
      queueOffset: getUint64(v, position + QUEUE_OFFSET_OFFSET),
      storeTimestamp: getUint64(v, found.storeTimestampAt),
    },
  };
}

/** Decoded topics by their bytes' position-independent key: topics are few and repeat. */
const decodedTopics = new Map<string, string>();
let lastTopicBytes: Uint8Array = new Uint8Array(0);
let lastTopic = '';
function decodeTopic(source: Buffer, start: number, end: number): string {
  // Runs of records mostly share a topic: compare with the last one byte by byte first.
  const length = end - start;
  if (length === lastTopicBytes.length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (source[start + i] !== lastTopicBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastTopic;
  }
  lastTopicBytes = Uint8Array.prototype.slice.call(source, start, end);
  // latin1 is a 1:1 byte→char map: a cheap exact key for the UTF-8 bytes.
  const key = source.toString('latin1', start, end);
  const cached = decodedTopics.get(key);
  lastTopic = cached ?? remember(decodedTopics, key, source.toString('utf8', start, end), TOPIC_CACHE_ENTRIES_MAX);
  return lastTopic;
}

// --- helpers -----------------------------------------------------------------

/** Every decode outcome but a message. */
export type NonMessage = Exclude<DecodeResult, { kind: 'message' }>;

const END: NonMessage = Object.freeze({ kind: 'end' });

function corrupt(reason: string): NonMessage {
  return { kind: 'corrupt', reason };
}

function truncated(size: number, available: number): NonMessage {
  return { kind: 'truncated', size, reason: `record of ${size} bytes, only ${available} before the limit` };
}

function invalid(name: string, value: unknown, expected: string): CommitLogError {
  return new CommitLogError('ERR_INVALID_ARGUMENT', `${name} must be ${expected}, got ${describe(value)}`);
}

/** Only undefined takes the default: null is a wrong value, not an absent one. */
function orDefault<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

function isSafeNonNegative(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** The topic's UTF-8 bytes, validated once per distinct topic and cached. */
function encodeTopic(topic: string): Uint8Array {
  const cached = topicCache.get(topic);
  if (cached !== undefined) return cached;
  if (typeof topic !== 'string' || topic === '') throw invalid('topic', topic, 'a non-empty string');
  if (LONE_SURROGATE.test(topic)) {
    throw invalid('topic', topic, 'text without a lone UTF-16 surrogate');
  }
  const bytes = new Uint8Array(Buffer.from(topic, 'utf8'));
  if (bytes.length > TOPIC_MAX_BYTES) {
    throw invalid('topic', topic, `at most ${TOPIC_MAX_BYTES} UTF-8 bytes (it has ${bytes.length})`);
  }
  return remember(topicCache, topic, bytes, TOPIC_CACHE_ENTRIES_MAX);
}

/** A safe integer >= 0 as an int64, big-endian: high half, then low half (no BigInt). */
function setInt64(v: DataView, at: number, value: number): void {
  v.setUint32(at, Math.floor(value / TWO_POW_32));
  v.setUint32(at + 4, value >>> 0);
}

/** Copies a short array; a plain loop beats a native call below a few dozen bytes. */
function putBytes(t: Uint8Array, at: number, bytes: Uint8Array): void {
  const n = bytes.length;
  if (n > 32) {
    t.set(bytes, at);
    return;
  }
  for (let i = 0; i < n; i++) t[at + i] = bytes[i]!;
}

/** Whether the int64 at `at` is in 0..2^53 - 1. */
function isSafeUint64(v: DataView, at: number): boolean {
  const high = v.getInt32(at);
  return high >= 0 && high <= SAFE_HIGH_MAX;
}

/** The int64 at `at`; the caller has checked isSafeUint64. */
function getUint64(v: DataView, at: number): number {
  return v.getInt32(at) * TWO_POW_32 + v.getUint32(at + 4);
}

/** Whether the record ending at `end` ends with `__CRC32#` 0x01, ten ASCII digits and 0x02. */
function isRecordCrcProperty(s: Uint8Array, end: number): boolean {
  const start = end - RECORD_CRC_PROPERTY_SIZE;
  for (let i = 0; i < RECORD_CRC_PREFIX.length; i++) {
    if (s[start + i] !== RECORD_CRC_PREFIX[i]) return false;
  }
  const digitsStart = end - RECORD_CRC_DIGITS_FROM_END;
  for (let i = digitsStart; i < digitsStart + RECORD_CRC_DIGITS; i++) {
    const c = s[i]!;
    if (c < ASCII_ZERO || c > ASCII_ZERO + 9) return false;
  }
  return s[end - 1] === PROPERTY_SEPARATOR;
}

/** The ten ASCII digits at `at` as a number (up to 9999999999; a value above 2^32 - 1 matches no CRC). */
function readDigits(s: Uint8Array, at: number): number {
  let value = 0;
  for (let i = at; i < at + RECORD_CRC_DIGITS; i++) value = value * 10 + (s[i]! - ASCII_ZERO);
  return value;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}
