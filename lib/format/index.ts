/** lib/format: everything the engine writes to disk, as pure functions over bytes (no I/O). */
export {
  prepareMessage,
  encodeMessage,
  encodeBlank,
  decodeRecord,
  decodeRecordSummary,
  type RecordSummary,
  type SummaryResult,
  messageFitsInSegment,
  type MessageInput,
  type StoredMessage,
  type PreparedMessage,
  type EncodeStamp,
  type DecodeResult,
  type DecodeOptions,
} from './message-codec.js';
export * from './message-layout.js';
export { DEFAULT_HOST, type SocketAddress } from './hosts.js';
export { crc32Range } from './crc32.js';
export { segmentFileName, parseSegmentFileName, SEGMENT_FILE_NAME_DIGITS } from './segment-name.js';
export {
  encodeCheckpoint,
  decodeCheckpoint,
  CHECKPOINT_MAGIC,
  CHECKPOINT_VERSION,
  CHECKPOINT_SIZE,
  type CheckpointFields,
  type CheckpointDecodeResult,
} from './checkpoint-codec.js';
