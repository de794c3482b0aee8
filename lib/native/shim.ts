/**
 * Loads native-shim/build/libmcshim.so through ffi-napi. Every shim function
 * returns 0 or -errno (see native-shim/README.md). Each is bound twice: a
 * synchronous call for the cheap ones, and `.async`, which runs the call on
 * the libuv thread pool so the event loop never waits on the disk.
 *
 * One ffi call costs ~3-4 µs plus ~4-5 µs per converted argument here (an
 * `.async` round trip ~0.1 ms): callers use these per flush, per commit, per
 * segment, never per message.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert } from '../assert.js';
import { CommitLogError } from '../errors.js';

const require = createRequire(import.meta.url);

/** The ABI version native-shim/mc_shim.h declares; they must agree. */
const SHIM_ABI_VERSION = 9;

type Callback = (err: Error | null, value: number) => void;
interface ForeignFunction<A extends unknown[]> {
  (...args: A): number;
  async(...args: [...A, Callback]): void;
}

export interface ShimFunctions {
  mc_abi_version: ForeignFunction<[]>;
  mc_page_size: ForeignFunction<[]>;
  mc_fdatasync: ForeignFunction<[fd: number, dirtyFrom: number, dirtyTo: number]>;
  mc_fallocate: ForeignFunction<[fd: number, offset: number, len: number]>;
  mc_msync: ForeignFunction<[base: Buffer, offset: number, len: number, fd: number]>;
  mc_madvise: ForeignFunction<[base: Buffer, offset: number, len: number, advice: number]>;
  mc_populate_write: ForeignFunction<[base: Buffer, offset: number, len: number]>;
  mc_populate_read: ForeignFunction<[base: Buffer, offset: number, len: number]>;
  mc_warm_write_back: ForeignFunction<[base: Buffer, offset: number, len: number, fd: number]>;
  mc_write_back: ForeignFunction<[fd: number, offset: number, len: number]>;
  mc_fill_page_cache: ForeignFunction<[fd: number, offset: number, len: number]>;
  mc_data_end: ForeignFunction<[base: Buffer, offset: number, len: number]>;
  mc_mlock: ForeignFunction<[base: Buffer, offset: number, len: number]>;
  mc_munlock: ForeignFunction<[base: Buffer, offset: number, len: number]>;
  mc_pwrite: ForeignFunction<[fd: number, base: Buffer, offset: number, len: number, fileOffset: number]>;
  mc_release_mapping: ForeignFunction<[base: Buffer, len: number]>;
  mc_flock_exclusive: ForeignFunction<[fd: number]>;
  /** CRC-32 (zlib's) of [base+offset, +len) from `previous`; unsigned. CPU work: call synchronously. */
  mc_crc32: ForeignFunction<[previous: number, base: Buffer, offset: number, len: number]>;
  /** mc_crc32 by the table route only (for specs and benches). */
  mc_crc32_portable: ForeignFunction<[previous: number, base: Buffer, offset: number, len: number]>;
  /** 1 when mc_crc32 folds with PCLMULQDQ. */
  mc_crc32_accelerated: ForeignFunction<[]>;
  /** The calling thread's argument block (MC_CALL_BLOCK_WORDS int64), as a zero-length pointer Buffer. */
  mc_call_block: () => Buffer;
  /**
   * mc_seal_records / mc_verify_records (BODYCRC and record CRC digits of
   * `count` records, 5 int32 descriptors each) with their arguments taken
   * from the block: 0 / the first bad index, or -EINVAL.
   */
  mc_seal_records_from_block: ForeignFunction<[]>;
  mc_verify_records_from_block: ForeignFunction<[]>;
  /**
   * A scan's batch, for `.async`: verifies (when asked) and copies records;
   * its arguments are MC_VERIFY_COPY_WORDS int64 in `args`. Returns the
   * number copied, or -EINVAL.
   */
  mc_verify_copy_records: ForeignFunction<[args: Buffer]>;
}

/** Where the shim is built: <package>/native-shim/build/libmcshim.so, from lib/native or dist/lib/native. */
function findShimPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth += 1) {
    const candidate = join(dir, 'native-shim', 'build', 'libmcshim.so');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new CommitLogError(
    'ERR_NATIVE_UNAVAILABLE',
    'native-shim/build/libmcshim.so not found; run `npm install` (or `make -C native-shim`)',
  );
}

function loadShim(): ShimFunctions {
  const path = findShimPath();
  let ffi: { Library(path: string, defs: Record<string, [string, string[]]>): unknown };
  try {
    ffi = require('@2060.io/ffi-napi');
  } catch (cause) {
    throw new CommitLogError('ERR_NATIVE_UNAVAILABLE', 'cannot load @2060.io/ffi-napi', { cause });
  }
  const ptr = 'pointer';
  const lib = ffi.Library(path, {
    mc_abi_version: ['int', []],
    mc_page_size: ['int64', []],
    mc_fdatasync: ['int', ['int', 'int64', 'int64']],
    mc_fallocate: ['int', ['int', 'int64', 'int64']],
    mc_msync: ['int', [ptr, 'int64', 'int64', 'int']],
    mc_madvise: ['int', [ptr, 'int64', 'int64', 'int']],
    mc_populate_write: ['int', [ptr, 'int64', 'int64']],
    mc_populate_read: ['int', [ptr, 'int64', 'int64']],
    mc_warm_write_back: ['int', [ptr, 'int64', 'int64', 'int']],
    mc_write_back: ['int', ['int', 'int64', 'int64']],
    mc_fill_page_cache: ['int', ['int', 'int64', 'int64']],
    mc_data_end: ['int64', [ptr, 'int64', 'int64']],
    mc_mlock: ['int', [ptr, 'int64', 'int64']],
    mc_munlock: ['int', [ptr, 'int64', 'int64']],
    mc_pwrite: ['int', ['int', ptr, 'int64', 'int64', 'int64']],
    mc_release_mapping: ['int', [ptr, 'int64']],
    mc_flock_exclusive: ['int', ['int']],
    mc_crc32: ['uint32', ['uint32', ptr, 'int64', 'int64']],
    mc_crc32_portable: ['uint32', ['uint32', ptr, 'int64', 'int64']],
    mc_crc32_accelerated: ['int', []],
    mc_call_block: [ptr, []],
    mc_seal_records_from_block: ['int', []],
    mc_verify_records_from_block: ['int32', []],
    mc_verify_copy_records: ['int32', [ptr]],
  }) as ShimFunctions;
  const abi = lib.mc_abi_version();
  if (abi !== SHIM_ABI_VERSION) {
    throw new CommitLogError(
      'ERR_NATIVE_UNAVAILABLE',
      `native shim ABI ${abi} at ${path}, expected ${SHIM_ABI_VERSION}; rebuild with \`make -C native-shim\``,
    );
  }
  return lib;
}

let loaded: ShimFunctions | undefined;

/** int64 words in the shim's call block (MC_CALL_BLOCK_WORDS). */
const CALL_BLOCK_WORDS = 4;
let callBlock: BigInt64Array | undefined;
const addresses = new WeakMap<ArrayBufferLike, number>();

/** This thread's argument block in the shim, for the argument-free entry points. */
export function shimCallBlock(): BigInt64Array {
  if (callBlock === undefined) {
    const ref = require('@2060.io/ref-napi') as { reinterpret(pointer: Buffer, size: number, offset: number): Buffer };
    const bytes = ref.reinterpret(shim().mc_call_block(), CALL_BLOCK_WORDS * 8, 0);
    callBlock = new BigInt64Array(bytes.buffer, bytes.byteOffset, CALL_BLOCK_WORDS);
  }
  return callBlock;
}

/**
 * The memory address of a view's first byte, for the call block. Cached per
 * ArrayBuffer: Buffers and mappings keep their bytes outside the V8 heap,
 * where they never move, and V8 moves a small typed array's bytes out of
 * its heap for good when `.buffer` is first read (as here). Resizable and
 * empty buffers are not cached (their bytes can move, or have no address).
 * The caller keeps the view reachable for as long as the shim uses the address.
 */
export function addressOf(view: ArrayBufferView): number {
  const buffer = view.buffer as ArrayBuffer & { resizable?: boolean };
  assert(buffer.resizable !== true, 'no resizable ArrayBuffer crosses into the shim');
  let base = addresses.get(buffer);
  if (base === undefined) {
    assert(buffer.byteLength > 0, 'an empty buffer has no address to pass');
    const ref = require('@2060.io/ref-napi') as { address(buffer: Buffer): number };
    base = ref.address(Buffer.from(buffer, 0, 1));
    addresses.set(buffer, base);
  }
  return base + view.byteOffset;
}

/** The shim, loaded on first use (so importing the package costs nothing). */
export function shim(): ShimFunctions {
  loaded ??= loadShim();
  return loaded;
}

/** Runs a shim function on the libuv thread pool; resolves with its return value (0 or -errno). */
export function callAsync<A extends unknown[]>(fn: ForeignFunction<A>, ...args: A): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
}
