/**
 * The CommitLog record layout, one constant per field. The comment above a
 * constant is its layout: offsets are derived by addition from the field
 * before, widths are in bytes, every integer is big-endian, magic numbers are
 * written in hex. docs/FORMAT.md draws the same layout as tables.
 *
 * A message record (RocketMQ's CommitLog message, version 1):
 *
 *   offset  width  field
 *   ------  -----  ---------------------------------------------------------
 *        0      4  TOTALSIZE                  int32, the whole record, this field included
 *        4      4  MAGICCODE                  0xdaa320a7 (v1) or 0xdaa320ab (v2)
 *        8      4  BODYCRC                    CRC-32 of BODY
 *       12      4  QUEUEID                    int32
 *       16      4  FLAG                       int32
 *       20      8  QUEUEOFFSET                int64
 *       28      8  PHYSICALOFFSET             int64
 *       36      4  SYSFLAG                    int32
 *       40      8  BORNTIMESTAMP              int64, ms since the epoch
 *       48    8|20 BORNHOST                   4|16 address bytes + int32 port
 *        h      8  STORETIMESTAMP             int64, h = 48 + |BORNHOST|
 *      h+8    8|20 STOREHOST                  4|16 address bytes + int32 port
 *        r      4  RECONSUMETIMES             int32, r = h + 8 + |STOREHOST|
 *      r+4      8  PREPAREDTRANSACTIONOFFSET  int64
 *     r+12      4  BODYLENGTH                 int32 = B
 *     r+16      B  BODY
 *        t    1|2  TOPICLENGTH                uint8 (v1) or uint16 (v2) = T, t = r + 16 + B
 *      t+1|2    T  TOPIC                      UTF-8
 *        p      2  PROPERTIESLENGTH           uint16 <= 0x7fff = P
 *      p+2      P  PROPERTIES                 UTF-8 `name 0x01 value 0x02`..., ending in the
 *                                             20-byte record CRC property `__CRC32#` 0x01 d*10 0x02
 *
 * A blank record (the end of a segment, or a hole recovery wrote over damaged
 * bytes): TOTALSIZE (the bytes it covers), MAGICCODE 0xcbd43194 and, when
 * TOTALSIZE >= BLANK_CHECKED_MIN_SIZE (12), BLANKCRC at 8: uint32, CRC-32 of
 * bytes 0-7 followed by the record's physical offset as 8 big-endian bytes,
 * checked by a reader that knows that offset. The bytes after those 8 or 12
 * are not read.
 */

// --- fixed part: the offsets do not depend on the record ------------------

/** TOTALSIZE: int32 at 0, the record's length in bytes including this field. */
export const TOTAL_SIZE_OFFSET = 0;
/** MAGICCODE: uint32 at 0 + 4 = 4. */
export const MAGIC_CODE_OFFSET = TOTAL_SIZE_OFFSET + 4;
/** BODYCRC: uint32 at 4 + 4 = 8, CRC-32 of the BODY bytes. */
export const BODY_CRC_OFFSET = MAGIC_CODE_OFFSET + 4;
/** QUEUEID: int32 at 8 + 4 = 12. */
export const QUEUE_ID_OFFSET = BODY_CRC_OFFSET + 4;
/** FLAG: int32 at 12 + 4 = 16. */
export const FLAG_OFFSET = QUEUE_ID_OFFSET + 4;
/** QUEUEOFFSET: int64 at 16 + 4 = 20. */
export const QUEUE_OFFSET_OFFSET = FLAG_OFFSET + 4;
/** PHYSICALOFFSET: int64 at 20 + 8 = 28, the record's own global offset in the log. */
export const PHYSICAL_OFFSET_OFFSET = QUEUE_OFFSET_OFFSET + 8;
/** SYSFLAG: int32 at 28 + 8 = 36; bits 1<<4 and 1<<5 choose the host widths. */
export const SYS_FLAG_OFFSET = PHYSICAL_OFFSET_OFFSET + 8;
/** BORNTIMESTAMP: int64 at 36 + 4 = 40. */
export const BORN_TIMESTAMP_OFFSET = SYS_FLAG_OFFSET + 4;
/** BORNHOST: at 40 + 8 = 48, IPV4_HOST_SIZE or IPV6_HOST_SIZE bytes. The last fixed offset. */
export const BORN_HOST_OFFSET = BORN_TIMESTAMP_OFFSET + 8;

// --- widths --------------------------------------------------------------

/** An IPv4 host: 4 address bytes (network order) + int32 port = 8. */
export const IPV4_HOST_SIZE = 4 + 4;
/** An IPv6 host: 16 address bytes (network order) + int32 port = 20. */
export const IPV6_HOST_SIZE = 16 + 4;

// --- variable part: offsets relative to the end of a host field -----------

/** STORETIMESTAMP: int64 at +0 after BORNHOST. */
export const STORE_TIMESTAMP_AFTER_BORN_HOST = 0;
/** STOREHOST: at 0 + 8 = +8 after BORNHOST, IPV4_HOST_SIZE or IPV6_HOST_SIZE bytes. */
export const STORE_HOST_AFTER_BORN_HOST = STORE_TIMESTAMP_AFTER_BORN_HOST + 8;
/** RECONSUMETIMES: int32 at +0 after STOREHOST. */
export const RECONSUME_TIMES_AFTER_STORE_HOST = 0;
/** PREPAREDTRANSACTIONOFFSET: int64 at 0 + 4 = +4 after STOREHOST. */
export const PREPARED_TRANSACTION_OFFSET_AFTER_STORE_HOST = RECONSUME_TIMES_AFTER_STORE_HOST + 4;
/** BODYLENGTH: int32 at 4 + 8 = +12 after STOREHOST. */
export const BODY_LENGTH_AFTER_STORE_HOST = PREPARED_TRANSACTION_OFFSET_AFTER_STORE_HOST + 8;
/** BODY: BODYLENGTH bytes at 12 + 4 = +16 after STOREHOST; TOPICLENGTH follows it. */
export const BODY_AFTER_STORE_HOST = BODY_LENGTH_AFTER_STORE_HOST + 4;

/** TOPICLENGTH is 1 byte in a v1 record: topics of 1..127 UTF-8 bytes (RocketMQ reads it as a signed byte). */
export const TOPIC_LENGTH_SIZE_V1 = 1;
/** TOPICLENGTH is 2 bytes in a v2 record: topics of 128..32767 UTF-8 bytes. */
export const TOPIC_LENGTH_SIZE_V2 = 2;
/** Longest topic in a v1 record, in UTF-8 bytes (0x7f). */
export const TOPIC_V1_MAX_BYTES = 0x7f;
/** Longest topic at all, in UTF-8 bytes (0x7fff, RocketMQ's signed short). */
export const TOPIC_MAX_BYTES = 0x7fff;
/** PROPERTIESLENGTH: 2 bytes. */
export const PROPERTIES_LENGTH_SIZE = 2;
/** Longest PROPERTIES, record CRC property included, in UTF-8 bytes (0x7fff, RocketMQ's signed short). */
export const PROPERTIES_MAX_BYTES = 0x7fff;

/**
 * A v1 record without BORNHOST and STOREHOST and with empty BODY, TOPIC and
 * PROPERTIES: 48 (up to BORNHOST) + 8 (STORETIMESTAMP) + 16 (RECONSUMETIMES,
 * PREPAREDTRANSACTIONOFFSET, BODYLENGTH) + 1 (TOPICLENGTH) + 2
 * (PROPERTIESLENGTH) = 75.
 */
export const MESSAGE_FIXED_SIZE_WITHOUT_HOSTS =
  BORN_HOST_OFFSET + STORE_HOST_AFTER_BORN_HOST + BODY_AFTER_STORE_HOST + TOPIC_LENGTH_SIZE_V1 + PROPERTIES_LENGTH_SIZE;

/** The smallest well-formed message record: 75 + two IPv4 hosts (8 + 8) = 91 (RocketMQ's calMsgLength with empty parts). */
export const MESSAGE_MIN_SIZE = MESSAGE_FIXED_SIZE_WITHOUT_HOSTS + IPV4_HOST_SIZE + IPV4_HOST_SIZE;

// --- magic codes (unsigned, as read by readUInt32BE) ----------------------

/** A message record whose TOPICLENGTH is 1 byte. */
export const MESSAGE_MAGIC_CODE_V1 = 0xdaa320a7;
/** A message record whose TOPICLENGTH is 2 bytes; written only for topics longer than 127 bytes. */
export const MESSAGE_MAGIC_CODE_V2 = 0xdaa320ab;
/** A blank record: the rest of the segment holds no message. */
export const BLANK_MAGIC_CODE = 0xcbd43194;

// --- blank record and end of data -----------------------------------------

/** A blank record: TOTALSIZE (4) + MAGICCODE (4) = 8 bytes; TOTALSIZE counts to the segment's end. */
export const BLANK_RECORD_SIZE = 4 + 4;
/**
 * A blank record of at least this many bytes (every one but a segment's
 * last 8–11 bytes) carries BLANKCRC at BLANK_CRC_OFFSET: CRC-32 of its 8
 * header bytes and its physical offset. Without it a header damaged into the
 * blank magic and a plausible size would hide the records it covers, with no
 * report.
 */
export const BLANK_CHECKED_MIN_SIZE = BLANK_RECORD_SIZE + 4;
/** Where BLANKCRC is: right after TOTALSIZE and MAGICCODE. */
export const BLANK_CRC_OFFSET = BLANK_RECORD_SIZE;
/** The prefix every record starts with, TOTALSIZE + MAGICCODE = 8; 8 zero bytes here mean "end of data". */
export const RECORD_PREFIX_SIZE = 4 + 4;

// --- SYSFLAG bits the layout depends on ------------------------------------

/** SYSFLAG bit 1<<4 (0x10): BORNHOST is IPv6 (20 bytes). */
export const BORNHOST_V6_FLAG = 0x10;
/** SYSFLAG bit 1<<5 (0x20): STOREHOST is IPv6 (20 bytes). */
export const STOREHOSTADDRESS_V6_FLAG = 0x20;

// --- the record CRC property ----------------------------------------------

/** Name of the reserved property holding the record CRC (RocketMQ 5's PROPERTY_CRC32). */
export const RECORD_CRC_PROPERTY_NAME = '__CRC32#';
/** 0x01 between a property's name and its value. */
export const NAME_VALUE_SEPARATOR = 0x01;
/** 0x02 after each property's value. */
export const PROPERTY_SEPARATOR = 0x02;
/** The record CRC as 10 zero-padded ASCII decimal digits (unsigned, at most 4294967295). */
export const RECORD_CRC_DIGITS = 10;
/** The record CRC property: name (8) + 0x01 (1) + digits (10) + 0x02 (1) = 20 bytes, always the last 20 bytes of the record. */
export const RECORD_CRC_PROPERTY_SIZE = RECORD_CRC_PROPERTY_NAME.length + 1 + RECORD_CRC_DIGITS + 1;

/** The smallest record this codec writes: MESSAGE_MIN_SIZE with a 1-byte topic, no body and the record CRC property (112). */
export const SMALLEST_RECORD_SIZE = MESSAGE_MIN_SIZE + 1 + RECORD_CRC_PROPERTY_SIZE;
/** The digits start this many bytes before the record's end: 10 + 1 = 11. */
export const RECORD_CRC_DIGITS_FROM_END = RECORD_CRC_DIGITS + 1;
