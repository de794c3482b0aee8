/**
 * `mapped-commitlog verify DIR`: a full CRC scan, read-only. Prints every
 * corrupt or torn range; exit 1 when corruption is found.
 */
import { StoreReader, type DamagedRange } from '../reader/store-reader.js';
import { COMMON_OPTIONS, parse, storeDirectory } from './args.js';
import type { CliCommand } from './command.js';
import { EXIT_FOUND, EXIT_OK, type ExitCode } from './exit-codes.js';
import { formatTable, line, printJson } from './output.js';
import { humanBytes, ProgressBar } from './progress.js';

const HELP = `usage: mapped-commitlog verify DIR [--strict] [--json]

Reads every record of every segment and checks its structure and both CRCs
(BODYCRC and the record CRC), without changing anything (no lock is taken;
works while another process has the store open). Shows a progress bar on a
terminal. Prints each damaged range:
  corrupt   bad bytes followed by valid records, or bad bytes below the
            checkpoint's flushed offset (data that was durable)
  torn      bad bytes at the end of the data, past the checkpoint: a write
            a crash interrupted (or, on a live store, one in progress);
            recovery cuts it quietly
and segment files CommitLog.open would refuse (wrong size, gap, misaligned).

options:
  --strict     a torn tail also counts as damage (exit 1)
  --json       one JSON document instead of text
  -h, --help   this help

exit codes: 0 clean (a torn tail alone is clean unless --strict),
            1 corruption found, 2 usage error or the store cannot be read`;

export const verify: CliCommand = {
  name: 'verify',
  help: HELP,
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parse(args, { ...COMMON_OPTIONS, strict: { type: 'boolean', default: false } });
    if (values.help) {
      await line(HELP);
      return EXIT_OK;
    }
    const directory = storeDirectory(positionals);
    const startedMs = Date.now();
    const reader = StoreReader.open(directory);
    try {
      const min = reader.minOffset;
      const progress = new ProgressBar('verify', reader.segmentsEndOffset - min);
      const damaged: DamagedRange[] = [];
      let messages = 0;
      let messageBytes = 0;
      let endOffset = min;
      try {
        for (const event of reader.scan({ verify: true })) {
          if (event.kind === 'message') {
            messages += 1;
            messageBytes += event.message.size;
            progress.update(event.message.physicalOffset + event.message.size - min);
          } else if (event.kind === 'damaged') {
            damaged.push(event.range);
          } else if (event.kind === 'end') {
            endOffset = event.offset;
          }
        }
      } finally {
        progress.finish();
      }
      const corrupt = damaged.filter((range) => range.kind === 'corrupt');
      const torn = damaged.filter((range) => range.kind === 'torn');
      const refused = reader.problems.filter((problem) => !problem.removedAtOpen);
      const found = corrupt.length > 0 || refused.length > 0 || (values.strict && torn.length > 0);
      const elapsedMs = Date.now() - startedMs;
      if (values.json) {
        await printJson({
          directory,
          clean: !found,
          segmentCount: reader.scannableSegments.length,
          messages,
          messageBytes,
          minOffset: min,
          endOffset,
          damaged,
          problems: reader.problems,
          abortMarker: reader.abortMarker,
          elapsedMs,
        });
        return found ? EXIT_FOUND : EXIT_OK;
      }
      const segmentCount = reader.scannableSegments.length;
      await line(
        `verified ${directory}: ${messages} message${messages === 1 ? '' : 's'} (${messageBytes} bytes, ${humanBytes(messageBytes)}) in ${segmentCount} segment${segmentCount === 1 ? '' : 's'}, offsets ${min} .. ${endOffset}, both CRCs checked, ${(elapsedMs / 1000).toFixed(2)} s`,
      );
      if (reader.abortMarker) await line('note: the abort marker exists: a writer has the store open (a torn tail may be a write in progress) or the last one crashed');
      if (damaged.length > 0) {
        const lines = formatTable(
          [{ header: 'KIND' }, { header: 'OFFSET', align: 'right' }, { header: 'LENGTH', align: 'right' }, { header: 'REASON' }],
          damaged.map((range) => [range.kind, String(range.offset), String(range.length), range.reason]),
        );
        for (const text of lines) await line(text);
      }
      for (const problem of reader.problems) {
        await line(`${problem.removedAtOpen ? 'note' : 'problem'}: segment ${problem.name}: ${problem.reason}`);
      }
      const corruptBytes = corrupt.reduce((sum, range) => sum + range.length, 0);
      const tornBytes = torn.reduce((sum, range) => sum + range.length, 0);
      const parts: string[] = [];
      if (corrupt.length > 0) parts.push(`${corrupt.length} corrupt range${corrupt.length === 1 ? '' : 's'} (${corruptBytes} bytes)`);
      if (refused.length > 0) parts.push(`${refused.length} invalid segment file${refused.length === 1 ? '' : 's'}`);
      if (torn.length > 0) parts.push(`torn tail of ${tornBytes} bytes${values.strict ? '' : ' (recovery cuts it; not counted without --strict)'}`);
      const verdict = corrupt.length > 0 || refused.length > 0 ? 'CORRUPT' : found ? 'TORN (--strict)' : 'clean';
      await line(`result: ${verdict}${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`);
      return found ? EXIT_FOUND : EXIT_OK;
    } finally {
      reader.close();
    }
  },
};
