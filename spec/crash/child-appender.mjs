/**
 * The child of spec/crash/kill9.spec.ts: opens a CommitLog from the
 * compiled engine (dist/), appends deterministic messages as fast as it can
 * with several appends in flight, and reports each acknowledgement to the
 * parent over IPC. It never closes the log: the parent kills it with
 * SIGKILL.
 *
 *   node spec/crash/child-appender.mjs '<json config>'
 *
 * config: { dir, flushDiskType, writeMode, firstSeq, seed, inFlight }
 *
 * Messages to the parent (process.send):
 *   { type: 'open', recovery: { mode, endOffset, messagesScanned, corruptions } }
 *   { type: 'ack', seq, physicalOffset, queueOffset }   after status PUT_OK
 *   { type: 'timeout', seq }                            status FLUSH_DISK_TIMEOUT (not an ack)
 *   { type: 'error', message, code, stack }             then exit code 1
 */
import { crashMessage, mulberry32 } from './crash-body.mjs';

/** Segment and message sizes small enough that every round rolls segments. */
const SEGMENT_SIZE_BYTES = 64 * 1024;
const MESSAGE_SIZE_MAX_BYTES = 16 * 1024;
/** One draw in BATCH_ONE_IN makes a worker append a batch instead of one message. */
const BATCH_ONE_IN = 16;
const BATCH_SIZE_MIN = 2;
const BATCH_SIZE_MAX = 8;

function sendToParent(message) {
  return new Promise((resolve, reject) => {
    process.send(message, (err) => (err ? reject(err) : resolve()));
  });
}

function fail(err) {
  const message = { type: 'error', message: err instanceof Error ? err.message : String(err), code: err?.code, stack: err instanceof Error ? err.stack : undefined };
  try {
    process.send(message, () => process.exit(1));
  } catch {
    process.exit(1);
  }
  setTimeout(() => process.exit(1), 1000).unref();
}

async function main() {
  if (typeof process.send !== 'function') throw new Error('child-appender must be started with child_process.fork (it needs an IPC channel)');
  // Orphaned (the parent died): stop at once, never outlive the spec.
  process.on('disconnect', () => process.exit(2));
  const config = JSON.parse(process.argv[2] ?? process.env.MC_CRASH_CHILD_CONFIG ?? '{}');
  for (const key of ['dir', 'flushDiskType', 'writeMode', 'firstSeq', 'seed', 'inFlight']) {
    if (config[key] === undefined) throw new Error(`child config lacks ${key}: ${JSON.stringify(config)}`);
  }
  const { CommitLog, TEST_MIN } = await import(new URL('../../dist/lib/index.js', import.meta.url).href);
  const log = await CommitLog.open({
    ...TEST_MIN,
    storePathCommitLog: config.dir,
    flushDiskType: config.flushDiskType,
    writeMode: config.writeMode,
    mappedFileSizeCommitLog: SEGMENT_SIZE_BYTES,
    maxMessageSize: MESSAGE_SIZE_MAX_BYTES,
  });
  const { mode, endOffset, messagesScanned, corruptions } = log.recovery;
  await sendToParent({ type: 'open', recovery: { mode, endOffset, messagesScanned, corruptions } });

  const random = mulberry32(config.seed);
  let nextSeq = config.firstSeq;

  async function worker() {
    for (;;) {
      if (random() % BATCH_ONE_IN === 0) {
        const count = BATCH_SIZE_MIN + (random() % (BATCH_SIZE_MAX - BATCH_SIZE_MIN + 1));
        const seqs = Array.from({ length: count }, () => nextSeq++);
        const result = await log.appendBatch(seqs.map(crashMessage));
        for (let index = 0; index < seqs.length; index += 1) {
          const seq = seqs[index];
          if (result.status !== 'PUT_OK') {
            await sendToParent({ type: 'timeout', seq });
            continue;
          }
          const { physicalOffset, queueOffset } = result.messages[index];
          await sendToParent({ type: 'ack', seq, physicalOffset, queueOffset });
        }
      } else {
        const seq = nextSeq++;
        const result = await log.append(crashMessage(seq));
        if (result.status !== 'PUT_OK') {
          await sendToParent({ type: 'timeout', seq });
          continue;
        }
        await sendToParent({ type: 'ack', seq, physicalOffset: result.physicalOffset, queueOffset: result.queueOffset });
      }
    }
  }

  // Never returns: the workers loop until the parent kills the process.
  await Promise.all(Array.from({ length: config.inFlight }, worker));
}

main().catch(fail);
