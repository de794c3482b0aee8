/**
 * What a directory entry named like a segment is, as the store's loader
 * (MappedFileQueue.load, which refuses it with ERR_SEGMENT_INVALID) and the
 * read-only reader (which lists it as a problem) both judge it: a regular
 * file, or why it cannot be a segment. Never opened here: opening a FIFO
 * would block.
 */
import { lstatSync, statSync, type Stats } from 'node:fs';
import { fsError } from '../native/errno.js';

/** A segment's file (a symbolic link to one is followed), why the entry cannot be one, or nothing: it is gone. */
export type SegmentEntry = { readonly stats: Stats } | { readonly problem: string } | undefined;

export function inspectSegmentEntry(path: string): SegmentEntry {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'stat', path);
    // Deleted since the directory was read, or a symbolic link to nothing.
    return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ? { problem: 'a symbolic link to a missing file' } : undefined;
  }
  return stats.isFile() ? { stats } : { problem: 'not a regular file' };
}
