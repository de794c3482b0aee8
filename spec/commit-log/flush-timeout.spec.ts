/**
 * SYNC_FLUSH's FLUSH_DISK_TIMEOUT: an append whose group flush outlasts
 * syncFlushTimeout settles with that status, and its bytes are still made
 * durable (and, in direct mode, readable) afterwards, even when no append
 * is left waiting for them: the group commit's idle heartbeat finishes them.
 * The group's durable call is held behind a gate; the thorough checkpoint,
 * which would also flush them, is set out of reach.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN, type WriteMode } from '../../lib/config.js';
import { realNativeIO } from '../../lib/native/index.js';
import { DataSyncFdsIO } from '../durability/helpers/data-sync-fds.js';
import { Gate } from '../helpers/gate.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

/** Holds the first group flush after arm(): an msync or fdatasync, or a pwrite through an O_DSYNC descriptor. */
class HeldFlush extends DataSyncFdsIO {
  readonly gate = new Gate();
  entered = false;
  private armed = false;
  arm(): void {
    this.armed = true;
  }
  private async hold(): Promise<void> {
    if (!this.armed) return;
    this.armed = false;
    this.entered = true;
    await this.gate.pass();
  }
  override async pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
    if (this.dataSyncFds.has(fd)) await this.hold();
    return super.pwrite(fd, source, position, length, fileOffset);
  }
  override async fdatasync(fd: number, dirty?: { from: number; to: number }): Promise<void> {
    await this.hold();
    return super.fdatasync(fd, dirty);
  }
  override async msync(mapping: Buffer, position: number, length: number, fd?: number): Promise<void> {
    await this.hold();
    return super.msync(mapping, position, length, fd);
  }
}

describe.each<WriteMode>(['mapped', 'direct'])('FLUSH_DISK_TIMEOUT (%s)', (writeMode) => {
  it('an append whose flush outlasts syncFlushTimeout settles FLUSH_DISK_TIMEOUT; its bytes are made durable and readable anyway', async () => {
    const dir = makeTmpDir();
    const native = new HeldFlush(realNativeIO());
    const log = await CommitLog.open({
      ...TEST_MIN,
      storePathCommitLog: join(dir.path, 'store'),
      flushDiskType: 'SYNC_FLUSH',
      writeMode,
      syncFlushTimeout: 100,
      flushCommitLogThoroughInterval: 600_000,
      warmMapedFileEnable: false,
      native,
    });
    try {
      native.arm();
      const first = log.append({ topic: 't', body: Buffer.alloc(300, 1) });
      await waitFor(() => native.entered); // the group holding `first` is in its flush
      const second = log.append({ topic: 't', body: Buffer.alloc(300, 2) });
      const [a, b] = await Promise.all([first, second]);
      expect(a.status).toBe('FLUSH_DISK_TIMEOUT');
      expect(b.status).toBe('FLUSH_DISK_TIMEOUT');
      native.gate.open();
      // No append waits any more: the heartbeat (1 s) makes `second` durable too.
      const end = b.physicalOffset + b.size;
      await waitFor(() => log.flushedOffset >= end, 3_000);
      expect(log.read(a.physicalOffset).body).toEqual(Buffer.alloc(300, 1));
      expect(log.read(b.physicalOffset).body).toEqual(Buffer.alloc(300, 2));
    } finally {
      native.gate.open();
      await log.close();
      dir.cleanup();
    }
  });
});
