/**
 * The layers the README says can be embedded alone refuse bad arguments
 * with ERR_INVALID_ARGUMENT (not an assertion, a TypeError, or silently
 * wrong state) and change nothing: MappedFile, TransientStorePool,
 * AllocateMappedFileService. A review helper reproduced each case.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realNativeIO } from '../../lib/native/index.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { AllocateMappedFileService, PREPARED_MAX } from '../../lib/store/allocate-mapped-file-service.js';
import { MappedFile } from '../../lib/store/mapped-file.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = 64 * 1024;
const native = realNativeIO();

describe('lower layers refuse bad arguments', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir('mc-layer-args-');
  });
  afterEach(() => dir.cleanup());

  const create = (fileSizeBytes = SEGMENT) => MappedFile.create({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes, strategyFactory: writeStrategyFactory({ mode: 'mapped' }) });

  it('MappedFile: append, appendBatch and advance take only what they can store; positions stay put', async () => {
    const file = await create();
    try {
      file.append(Buffer.from('kept'));
      await expectCode(() => file.append('hello' as never), 'ERR_INVALID_ARGUMENT'); // stored 5 zero bytes before
      await expectCode(() => file.append(null as never), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => file.appendBatch(null as never), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => file.appendBatch([Buffer.from('a'), 'b' as never]), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => file.advance(1.5), 'ERR_INVALID_ARGUMENT'); // made every position fractional before
      await expectCode(() => file.advance(-1), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => file.advance(SEGMENT), 'ERR_SEGMENT_FULL');
      expect(file.wrotePosition).toBe(4);
      expect(file.append(Buffer.from('next'))).toBe(4);
    } finally {
      await file.close();
    }
  });

  it('MappedFile.truncateTo refuses a NaN search bound, which cut the positions without zeroing the bytes', async () => {
    const file = await create();
    try {
      file.append(Buffer.from('SECRET-OLD-DATA'));
      await file.commit(0);
      await file.flush(0);
      await expectCode(() => file.truncateTo(0, Number.NaN), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => file.truncateTo(1.5), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => file.truncateTo(0, -1), 'ERR_INVALID_ARGUMENT');
      expect(file.wrotePosition).toBe(15);
      await file.truncateTo(0);
      expect(file.wrotePosition).toBe(0);
    } finally {
      await file.close();
    }
    expect(readFileSync(join(dir.path, segmentFileName(0))).subarray(0, 15).equals(Buffer.alloc(15))).toBe(true);
  });

  it('MappedFile.create refuses a segment over 1 GiB before creating the file', async () => {
    await expectCode(() => create(2 ** 31), 'ERR_INVALID_ARGUMENT');
    expect(existsSync(join(dir.path, segmentFileName(0)))).toBe(false);
  });

  it('TransientStorePool.create refuses a fractional, zero or NaN pool size and bad buffer sizes', async () => {
    for (const poolSize of [1.5, 0, Number.NaN, 65]) {
      await expectCode(() => TransientStorePool.create({ native, poolSize, bufferSizeBytes: SEGMENT, lock: false }), 'ERR_INVALID_ARGUMENT');
    }
    for (const bufferSizeBytes of [1000, 2 ** 31, 0]) {
      await expectCode(() => TransientStorePool.create({ native, poolSize: 1, bufferSizeBytes, lock: false }), 'ERR_INVALID_ARGUMENT');
    }
  });

  it(`AllocateMappedFileService refuses a prepare past ${PREPARED_MAX} pending segments`, async () => {
    const service = new AllocateMappedFileService({ native, directory: dir.path, fileSizeBytes: 4096, strategyFactory: writeStrategyFactory({ mode: 'mapped' }), warm: false });
    try {
      for (let index = 0; index < PREPARED_MAX; index += 1) service.prepare(index * 4096);
      await expectCode(() => service.prepare(PREPARED_MAX * 4096), 'ERR_INVALID_ARGUMENT');
    } finally {
      await service.shutdown();
    }
  });
});
