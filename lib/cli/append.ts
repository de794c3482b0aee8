/**
 * `mapped-commitlog append DIR [FILE...]`: appends messages through
 * CommitLog.open (so it takes the directory lock, recovers if needed, and
 * closes cleanly): each stdin line, or each file, is one message.
 */
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CommitLog, CommitLogError, DEFAULTS, parseSegmentFileName, prepareMessage, type MessageInput } from '../index.js';
import { COMMON_OPTIONS, integerOption, parse, UsageError } from './args.js';
import type { CliCommand } from './command.js';
import { EXIT_FOUND, EXIT_OK, type ExitCode } from './exit-codes.js';
import { line, note, printJson } from './output.js';

const HELP = `usage: mapped-commitlog append DIR [FILE...] [--topic T] [--queue N] [--property NAME=VALUE]...
                               [--sync] [--segment-size BYTES] [--max-message-size BYTES] [--json]

Appends messages to the store in DIR (created if missing): each line of
stdin is one message (the bytes without the newline), or, when FILEs are
given, each file is one message ("-" reads stdin lines at that point).
Opens the store as its single writer: it takes the directory lock (fails
with ERR_STORE_LOCKED, exit 2, if another process has the store open),
runs recovery if the last writer crashed, and closes cleanly.

options:
  --topic T                 topic of every message (default "cli")
  --queue N                 queue id (default 0)
  --property NAME=VALUE     a user property on every message; repeatable
  --sync                    SYNC_FLUSH: each batch is durable before the next
                            (default ASYNC_FLUSH; close flushes everything anyway)
  --segment-size BYTES      segment size for a NEW store, a multiple of 4096
                            (default: the existing segments' size, else the
                            library default 1 GiB; e.g. 1048576 for demos)
  --max-message-size BYTES  largest record (default 4 MiB, or the segment size - 8 if smaller)
  --json                    one JSON document with every offset appended
  -h, --help                this help

exit codes: 0 appended, 1 some append was not durable within
            syncFlushTimeout (FLUSH_DISK_TIMEOUT, --sync), 2 usage error or
            the store cannot be opened (locked, bad option, I/O error)`;

const TOPIC_DEFAULT = 'cli';
/** Messages per appendBatch call at most. */
const BATCH_MESSAGES_MAX = 256;
/** Record bytes per appendBatch call at most (a batch waits once for durability). */
const BATCH_BYTES_MAX = 1024 * 1024;
/**
 * With small segments a batch is held to this many segments' worth of
 * records, well inside the 64 new segments one appendBatch may span.
 */
const BATCH_SEGMENTS_MAX = 16;
/** The blank record a segment must have room for besides its largest message. */
const BLANK_RECORD_BYTES = 8;

interface Appended {
  physicalOffset: number;
  size: number;
  queueOffset: number;
}

export const append: CliCommand = {
  name: 'append',
  help: HELP,
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parse(args, {
      ...COMMON_OPTIONS,
      topic: { type: 'string', default: TOPIC_DEFAULT },
      queue: { type: 'string' },
      property: { type: 'string', multiple: true },
      sync: { type: 'boolean', default: false },
      'segment-size': { type: 'string' },
      'max-message-size': { type: 'string' },
    });
    if (values.help) {
      await line(HELP);
      return EXIT_OK;
    }
    const [directory, ...files] = positionals;
    if (directory === undefined || directory.length === 0) throw new UsageError('missing the store directory (DIR)');
    const queueId = integerOption('queue', values.queue) ?? 0;
    if (queueId > 0x7fffffff) throw new UsageError(`--queue must be at most ${0x7fffffff}, got ${queueId}`);
    const properties = parseProperties(values.property ?? []);
    const segmentSizeBytes = integerOption('segment-size', values['segment-size'], 1) ?? existingSegmentSize(directory) ?? DEFAULTS.mappedFileSizeCommitLog;
    const maxMessageSize = integerOption('max-message-size', values['max-message-size'], 1) ?? Math.min(DEFAULTS.maxMessageSize, segmentSizeBytes - BLANK_RECORD_BYTES);
    const flushDiskType = values.sync ? 'SYNC_FLUSH' : 'ASYNC_FLUSH';
    // Before the store is opened (or created, with a 1 GiB segment): a missing FILE changes nothing.
    for (const file of files) if (file !== '-') checkMessageFile(file);

    const log = await CommitLog.open({ storePathCommitLog: directory, mappedFileSizeCommitLog: segmentSizeBytes, maxMessageSize, flushDiskType });
    for (const corruption of log.recovery.corruptions) {
      note(`recovery: offset ${corruption.offset}, ${corruption.bytesDropped} bytes dropped: ${corruption.reason}`);
    }
    const appended: Appended[] = [];
    let timeouts = 0;
    let stopped = false;
    const onSignal = () => {
      stopped = true;
      process.stdin.destroy(); // ends the line reader; what was read is appended, then the store closes
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      let batch: MessageInput[] = [];
      let batchBytes = 0;
      const batchBytesMax = Math.min(BATCH_BYTES_MAX, BATCH_SEGMENTS_MAX * segmentSizeBytes);
      // Every line's record is the same topic and properties around its body: the codec sizes that once.
      let recordOverhead: number | undefined;
      const flushBatch = async () => {
        if (batch.length === 0) return;
        const result = await log.appendBatch(batch);
        if (result.status !== 'PUT_OK') timeouts += 1;
        appended.push(...result.messages);
        batch = [];
        batchBytes = 0;
      };
      const add = async (body: Buffer) => {
        const message: MessageInput = { topic: values.topic, queueId, body, ...(properties === undefined ? {} : { properties }) };
        recordOverhead ??= prepareMessage({ ...message, body: Buffer.alloc(0) }, maxMessageSize).size;
        batch.push(message);
        batchBytes += body.length + recordOverhead;
        if (batch.length >= BATCH_MESSAGES_MAX || batchBytes >= batchBytesMax) await flushBatch();
      };
      const sources = files.length === 0 ? ['-'] : files;
      for (const source of sources) {
        if (stopped) break;
        if (source === '-') {
          try {
            for await (const body of stdinLines(maxMessageSize)) {
              await add(body);
              if (stopped) break;
            }
          } catch (err) {
            // A signal ends the read by destroying stdin: the premature close that makes is that end, not an error.
            if (!(stopped && (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE')) throw err;
          }
        } else {
          await add(readMessageFile(source));
        }
      }
      await flushBatch();
    } catch (err) {
      if (appended.length > 0) note(`appended ${appended.length} messages before the error (the last at offset ${appended[appended.length - 1]!.physicalOffset})`);
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await log.close();
    }

    const first = appended[0];
    const last = appended[appended.length - 1];
    const maxOffset = last === undefined ? undefined : last.physicalOffset + last.size;
    if (values.json) {
      await printJson({
        directory,
        topic: values.topic,
        queueId,
        flushDiskType,
        appended: appended.length,
        status: timeouts > 0 ? 'FLUSH_DISK_TIMEOUT' : 'PUT_OK',
        endOffset: maxOffset ?? null,
        messages: appended,
      });
    } else if (first === undefined || last === undefined) {
      await line(`appended nothing to ${directory} (no input)`);
    } else {
      await line(
        `appended ${appended.length} message${appended.length === 1 ? '' : 's'} to ${directory} (topic ${values.topic}, queue ${queueId}, ${flushDiskType}): ` +
          `offsets ${first.physicalOffset} .. ${last.physicalOffset}, queue offsets ${first.queueOffset} .. ${last.queueOffset}, log end ${String(maxOffset)}`,
      );
    }
    if (timeouts > 0) note(`${timeouts} batch${timeouts === 1 ? '' : 'es'} returned FLUSH_DISK_TIMEOUT: not confirmed durable within syncFlushTimeout (the store closed with a full flush)`);
    return timeouts > 0 ? EXIT_FOUND : EXIT_OK;
  },
};

/** NAME=VALUE pairs as an object; the codec checks names and values further. */
function parseProperties(pairs: readonly string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const properties: Record<string, string> = {};
  for (const pair of pairs) {
    const split = pair.indexOf('=');
    if (split <= 0) throw new UsageError(`--property must be NAME=VALUE with a non-empty NAME, got '${pair}'`);
    const name = pair.slice(0, split);
    if (Object.hasOwn(properties, name)) throw new UsageError(`--property ${name} given twice`);
    properties[name] = pair.slice(split + 1);
  }
  return properties;
}

/** The size of the store's existing segment files, so appending to a store made with small segments just works. */
function existingSegmentSize(directory: string): number | undefined {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return undefined; // a new store: CommitLog.open creates the directory
  }
  for (const name of names.sort()) {
    if (parseSegmentFileName(name) === undefined) continue;
    try {
      const size = statSync(join(directory, name)).size;
      if (size > 0) return size;
    } catch {
      // Gone since readdir.
    }
  }
  return undefined;
}

/** ERR_IO unless `path` is a readable regular file. */
function checkMessageFile(path: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (cause) {
    throw cannotRead(path, cause);
  }
  if (!statSync(path).isFile()) throw cannotRead(path, undefined, 'not a regular file');
}

function readMessageFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw cannotRead(path, cause);
  }
}

function cannotRead(path: string, cause: unknown, why = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error'): CommitLogError {
  return new CommitLogError('ERR_IO', `cannot read ${path}: ${why}`, { cause, path, syscall: 'read' });
}

/**
 * The lines of stdin as bytes, without their "\n" (a last line without one
 * counts too). A line longer than `lineBytesMax` is ERR_MESSAGE_TOO_LARGE
 * before it is buffered whole.
 */
async function* stdinLines(lineBytesMax: number): AsyncGenerator<Buffer> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  const tooLong = () => new CommitLogError('ERR_MESSAGE_TOO_LARGE', `a stdin line is longer than ${lineBytesMax} bytes (--max-message-size)`);
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline < 0) break;
      if (carryBytes + newline - start > lineBytesMax) throw tooLong();
      yield Buffer.concat([...carry, chunk.subarray(start, newline)]);
      carry = [];
      carryBytes = 0;
      start = newline + 1;
    }
    if (start < chunk.length) {
      carry.push(Buffer.from(chunk.subarray(start)));
      carryBytes += chunk.length - start;
      if (carryBytes > lineBytesMax) throw tooLong();
    }
  }
  if (carryBytes > 0) yield Buffer.concat(carry);
}
