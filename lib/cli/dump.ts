/**
 * `mapped-commitlog dump DIR`: the decoded messages, read-only, as a table
 * or as NDJSON (one JSON object per line) with the body in base64.
 */
import { StoreReader } from '../reader/store-reader.js';
import { COMMON_OPTIONS, integerOption, parse, storeDirectory } from './args.js';
import type { CliCommand } from './command.js';
import { EXIT_FOUND, EXIT_OK, type ExitCode } from './exit-codes.js';
import { line, MESSAGE_COLUMNS, messageJson, messageRow, note, printJsonLine, TableStream } from './output.js';

const HELP = `usage: mapped-commitlog dump DIR [--from OFFSET] [--to OFFSET] [--limit N] [--topic T] [--json]

Prints the messages of a store in log order, each checked with both CRCs,
without changing anything (no lock is taken; works while another process
has the store open). Columns: offset, size, topic, queue id, queue offset,
born and store timestamps (UTC), properties, and a body preview (quoted
text when the body is printable UTF-8, else hex).

options:
  --from OFFSET   start here: a segment start or a message offset (default: the min offset)
  --to OFFSET     stop before this offset
  --limit N       print at most N messages
  --topic T       only messages of topic T
  --json          NDJSON: one object per line, {"kind":"message",...} with
                  every field and "body" in base64; a damaged range is a
                  {"kind":"damaged","damage":"corrupt"|"torn",...} line; the last line is {"kind":"end","offset":...}
  -h, --help      this help

Damaged ranges met on the way are reported (on stderr in text mode) and
skipped, as verify would report them.

exit codes: 0 done, 1 corrupt data met (a torn tail does not count),
            2 usage error, bad --from, or the store cannot be read`;

/** Rows that set the column widths before the table starts printing. */
const WIDTH_SAMPLE_ROWS = 100;

export const dump: CliCommand = {
  name: 'dump',
  help: HELP,
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parse(args, {
      ...COMMON_OPTIONS,
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      topic: { type: 'string' },
    });
    if (values.help) {
      await line(HELP);
      return EXIT_OK;
    }
    const directory = storeDirectory(positionals);
    const from = integerOption('from', values.from);
    const to = integerOption('to', values.to);
    const limit = integerOption('limit', values.limit);
    const reader = StoreReader.open(directory);
    try {
      const table = new TableStream(MESSAGE_COLUMNS, WIDTH_SAMPLE_ROWS);
      let printed = 0;
      let corrupt = false;
      for (const event of reader.scan({ ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }), verify: true })) {
        if (event.kind === 'message') {
          if (limit !== undefined && printed >= limit) {
            // Where the next page starts: pass it as --from.
            if (values.json) await printJsonLine({ kind: 'end', offset: event.message.physicalOffset, atDataEnd: false, messages: printed });
            else {
              await table.flush();
              note(`stopped after ${printed} messages (--limit); the next one is at offset ${event.message.physicalOffset}`);
            }
            break;
          }
          if (values.topic !== undefined && event.message.topic !== values.topic) continue;
          if (values.json) await printJsonLine(messageJson(event.message));
          else await table.row(messageRow(event.message));
          printed += 1;
        } else if (event.kind === 'damaged') {
          if (event.range.kind === 'corrupt') corrupt = true;
          if (values.json) await printJsonLine({ kind: 'damaged', damage: event.range.kind, offset: event.range.offset, length: event.range.length, reason: event.range.reason });
          else {
            await table.flush();
            note(`${event.range.kind}: offset ${event.range.offset}, ${event.range.length} bytes: ${event.range.reason}`);
          }
        } else if (event.kind === 'end') {
          if (values.json) await printJsonLine({ kind: 'end', offset: event.offset, atDataEnd: event.atDataEnd, messages: printed });
        }
      }
      await table.flush();
      if (!values.json && printed === 0) note('no messages');
      return corrupt ? EXIT_FOUND : EXIT_OK;
    } finally {
      reader.close();
    }
  },
};
