/**
 * A NativeIO that forwards every call to another one. The durability specs
 * stack small wrappers on the fault twin (spec/helpers/fault-native-io.ts)
 * by extending this class and overriding the calls they care about:
 *
 *   engine → PowerFence / SiteFaults → FaultNativeIO → real native layer
 *
 * lib/native/ is still growing: a NativeIO method this class does not name
 * yet is forwarded too (found at construction on the inner object's
 * prototype chain), through `forwardUnknown`, which a subclass can refuse.
 * Whatever a call returns (a value, a Promise) is handed back as it is.
 */
import type { Advice, NativeIO } from '../../../lib/native/native-io.js';

export class ForwardingNativeIO implements NativeIO {
  readonly pageSize: number;

  constructor(protected readonly inner: NativeIO) {
    this.pageSize = inner.pageSize;
    const self = this as unknown as Record<string, unknown>;
    for (let proto: object | null = inner; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (name === 'constructor' || name in self || typeof (inner as unknown as Record<string, unknown>)[name] !== 'function') continue;
        self[name] = (...args: unknown[]) => this.forwardUnknown(name, args);
      }
    }
  }

  /** A call this class has no method for: forwarded as is. */
  protected forwardUnknown(name: string, args: unknown[]): unknown {
    return (this.inner as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
  }

  openFile(path: string, create: boolean): Promise<number> {
    return this.inner.openFile(path, create);
  }
  openDataSyncFile(path: string): Promise<number> {
    return this.inner.openDataSyncFile(path);
  }
  closeFile(fd: number): Promise<void> {
    return this.inner.closeFile(fd);
  }
  fileSize(fd: number): Promise<number> {
    return this.inner.fileSize(fd);
  }
  truncate(fd: number, sizeBytes: number): Promise<void> {
    return this.inner.truncate(fd, sizeBytes);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  syncDirectory(path: string): Promise<void> {
    return this.inner.syncDirectory(path);
  }
  mapShared(fd: number, sizeBytes: number): ReturnType<NativeIO['mapShared']> {
    return this.inner.mapShared(fd, sizeBytes);
  }
  mapAnonymous(sizeBytes: number): ReturnType<NativeIO['mapAnonymous']> {
    return this.inner.mapAnonymous(sizeBytes);
  }
  releaseMapping(mapping: Buffer): ReturnType<NativeIO['releaseMapping']> {
    return this.inner.releaseMapping(mapping);
  }
  residentBytes(mapping: Buffer): ReturnType<NativeIO['residentBytes']> {
    return this.inner.residentBytes(mapping);
  }
  advise(mapping: Buffer, position: number, length: number, advice: Advice): ReturnType<NativeIO['advise']> {
    return this.inner.advise(mapping, position, length, advice);
  }
  fallocate(fd: number, offset: number, length: number): Promise<void> {
    return this.inner.fallocate(fd, offset, length);
  }
  populateWrite(mapping: Buffer, position: number, length: number): Promise<void> {
    return this.inner.populateWrite(mapping, position, length);
  }
  populateRead(mapping: Buffer, position: number, length: number): Promise<void> {
    return this.inner.populateRead(mapping, position, length);
  }
  dataEnd(mapping: Buffer, position: number, length: number): Promise<number> {
    return this.inner.dataEnd(mapping, position, length);
  }
  warmWriteBack(mapping: Buffer, position: number, length: number, fd: number): Promise<void> {
    return this.inner.warmWriteBack(mapping, position, length, fd);
  }
  writeBack(fd: number, offset: number, length: number): Promise<void> {
    return this.inner.writeBack(fd, offset, length);
  }
  fillPageCache(fd: number, offset: number, length: number): Promise<void> {
    return this.inner.fillPageCache(fd, offset, length);
  }
  msync(mapping: Buffer, position: number, length: number, fd?: number): Promise<void> {
    return this.inner.msync(mapping, position, length, fd);
  }
  fdatasync(fd: number, dirty?: { from: number; to: number }): Promise<void> {
    return this.inner.fdatasync(fd, dirty);
  }
  pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
    return this.inner.pwrite(fd, source, position, length, fileOffset);
  }
  mlock(buffer: Buffer): Promise<boolean> {
    return this.inner.mlock(buffer);
  }
  munlock(buffer: Buffer): ReturnType<NativeIO['munlock']> {
    return this.inner.munlock(buffer);
  }
  lockExclusive(fd: number): ReturnType<NativeIO['lockExclusive']> {
    return this.inner.lockExclusive(fd);
  }
}
