/**
 * SiteFaults: failure injection by *call site*, not only by call. The fault
 * twin fails the nth pwrite, whoever makes it; the io-errors spec wants "the
 * pwrite of the checkpoint" or "the fdatasync of a segment". SiteFaults
 * remembers which file each descriptor and mapping belongs to and fails a
 * call when both the call and the file's role match a rule:
 *
 * | site                | files                                        |
 * |---------------------|----------------------------------------------|
 * | segment             | 20-digit segment files                       |
 * | checkpoint          | `checkpoint`                                 |
 * | topic-queue-table   | `topic-queue-table` and its `.tmp`           |
 * | abort               | `abort`                                      |
 * | lock                | `lock`                                       |
 * | directory           | syncDirectory (the store directory)          |
 * | pool                | mapAnonymous / mlock (TransientStorePool)    |
 *
 * An injected failure never reaches the layer below (nothing is written or
 * synced) and is shaped as the real layer reports it (lib/native/errno.ts):
 * fs-backed calls as fsError of a Node-style error, the others as
 * errnoError. Unlike the twin, SiteFaults does not absorb errnos the real
 * layer would retry: specs inject only ENOSPC and EIO through it.
 */
import { basename } from 'node:path';
import { constants } from 'node:os';
import { errnoError, errnoName, fsError } from '../../../lib/native/errno.js';
import type { NativeIO } from '../../../lib/native/native-io.js';
import { ForwardingNativeIO } from './forwarding-native-io.js';

export type Site = 'segment' | 'checkpoint' | 'topic-queue-table' | 'abort' | 'lock' | 'directory' | 'pool' | 'other';
export type SiteCall =
  | 'openFile' | 'openDataSyncFile' | 'closeFile' | 'fileSize' | 'truncate' | 'unlink' | 'syncDirectory' | 'mapShared' | 'mapAnonymous'
  | 'fallocate' | 'msync' | 'fdatasync' | 'pwrite' | 'mlock' | 'lockExclusive';

export interface SiteRule {
  /** The call to fail, or calls: the next of any of them (one step the engine takes either way). */
  call: SiteCall | readonly SiteCall[];
  site: Site;
  errno: 'ENOSPC' | 'EIO';
  /** Fail only the nth matching call from now (1 = the next); every one when undefined. */
  nth?: number;
}

/** The file role of a path. */
export function siteOf(path: string): Site {
  const name = basename(path);
  if (/^\d{20}$/.test(name)) return 'segment';
  if (name === 'checkpoint') return 'checkpoint';
  if (name === 'topic-queue-table' || name === 'topic-queue-table.tmp') return 'topic-queue-table';
  if (name === 'abort') return 'abort';
  if (name === 'lock') return 'lock';
  return 'other';
}

/** syscall names as the real layer reports them. */
const SYSCALL: Record<SiteCall, string> = {
  openFile: 'open',
  openDataSyncFile: 'open',
  closeFile: 'close',
  fileSize: 'fstat',
  truncate: 'ftruncate',
  unlink: 'unlink',
  syncDirectory: 'fsync',
  mapShared: 'mmap',
  mapAnonymous: 'mmap',
  fallocate: 'fallocate',
  msync: 'msync',
  fdatasync: 'fdatasync',
  pwrite: 'pwrite',
  mlock: 'mlock',
  lockExclusive: 'flock',
};
const FS_BACKED = new Set<SiteCall>(['openFile', 'openDataSyncFile', 'closeFile', 'fileSize', 'truncate', 'unlink', 'syncDirectory']);

interface ActiveRule extends SiteRule {
  seen: number;
}

export class SiteFaults extends ForwardingNativeIO {
  private rules: ActiveRule[] = [];
  private readonly fdSites = new Map<number, Site>();
  private readonly mappingSites = new WeakMap<Buffer, Site>();
  /** Failures injected so far, per `call@site`. */
  readonly injected = new Map<string, number>();
  /** Calls seen so far, per `call@site` (failed ones included). */
  readonly seen = new Map<string, number>();

  constructor(inner: NativeIO) {
    super(inner);
  }

  fail(rule: SiteRule): void {
    if (rule.nth !== undefined && (!Number.isSafeInteger(rule.nth) || rule.nth < 1)) throw new RangeError(`nth must be ≥ 1, got ${rule.nth}`);
    this.rules.push({ ...rule, seen: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  get injectedTotal(): number {
    let total = 0;
    for (const count of this.injected.values()) total += count;
    return total;
  }

  /** Throws the injected error when a rule matches this call. */
  private check(call: SiteCall, site: Site, path?: string): void {
    const key = `${call}@${site}`;
    this.seen.set(key, (this.seen.get(key) ?? 0) + 1);
    for (const [index, rule] of this.rules.entries()) {
      if (!(typeof rule.call === 'string' ? rule.call === call : rule.call.includes(call)) || rule.site !== site) continue;
      rule.seen += 1;
      if (rule.nth !== undefined && rule.seen !== rule.nth) continue;
      if (rule.nth !== undefined) this.rules.splice(index, 1);
      this.injected.set(key, (this.injected.get(key) ?? 0) + 1);
      throw injectedError(call, constants.errno[rule.errno], path);
    }
  }

  private fdSite(fd: number): Site {
    return this.fdSites.get(fd) ?? 'other';
  }

  override async openFile(path: string, create: boolean): Promise<number> {
    this.check('openFile', siteOf(path), path);
    const fd = await super.openFile(path, create);
    this.fdSites.set(fd, siteOf(path));
    return fd;
  }
  override async openDataSyncFile(path: string): Promise<number> {
    this.check('openDataSyncFile', siteOf(path), path);
    const fd = await super.openDataSyncFile(path);
    this.fdSites.set(fd, siteOf(path));
    return fd;
  }
  override async closeFile(fd: number): Promise<void> {
    const site = this.fdSite(fd);
    try {
      this.check('closeFile', site);
    } catch (err) {
      // close(2) releases the descriptor even when it reports an error.
      this.fdSites.delete(fd);
      await super.closeFile(fd).catch(() => undefined);
      throw err;
    }
    this.fdSites.delete(fd);
    return super.closeFile(fd);
  }
  override async fileSize(fd: number): Promise<number> {
    this.check('fileSize', this.fdSite(fd));
    return super.fileSize(fd);
  }
  override async truncate(fd: number, sizeBytes: number): Promise<void> {
    this.check('truncate', this.fdSite(fd));
    return super.truncate(fd, sizeBytes);
  }
  override async unlink(path: string): Promise<void> {
    this.check('unlink', siteOf(path), path);
    return super.unlink(path);
  }
  override async syncDirectory(path: string): Promise<void> {
    this.check('syncDirectory', 'directory', path);
    return super.syncDirectory(path);
  }
  override mapShared(fd: number, sizeBytes: number): ReturnType<NativeIO['mapShared']> {
    const site = this.fdSite(fd);
    this.check('mapShared', site);
    const mapping = super.mapShared(fd, sizeBytes);
    this.mappingSites.set(mapping, site);
    return mapping;
  }
  override mapAnonymous(sizeBytes: number): ReturnType<NativeIO['mapAnonymous']> {
    this.check('mapAnonymous', 'pool');
    return super.mapAnonymous(sizeBytes);
  }
  override async fallocate(fd: number, offset: number, length: number): Promise<void> {
    this.check('fallocate', this.fdSite(fd));
    return super.fallocate(fd, offset, length);
  }
  override async msync(mapping: Buffer, position: number, length: number, fd?: number): Promise<void> {
    this.check('msync', this.mappingSites.get(mapping) ?? 'other');
    return super.msync(mapping, position, length, fd);
  }
  override async fdatasync(fd: number, dirty?: { from: number; to: number }): Promise<void> {
    this.check('fdatasync', this.fdSite(fd));
    return super.fdatasync(fd, dirty);
  }
  override async pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
    this.check('pwrite', this.fdSite(fd));
    return super.pwrite(fd, source, position, length, fileOffset);
  }
  override async mlock(buffer: Buffer): Promise<boolean> {
    this.check('mlock', 'pool');
    return super.mlock(buffer);
  }
  override lockExclusive(fd: number): ReturnType<NativeIO['lockExclusive']> {
    this.check('lockExclusive', this.fdSite(fd));
    return super.lockExclusive(fd);
  }
}

/** The error the real layer would report for `errno` from `call`. */
function injectedError(call: SiteCall, errno: number, path?: string): Error {
  const syscall = SYSCALL[call];
  if (FS_BACKED.has(call)) {
    const code = errnoName(errno);
    const error: NodeJS.ErrnoException = new Error(`${code}: injected by SiteFaults, ${syscall}${path ? ` '${path}'` : ''}`);
    error.errno = -errno;
    error.code = code;
    error.syscall = syscall;
    if (path !== undefined) error.path = path;
    return fsError(error, syscall, path);
  }
  return errnoError(errno, syscall);
}
