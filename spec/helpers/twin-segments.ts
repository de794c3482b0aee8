/**
 * The fixture of the specs that run segments on the fault twin in either
 * write mode: a fresh directory and twin per test, and in direct mode a
 * pool of segment-sized buffers (unlocked), destroyed after each test.
 */
import { afterEach, beforeEach } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import type { WriteStrategyFactory } from '../../lib/strategy/write-strategy.js';
import { FaultNativeIO } from './fault-native-io.js';
import { seededRandomForTest } from './seeded-random.js';
import { makeTmpDir } from './tmp-dir.js';

export interface TwinSegments {
  readonly dir: ReturnType<typeof makeTmpDir>;
  readonly io: FaultNativeIO;
  strategyFactory(): WriteStrategyFactory;
}

/** Registers beforeEach/afterEach in the calling describe; read the fields inside tests. */
export function useTwinSegments(mode: WriteMode, segmentBytes: number, poolSize: number): TwinSegments {
  let dir: ReturnType<typeof makeTmpDir> | undefined;
  let io: FaultNativeIO | undefined;
  let pool: TransientStorePool | undefined;
  beforeEach(async () => {
    dir = makeTmpDir();
    io = new FaultNativeIO({ random: seededRandomForTest() });
    pool = mode === 'direct' ? await TransientStorePool.create({ native: io, poolSize, bufferSizeBytes: segmentBytes, lock: false }) : undefined;
  });
  afterEach(async () => {
    await pool?.destroy();
    dir?.cleanup();
  });
  return {
    get dir() {
      return dir!;
    },
    get io() {
      return io!;
    },
    strategyFactory: () => writeStrategyFactory({ mode, ...(pool ? { pool } : {}) }),
  };
}
