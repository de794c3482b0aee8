/**
 * `mapped-commitlog info DIR`: what is in a store, read-only. Segments
 * (name, start offset, size, wrote/flushed positions, page-cache residency,
 * disk use), min/max offsets, the checkpoint, the topic-queue table, the
 * abort marker and the disk the directory uses.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { StoreReader } from '../reader/store-reader.js';
import { COMMON_OPTIONS, parse, storeDirectory } from './args.js';
import { EXIT_OK, type ExitCode } from './exit-codes.js';
import { formatTable, formatTime, line, printJson } from './output.js';
import { humanBytes } from './progress.js';
import type { CliCommand } from './command.js';

const HELP = `usage: mapped-commitlog info DIR [--json]

Shows what a store holds, without changing anything (no lock is taken; works
while another process has the store open):
  segments     name, start offset, size, wrote and flushed positions,
               bytes resident in the page cache (mincore), bytes on disk
  offsets      min offset, max offset (the end of the data)
  checkpoint   flushed offset, last flush store time, when it was written
  queue table  next queue offset of every (topic, queue)
  abort marker present while a writer has the store open or after a crash
  disk use     of every file in the directory

Positions: a segment before the last one holding data is full (WROTE = its
size); WROTE of the last one is where a structure walk finds the data ends.
FLUSHED is the part below the checkpoint's flushed offset.

options:
  --json       one JSON document instead of tables
  -h, --help   this help

exit codes: 0 shown, 2 usage error or the store cannot be read`;

/** Queues listed in the text output at most (--json lists them all). */
const QUEUES_SHOWN_MAX = 20;

export const info: CliCommand = {
  name: 'info',
  help: HELP,
  async run(args): Promise<ExitCode> {
    const { values, positionals } = parse(args, COMMON_OPTIONS);
    if (values.help) {
      await line(HELP);
      return EXIT_OK;
    }
    const directory = storeDirectory(positionals);
    const reader = StoreReader.open(directory);
    try {
      const { segments, dataEnd } = reader.segmentInfo();
      const disk = directoryDiskUse(directory);
      const segmentBytes = segments.reduce((sum, segment) => sum + segment.fileSizeBytes, 0);
      const resident = segments.reduce((sum, segment) => sum + segment.residentBytes, 0);
      const checkpoint = reader.checkpoint;
      const table = reader.topicQueueTable;
      const queues = table === undefined ? [] : [...table.nextQueueOffsets].map(([key, next]) => splitQueueKey(key, next));
      const minOffset = reader.minOffset;
      if (values.json) {
        await printJson({
          directory,
          segmentSizeBytes: reader.segmentSizeBytes ?? null,
          segmentCount: segments.length,
          minOffset,
          maxOffset: dataEnd.offset,
          dataBytes: dataEnd.offset - minOffset,
          dataEndStoppedAt: dataEnd.stoppedAt ?? null,
          checkpoint,
          topicQueueTable: table === undefined ? null : { coveredOffset: table.coveredOffset, queues },
          abortMarker: reader.abortMarker,
          diskUsageBytes: disk.bytes,
          fileCount: disk.files,
          segmentBytes,
          residentBytes: resident,
          segments,
          problems: reader.problems,
        });
        return EXIT_OK;
      }
      const size = reader.segmentSizeBytes;
      const summary: string[][] = [
        ['store', directory],
        ['segment size', size === undefined ? '- (no segments)' : `${size} bytes (${humanBytes(size)})`],
        ['segments', `${segments.length}${reader.problems.length > 0 ? ` (${reader.problems.length} with problems, listed below)` : ''}`],
        ['offsets', `min ${minOffset}, max ${dataEnd.offset} (end of data), ${dataEnd.offset - minOffset} bytes of data`],
        ['checkpoint', describeCheckpoint(checkpoint)],
        ['queue table', table === undefined ? 'none (or unreadable: recovery rebuilds it)' : `covers offsets below ${table.coveredOffset}, ${queues.length} queue${queues.length === 1 ? '' : 's'}`],
        ['abort marker', reader.abortMarker ? 'present: a writer has the store open, or the last one did not close cleanly' : 'absent: no writer open, last close was clean'],
        ['disk use', `${disk.bytes} bytes (${humanBytes(disk.bytes)}) in ${disk.files} files`],
        ['page cache', segmentBytes === 0 ? '-' : `${resident} of ${segmentBytes} segment bytes resident (${percent(resident, segmentBytes)})`],
      ];
      const width = Math.max(...summary.map(([label]) => label!.length));
      for (const [label, text] of summary) await line(`${label!.padEnd(width)}  ${text}`);
      if (dataEnd.stoppedAt !== undefined) {
        await line(`warning: the data walk stopped at offset ${dataEnd.stoppedAt.offset}: ${dataEnd.stoppedAt.reason} (run verify)`);
      }
      if (segments.length > 0) {
        await line('');
        const rows = segments.map((segment) => [
          segment.name,
          String(segment.fileFromOffset),
          String(segment.fileSizeBytes),
          String(segment.wrotePosition),
          String(segment.flushedPosition),
          `${segment.residentBytes} (${percent(segment.residentBytes, segment.fileSizeBytes)})`,
          String(segment.diskBytes),
        ]);
        const lines = formatTable(
          [
            { header: 'SEGMENT' },
            { header: 'START', align: 'right' },
            { header: 'SIZE', align: 'right' },
            { header: 'WROTE', align: 'right' },
            { header: 'FLUSHED', align: 'right' },
            { header: 'RESIDENT', align: 'right' },
            { header: 'DISK', align: 'right' },
          ],
          rows,
        );
        for (const text of lines) await line(text);
      }
      if (reader.problems.length > 0) {
        await line('');
        for (const problem of reader.problems) await line(`problem: ${problem.name}: ${problem.reason}`);
      }
      if (queues.length > 0) {
        await line('');
        const shown = queues.slice(0, QUEUES_SHOWN_MAX);
        const lines = formatTable(
          [{ header: 'TOPIC' }, { header: 'QUEUE', align: 'right' }, { header: 'NEXT QUEUE OFFSET', align: 'right' }],
          shown.map((queue) => [queue.topic, String(queue.queueId), String(queue.nextQueueOffset)]),
        );
        for (const text of lines) await line(text);
        if (queues.length > shown.length) await line(`... and ${queues.length - shown.length} more (--json lists them all)`);
      }
      return EXIT_OK;
    } finally {
      reader.close();
    }
  },
};

function describeCheckpoint(checkpoint: StoreReader['checkpoint']): string {
  switch (checkpoint.kind) {
    case 'empty':
      return 'none yet';
    case 'corrupt':
      return `corrupt (${checkpoint.reason}): recovery scans the whole log`;
    case 'ok':
      return `flushed offset ${checkpoint.flushedOffset}, last flushed message stored ${formatTime(checkpoint.lastFlushStoreTimestamp)}, written ${formatTime(checkpoint.writtenAt)}${checkpoint.cleanClose ? ' by a clean close' : ''}`;
  }
}

/** queueKey(topic, queueId) joins them with U+0000, which no topic contains. */
function splitQueueKey(key: string, nextQueueOffset: number): { topic: string; queueId: number; nextQueueOffset: number } {
  const split = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, split), queueId: Number(key.slice(split + 1)), nextQueueOffset };
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)} %`;
}

/** Bytes on disk (st_blocks × 512) of every entry in the directory, and how many there are. */
function directoryDiskUse(directory: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const name of readdirSync(directory)) {
    try {
      const stat = lstatSync(join(directory, name));
      bytes += stat.blocks * 512;
      files += 1;
    } catch {
      // Deleted between readdir and lstat (a writer rolled or expired a segment).
    }
  }
  return { bytes, files };
}
