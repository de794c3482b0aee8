/**
 * One process per store directory: an exclusive flock on `<dir>/lock`,
 * held from open to close. A second opener (another process, or a second
 * CommitLog in this one) gets ERR_STORE_LOCKED and changes nothing.
 * The kernel drops the lock when the process dies, so a crash never leaves
 * a stale lock behind.
 */
import { join } from 'node:path';
import { CommitLogError } from '../errors.js';
import type { NativeIO } from '../native/native-io.js';

export const LOCK_FILE_NAME = 'lock';

export class StoreLock {
  private released = false;

  private constructor(
    private readonly native: NativeIO,
    private readonly fd: number,
  ) {}

  static async acquire(native: NativeIO, directory: string): Promise<StoreLock> {
    const path = join(directory, LOCK_FILE_NAME);
    const fd = await native.openFile(path, true);
    let held: boolean;
    try {
      held = native.lockExclusive(fd);
    } catch (err) {
      await native.closeFile(fd);
      throw err;
    }
    if (!held) {
      await native.closeFile(fd);
      throw new CommitLogError('ERR_STORE_LOCKED', `${directory} is open in another process (or another CommitLog of this one)`, { path });
    }
    return new StoreLock(native, fd);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.native.closeFile(this.fd); // closing the descriptor drops the flock
  }
}
