/**
 * The abort marker (RocketMQ's `abort` file): created, durably, when a store
 * opens and removed at a clean close. Found at start-up, it means the last
 * run did not close cleanly, so recovery must verify the tail with CRCs
 * from the checkpoint on (abnormal recovery).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeIO } from '../native/native-io.js';

export const ABORT_FILE_NAME = 'abort';

export function abortMarkerPath(directory: string): string {
  return join(directory, ABORT_FILE_NAME);
}

/** True when the previous run ended without a clean close. */
export function abortMarkerExists(directory: string): boolean {
  return existsSync(abortMarkerPath(directory));
}

/** Creates the marker and makes it durable before any append can happen. */
export async function createAbortMarker(native: NativeIO, directory: string): Promise<void> {
  const fd = await native.openFile(abortMarkerPath(directory), true);
  try {
    await native.fdatasync(fd);
  } finally {
    await native.closeFile(fd);
  }
  await native.syncDirectory(directory);
}

export async function removeAbortMarker(native: NativeIO, directory: string): Promise<void> {
  if (!abortMarkerExists(directory)) return;
  await native.unlink(abortMarkerPath(directory));
  await native.syncDirectory(directory);
}
