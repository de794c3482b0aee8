/**
 * The checkpoint file (`<dir>/checkpoint`, layout in lib/format/checkpoint-codec.ts)
 * and the topic-queue table file (`<dir>/topic-queue-table`).
 *
 * The checkpoint is rewritten in place, and synced, every thorough interval
 * (after a full flush) and at close. It is written only after the data it
 * names is durable, so on disk it can lag the log but never lead it; a
 * lagging checkpoint only makes recovery walk a little more.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { CommitLogError } from '../errors.js';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointDecodeResult, type CheckpointFields } from '../format/checkpoint-codec.js';
import { decodeTopicQueueTable, encodeTopicQueueTable, type TopicQueueTable } from '../format/topic-queue-table-codec.js';
import { fsError } from '../native/errno.js';
import type { NativeIO } from '../native/native-io.js';

export const CHECKPOINT_FILE_NAME = 'checkpoint';
export const TOPIC_QUEUE_TABLE_FILE_NAME = 'topic-queue-table';

/** Reads the checkpoint: `empty` when there is none yet, `corrupt` when it fails its CRC. */
export function readCheckpoint(directory: string): CheckpointDecodeResult {
  const path = join(directory, CHECKPOINT_FILE_NAME);
  if (!existsSync(path)) return { kind: 'empty' };
  try {
    return decodeCheckpoint(readFileSync(path));
  } catch (err) {
    throw fsError(err, 'read', path);
  }
}

/** Reads the topic-queue table, or undefined when there is none or it is corrupt (recovery then rebuilds it). */
export function readTopicQueueTable(directory: string): TopicQueueTable | undefined {
  const path = join(directory, TOPIC_QUEUE_TABLE_FILE_NAME);
  if (!existsSync(path)) return undefined;
  try {
    return decodeTopicQueueTable(readFileSync(path));
  } catch (err) {
    if (err instanceof CommitLogError && err.code === 'ERR_CORRUPT') return undefined;
    throw fsError(err, 'read', path);
  }
}

export class StoreCheckpoint {
  private closed = false;

  private constructor(
    private readonly native: NativeIO,
    private readonly directory: string,
    private readonly fd: number,
  ) {}

  static async open(native: NativeIO, directory: string): Promise<StoreCheckpoint> {
    const fd = await native.openFile(join(directory, CHECKPOINT_FILE_NAME), true);
    await native.syncDirectory(directory);
    return new StoreCheckpoint(native, directory, fd);
  }

  /** Writes the checkpoint record; with `sync`, makes it durable. */
  async write(fields: CheckpointFields, sync: boolean): Promise<void> {
    if (this.closed) return;
    const record = encodeCheckpoint(fields);
    await this.native.pwrite(this.fd, record, 0, record.length, 0);
    if (sync) await this.native.fdatasync(this.fd);
  }

  /** Replaces the topic-queue table atomically (temporary file, fdatasync, rename). */
  async writeTopicQueueTable(table: TopicQueueTable): Promise<void> {
    const bytes = encodeTopicQueueTable(table);
    const path = join(this.directory, TOPIC_QUEUE_TABLE_FILE_NAME);
    const temporary = `${path}.tmp`;
    const fd = await this.native.openFile(temporary, true);
    try {
      await this.native.truncate(fd, 0);
      await this.native.pwrite(fd, bytes, 0, bytes.length, 0);
      await this.native.fdatasync(fd);
    } finally {
      await this.native.closeFile(fd);
    }
    try {
      await rename(temporary, path);
    } catch (err) {
      throw fsError(err, 'rename', path);
    }
    await this.native.syncDirectory(this.directory);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.native.closeFile(this.fd);
  }
}
