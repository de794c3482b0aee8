/**
 * The deterministic message of a crash-spec sequence number, shared by the
 * child appender (plain node) and the spec (vitest): whoever knows `seq`
 * can rebuild the exact bytes and check a message read back after a crash.
 *
 * Body layout: seq as a big-endian uint64 (8 bytes), then bytes from a
 * mulberry32 stream seeded by seq. Sizes run from BODY_SIZE_MIN_BYTES to
 * BODY_SIZE_MAX_BYTES, so 64 KiB segments roll every few dozen messages.
 * No imports: this file must load without the compiled engine.
 */

export const CRASH_TOPIC = 'crash';
/** Messages spread over this many queues, so queue offsets are rebuilt per queue. */
export const CRASH_QUEUE_COUNT = 4;
export const BODY_SIZE_MIN_BYTES = 10;
export const BODY_SIZE_MAX_BYTES = 3 * 1024;
/** Each round numbers its messages from round * SEQ_ROUND_STRIDE, so rounds never share a seq. */
export const SEQ_ROUND_STRIDE = 10_000_000;

/** mulberry32: a 32-bit state, one multiply chain per draw. Returns a function giving uint32s. */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The body of message `seq`: 8 bytes of seq, then pseudo-random bytes from seq. */
export function crashBody(seq) {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be a safe integer >= 0, got ${seq}`);
  const next = mulberry32(Math.imul(seq, 0x9e3779b1) ^ (seq / 2 ** 32));
  const span = BODY_SIZE_MAX_BYTES - BODY_SIZE_MIN_BYTES + 1;
  // Mostly small bodies, one in eight large, so both many records and quick rolls happen.
  const sizeDraw = next();
  const size = sizeDraw % 8 === 0 ? BODY_SIZE_MIN_BYTES + (next() % span) : BODY_SIZE_MIN_BYTES + (next() % 512);
  const body = Buffer.alloc(size);
  body.writeBigUInt64BE(BigInt(seq), 0);
  for (let index = 8; index < size; index += 4) {
    const draw = next();
    for (let byte = 0; byte < 4 && index + byte < size; byte += 1) body[index + byte] = (draw >>> (byte * 8)) & 0xff;
  }
  return body;
}

/** The queue of message `seq`. */
export function crashQueueId(seq) {
  return seq % CRASH_QUEUE_COUNT;
}

/** The full MessageInput of message `seq`. */
export function crashMessage(seq) {
  return { topic: CRASH_TOPIC, queueId: crashQueueId(seq), body: crashBody(seq), properties: { seq: String(seq) } };
}
