/**
 * Messages that carry their own expected content: everything about message
 * `seq` (topic, queue, body length and bytes) is a function of `seq`, and
 * the record stores `seq` in its properties, so any message read back can be
 * checked on its own, whatever survived a crash.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { MessageInput, StoredMessage } from '../../../lib/format/message-codec.js';

export const TOPIC_COUNT = 3;
export const QUEUES_PER_TOPIC = 2;

/** Body length of message `seq`: mostly small, every 7th large enough to roll TEST_MIN segments often, every 50th empty. */
export function bodyLength(seq: number, largeMaxBytes = 6000): number {
  if (seq % 50 === 3) return 0;
  if (seq % 7 === 0) return 1500 + ((seq * 131) % Math.max(1, largeMaxBytes - 1500));
  return 16 + ((seq * 37) % 600);
}

export function bodyFor(seq: number, largeMaxBytes?: number): Buffer {
  const out = Buffer.alloc(bodyLength(seq, largeMaxBytes));
  for (let index = 0; index < out.length; index += 1) out[index] = (seq * 131 + index * 7 + (seq >>> 8)) & 0xff;
  return out;
}

export function topicFor(seq: number): string {
  return `dur-${seq % TOPIC_COUNT}`;
}

export function queueIdFor(seq: number): number {
  return Math.floor(seq / TOPIC_COUNT) % QUEUES_PER_TOPIC;
}

export function messageFor(seq: number, largeMaxBytes?: number): MessageInput {
  return { topic: topicFor(seq), queueId: queueIdFor(seq), body: bodyFor(seq, largeMaxBytes), properties: { seq: String(seq) } };
}

/** The seq a stored message claims, or undefined when it has none. */
export function seqOf(message: StoredMessage): number | undefined {
  const text = message.properties.seq;
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

/** Why `message` is not exactly message `seq` as written, or undefined when it is. */
export function mismatch(message: StoredMessage, largeMaxBytes?: number): string | undefined {
  const seq = seqOf(message);
  if (seq === undefined) return `no seq property at offset ${message.physicalOffset}`;
  if (message.topic !== topicFor(seq)) return `seq ${seq}: topic ${message.topic}`;
  if (message.queueId !== queueIdFor(seq)) return `seq ${seq}: queueId ${message.queueId}`;
  if (!message.body.equals(bodyFor(seq, largeMaxBytes))) return `seq ${seq}: body differs (${message.body.length} bytes)`;
  return undefined;
}

/** Yields to the event loop (timers and I/O callbacks run), not just to the microtask queue. */
export function yieldToLoop(): Promise<void> {
  return nextTurn();
}

/** Rejects with a message naming `what` when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A positive integer from the environment, or the fallback. */
export function envCount(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be an integer ≥ 1, got ${text}`);
  return value;
}

/**
 * Engine bugs the randomized specs tolerate, each pinned by an it.fails
 * test that reproduces it deterministically; drop the entry with the
 * test's `.fails` once the bug is fixed. Recognized by the message of
 * an AssertionError anywhere in the error's cause chain; a spec that meets
 * one counts it and goes on checking everything else (acknowledged
 * messages survive, nothing corrupt is returned).
 */
export const KNOWN_ENGINE_BUGS: ReadonlyArray<{ id: string; pattern: RegExp; pinnedBy: string }> = [
  // Empty: the waiters-order bug (62e7ebf) was fixed in 2927a9f; its test in
  // io-errors.spec.ts stays as a regression test.
];

/** The id of the known engine bug behind `err`, if it is one. */
export function knownEngineBug(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = (e as Error & { cause?: unknown }).cause, depth += 1) {
    const bug = KNOWN_ENGINE_BUGS.find((known) => known.pattern.test(e instanceof Error ? e.message : ''));
    if (bug !== undefined) return bug.id;
  }
  return undefined;
}
