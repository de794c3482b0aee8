/** Whole-directory snapshots, for "nothing stored changed" checks and for copying a pristine store. */
import { accessSync, constants as fsConstants, mkdirSync, mkdtempSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** File name → bytes, for the regular files directly in `directory`. */
export type StoreSnapshot = Map<string, Buffer>;

export function snapshotStore(directory: string): StoreSnapshot {
  const out: StoreSnapshot = new Map();
  for (const name of readdirSync(directory).sort()) {
    const path = join(directory, name);
    const entry = lstatSync(path);
    // Other entries by what they are (never opened: a FIFO would block), so removing one shows too.
    if (entry.isFile()) out.set(name, readFileSync(path));
    else out.set(name, Buffer.from(entry.isSymbolicLink() ? `<symlink to ${readlinkSync(path)}>` : entry.isDirectory() ? '<directory>' : entry.isFIFO() ? '<fifo>' : '<other>'));
  }
  return out;
}

export function writeSnapshot(snapshot: StoreSnapshot, directory: string): void {
  mkdirSync(directory, { recursive: true });
  for (const [name, bytes] of snapshot) writeFileSync(join(directory, name), bytes);
}

/** Names of files added, removed or changed between two snapshots (empty when identical). */
export function diffSnapshots(before: StoreSnapshot, after: StoreSnapshot, ignore: ReadonlySet<string> = new Set()): string[] {
  const changed: string[] = [];
  for (const [name, bytes] of before) {
    if (ignore.has(name)) continue;
    const now = after.get(name);
    if (now === undefined) changed.push(`${name} removed`);
    else if (!now.equals(bytes)) changed.push(`${name} changed`);
  }
  for (const name of after.keys()) if (!before.has(name) && !ignore.has(name)) changed.push(`${name} added`);
  return changed;
}

/**
 * A fresh directory for specs whose subject is bytes, not fsync (the fuzz):
 * on a memory file system when there is one, where every fsync is free, so
 * hundreds of opens fit in seconds. MC_DURABILITY_TMP overrides the base;
 * otherwise /dev/shm when it is a writable directory, else the OS temp dir.
 */
export function memoryTmpDir(prefix: string): { path: string; cleanup(): void } {
  const base = process.env.MC_DURABILITY_TMP ?? (isWritableDirectory('/dev/shm') ? '/dev/shm' : tmpdir());
  const path = mkdtempSync(join(base, prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

function isWritableDirectory(path: string): boolean {
  try {
    accessSync(path, fsConstants.W_OK);
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
