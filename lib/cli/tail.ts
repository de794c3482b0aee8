/**
 * `mapped-commitlog tail DIR`: follows the messages another process
 * appends, read-only (no lock, nothing written).
 *
 * The confirmed rule. A reader in another process cannot see the writer's
 * confirmed offset (it lives in the writer's memory), so tail decides from
 * the bytes alone:
 * - it prints a record only once it decodes with both CRCs and carries its
 *   own physical offset, i.e. once every byte of it is in the page cache;
 *   at the first record that is zero or does not decode yet it waits
 *   (polling every --poll-ms), and never skips ahead;
 * - with --durable, it also waits until the record ends at or below the
 *   checkpoint's flushed offset: the writer writes the checkpoint only after
 *   the data below it is durable, so nothing printed can be lost by a crash
 *   (the checkpoint lags: under ASYNC_FLUSH by up to a flush interval);
 * - without --durable, under ASYNC_FLUSH a message printed may still be
 *   lost in a power failure before its flush (recovery then cuts it).
 * A record that does not decode while the checkpoint says the data past it
 * is durable is corruption, not a write in progress: tail reports it and
 * exits 1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreReader } from '../reader/store-reader.js';
import { CommitLogError } from '../errors.js';
import { COMMON_OPTIONS, integerOption, parse, storeDirectory, UsageError } from './args.js';
import type { CliCommand } from './command.js';
import { EXIT_FOUND, EXIT_OK, type ExitCode } from './exit-codes.js';
import { line, MESSAGE_COLUMNS, messageJson, messageRow, note, printJsonLine, TableStream } from './output.js';

const HELP = `usage: mapped-commitlog tail DIR [--from OFFSET] [--durable] [--limit N] [--poll-ms MS] [--json]

Follows a store as another process appends to it, printing each new message
(the same columns as dump; --json prints NDJSON). Read-only: it takes no
lock and writes nothing, so it runs beside the writer. Stops on Ctrl-C
(SIGINT) or SIGTERM, or after --limit messages. Its first line, on stderr,
says the offset it follows from.

What it prints (the "confirmed" rule): a message only once both its CRCs
check, i.e. once the writer has put all of it in the page cache, and never
past the first record that is not complete yet. With --durable, only
messages below the checkpoint's flushed offset: durable ones, which no crash
can take back (the checkpoint can lag the log by a flush interval).

options:
  --from OFFSET   start at this offset, a segment start or a message offset
                  (default: the end of the data now, so only new messages)
  --durable       only messages the checkpoint says are durable
  --limit N       exit 0 after N messages
  --poll-ms MS    how often to look for new data when idle (default 100)
  --json          NDJSON: one {"kind":"message",...} object per line
  -h, --help      this help

exit codes: 0 stopped (signal or --limit), 1 corrupt data found below the
            checkpoint's flushed offset, 2 usage error, bad --from, or the
            store cannot be read`;

const POLL_MS_DEFAULT = 100;

export const tail: CliCommand = {
  name: 'tail',
  help: HELP,
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parse(args, {
      ...COMMON_OPTIONS,
      from: { type: 'string' },
      durable: { type: 'boolean', default: false },
      limit: { type: 'string' },
      'poll-ms': { type: 'string' },
    });
    if (values.help) {
      await line(HELP);
      return EXIT_OK;
    }
    const directory = storeDirectory(positionals);
    const from = integerOption('from', values.from);
    const limit = integerOption('limit', values.limit, 1);
    const pollMs = integerOption('poll-ms', values['poll-ms'], 1) ?? POLL_MS_DEFAULT;
    if (pollMs > 60_000) throw new UsageError(`--poll-ms must be at most 60000, got ${pollMs}`);

    const reader = StoreReader.open(directory);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      let offset: number;
      if (from === undefined) {
        offset = reader.dataEnd().offset;
      } else {
        if (reader.scannableSegments.length > 0) reader.checkStart(from);
        offset = from;
      }
      note(`tail: following ${directory} from offset ${offset}${values.durable ? ' (durable messages only)' : ''}`);
      const table = new TableStream(MESSAGE_COLUMNS, 0);
      let printed = 0;
      while (!stop.signal.aborted) {
        const record = reader.recordAt(offset);
        if (record.kind === 'message') {
          if (values.durable && record.nextOffset > reader.checkpointFlushedOffset) {
            await idle(pollMs, stop.signal);
            reader.refreshCheckpoint();
            continue;
          }
          if (values.json) await printJsonLine(messageJson(record.message));
          else await table.row(messageRow(record.message));
          printed += 1;
          offset = record.nextOffset;
          if (limit !== undefined && printed >= limit) break;
          continue;
        }
        if (record.kind === 'blank') {
          offset = record.nextOffset;
          continue;
        }
        if (record.kind === 'no-segment') {
          if (offset < reader.minOffset) {
            throw new CommitLogError('ERR_BAD_OFFSET', `offset ${offset} is no longer stored (the oldest segment now starts at ${reader.minOffset})`);
          }
          await idle(pollMs, stop.signal);
          reader.refresh(); // the writer rolled: map the new segment
          continue;
        }
        // 'end' or 'damaged': nothing complete here yet. Re-read the
        // checkpoint first, then the record: if the checkpoint says the data
        // past here is durable and the record still does not decode, the
        // writer finished it long ago: it is damaged.
        reader.refreshCheckpoint();
        const again = reader.recordAt(offset);
        if (again.kind === 'damaged' || again.kind === 'end') {
          if (offset < reader.checkpointFlushedOffset) {
            const reason = again.kind === 'end' ? 'zero bytes' : again.reason;
            if (values.json) await printJsonLine({ kind: 'damaged', offset, reason });
            note(`corrupt: offset ${offset} is below the checkpoint's flushed offset ${reader.checkpointFlushedOffset} but does not decode: ${reason} (run verify)`);
            return EXIT_FOUND;
          }
          await idle(pollMs, stop.signal);
        }
      }
      return EXIT_OK;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      reader.close();
    }
  },
};

/** Waits `ms`, or less when `signal` aborts. */
async function idle(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  }
}
