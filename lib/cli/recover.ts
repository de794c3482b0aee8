/**
 * `mapped-commitlog recover DIR --dry-run`: what CommitLog.open's recovery
 * would cut and why, computed by the same planner (planRecovery) over
 * read-only mappings, changing nothing.
 */
import { isCommitLogError } from '../errors.js';
import { StoreReader } from '../reader/store-reader.js';
import { COMMON_OPTIONS, parse, storeDirectory, UsageError } from './args.js';
import type { CliCommand } from './command.js';
import { EXIT_FOUND, EXIT_OK, type ExitCode } from './exit-codes.js';
import { formatTable, line, printJson } from './output.js';

const HELP = `usage: mapped-commitlog recover DIR --dry-run [--abnormal] [--json]

Shows what recovery would do the next time the store is opened
(CommitLog.open), using the same planner, without changing anything (no lock
is taken). Recovery runs only inside CommitLog.open; this command never
writes, so --dry-run is required.

Recovery walks the log from the segment holding the checkpoint's flushed
offset (or the queue table's covered offset, if lower):
  normal mode     (no abort marker: the last writer closed cleanly)
                  records are checked for structure (magic, sizes, offsets)
  abnormal mode   (abort marker present: a crash, or a writer open now)
                  both CRCs are checked too
Damage before the checkpoint's flushed offset is reported and covered by a
blank record up to the next record that verifies, so the records after it
are kept (with none after it in the last segment, the log is cut there);
damage after it is a torn tail, cut quietly. Records before the segment the
walk starts in are not read: verify scans everything.

Printed: the mode, where the walk starts, the end of the log after
recovery, each action (cover damaged bytes with a blank record, zero the
bytes past the end, delete later segments, remove an empty last file), the
corruptions recovery would report, and the queue offsets it would rebuild.

options:
  --dry-run     required: plan only
  --abnormal    plan as after a crash (check CRCs) even without an abort marker
  --json        one JSON document instead of text
  -h, --help    this help

exit codes: 0 recovery would change no data (at most remove empty files),
            1 recovery would cut, zero or drop data, or CommitLog.open would
              refuse a segment file,
            2 usage error (no --dry-run) or the store cannot be read`;

type Action =
  | { action: 'cover-damage'; segment: string; offset: number; bytesDropped: number }
  | { action: 'zero-tail'; segment: string; offset: number; nonZeroBytes: number }
  | { action: 'delete-segment'; segment: string; offset: number; nonZeroBytes: number }
  | { action: 'remove-empty-file'; segment: string; offset: number };

export const recover: CliCommand = {
  name: 'recover',
  help: HELP,
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parse(args, {
      ...COMMON_OPTIONS,
      'dry-run': { type: 'boolean', default: false },
      abnormal: { type: 'boolean', default: false },
    });
    if (values.help) {
      await line(HELP);
      return EXIT_OK;
    }
    if (!values['dry-run']) {
      throw new UsageError('only --dry-run is supported: recovery itself runs when the store is opened (CommitLog.open, or `append`)');
    }
    const directory = storeDirectory(positionals);
    const reader = StoreReader.open(directory);
    try {
      let plan;
      try {
        plan = reader.planRecovery(values.abnormal ? { abnormal: true } : {});
      } catch (err) {
        if (!isCommitLogError(err, 'ERR_SEGMENT_INVALID')) throw err;
        if (values.json) await printJson({ directory, refused: { code: err.code, message: err.message }, problems: reader.problems });
        else {
          await line(`recover --dry-run ${directory}: CommitLog.open would refuse this store before recovering:`);
          await line(`  ${err.message}`);
          for (const problem of reader.problems) await line(`  segment ${problem.name}: ${problem.reason}`);
        }
        return EXIT_FOUND;
      }

      const actions: Action[] = [];
      for (const problem of reader.problems) {
        if (problem.removedAtOpen) actions.push({ action: 'remove-empty-file', segment: problem.name, offset: problem.fileFromOffset });
      }
      const byOffset = new Map(reader.scannableSegments.map((segment) => [segment.fileFromOffset, segment]));
      for (const { fileFromOffset, position, size } of plan.holes) {
        const segment = byOffset.get(fileFromOffset)!;
        actions.push({ action: 'cover-damage', segment: segment.name, offset: fileFromOffset + position, bytesDropped: size });
      }
      // As MappedFileQueue.truncateDirtyFiles(endOffset, cutSearchBytes): the segment
      // holding the end is zeroed from there, later segments are deleted.
      for (const segment of reader.scannableSegments) {
        const end = segment.fileFromOffset + segment.fileSizeBytes;
        if (end <= plan.endOffset) continue;
        if (segment.fileFromOffset <= plan.endOffset) {
          const nonZeroBytes = reader.nonZeroBytesFrom(plan.endOffset, plan.cutSearchBytes);
          if (nonZeroBytes > 0) actions.push({ action: 'zero-tail', segment: segment.name, offset: plan.endOffset, nonZeroBytes });
        } else {
          actions.push({ action: 'delete-segment', segment: segment.name, offset: segment.fileFromOffset, nonZeroBytes: reader.nonZeroBytesFrom(segment.fileFromOffset) });
        }
      }
      const changesData =
        plan.corruptions.length > 0 ||
        actions.some((action) => action.action === 'cover-damage' || action.action === 'zero-tail' || (action.action === 'delete-segment' && action.nonZeroBytes > 0));
      const queues = [...plan.nextQueueOffsets].map(([key, next]) => {
        const split = key.lastIndexOf('\u0000');
        return { topic: key.slice(0, split), queueId: Number(key.slice(split + 1)), nextQueueOffset: next };
      });

      if (values.json) {
        await printJson({
          directory,
          dryRun: true,
          changesData,
          abortMarker: reader.abortMarker,
          mode: plan.mode,
          checkpoint: reader.checkpoint,
          scannedFromOffset: plan.scannedFromOffset,
          scannedBytes: plan.scannedBytes,
          messagesScanned: plan.messagesScanned,
          endOffset: plan.endOffset,
          lastStoreTimestamp: plan.lastStoreTimestamp,
          actions,
          corruptions: plan.corruptions,
          queues,
        });
        return changesData ? EXIT_FOUND : EXIT_OK;
      }

      const modeWhy =
        plan.mode === 'abnormal'
          ? reader.abortMarker
            ? 'the abort marker exists (a crash, or a writer has the store open now): both CRCs checked'
            : '--abnormal: both CRCs checked'
          : 'no abort marker (the last writer closed cleanly): structure checked, CRCs not';
      const checkpoint = reader.checkpoint;
      const summary: string[][] = [
        ['mode', `${plan.mode}: ${modeWhy}`],
        ['checkpoint', checkpoint.kind === 'ok' ? `flushed offset ${checkpoint.flushedOffset}` : checkpoint.kind === 'empty' ? 'none: the walk starts at the first segment' : `corrupt (${checkpoint.reason}): the walk starts at the first segment`],
        ['walk', `from offset ${plan.scannedFromOffset}, ${plan.scannedBytes} bytes of segments, ${plan.messagesScanned} message${plan.messagesScanned === 1 ? '' : 's'}`],
        ['log end', `${plan.endOffset} (the next append would go here)`],
      ];
      await line(`recover --dry-run ${directory} (nothing is changed)`);
      const width = Math.max(...summary.map(([label]) => label!.length));
      for (const [label, text] of summary) await line(`${label!.padEnd(width)}  ${text}`);
      if (reader.abortMarker) await line('note: if a writer has this store open now, this is what a crash at this instant would leave to recover');
      await line('');
      if (actions.length === 0) await line('actions: none');
      else {
        await line('actions:');
        for (const action of actions) await line(`  ${describeAction(action)}`);
      }
      if (plan.corruptions.length > 0) {
        await line('');
        await line('corruptions recovery would report:');
        const lines = formatTable(
          [{ header: 'OFFSET', align: 'right' }, { header: 'BYTES DROPPED', align: 'right' }, { header: 'REASON' }],
          plan.corruptions.map((report) => [String(report.offset), String(report.bytesDropped), report.reason]),
        );
        for (const text of lines) await line(`  ${text}`);
      }
      if (queues.length > 0) {
        await line('');
        const lines = formatTable(
          [{ header: 'TOPIC' }, { header: 'QUEUE', align: 'right' }, { header: 'NEXT QUEUE OFFSET', align: 'right' }],
          queues.map((queue) => [queue.topic, String(queue.queueId), String(queue.nextQueueOffset)]),
        );
        for (const text of lines) await line(text);
      }
      await line('');
      await line(`result: ${changesData ? 'recovery would cut or drop data' : 'recovery would change no data'}`);
      return changesData ? EXIT_FOUND : EXIT_OK;
    } finally {
      reader.close();
    }
  },
};

function describeAction(action: Action): string {
  switch (action.action) {
    case 'cover-damage':
      return `cover damaged bytes in segment ${action.segment} at offset ${action.offset}: drop ${action.bytesDropped} bytes (a blank record is written over them; records after them are kept)`;
    case 'zero-tail':
      return `cut at offset ${action.offset}: zero ${action.nonZeroBytes} non-zero bytes in segment ${action.segment}`;
    case 'delete-segment':
      return `delete segment ${action.segment} (${action.nonZeroBytes > 0 ? `holds ${action.nonZeroBytes} bytes up to its last non-zero byte` : 'empty'})`;
    case 'remove-empty-file':
      return `remove the empty file ${action.segment} (created, never sized)`;
  }
}
