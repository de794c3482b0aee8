import { assert } from '../assert.js';
import { DirectWriteStrategy } from './direct-write-strategy.js';
import { MappedWriteStrategy } from './mapped-write-strategy.js';
import type { WriteStrategyFactory, WriteStrategyFactoryParams } from './write-strategy.js';

export type { SegmentIO, WriteStrategy, WriteStrategyFactory, WriteStrategyFactoryParams } from './write-strategy.js';
export { DirectWriteStrategy } from './direct-write-strategy.js';
export { MappedWriteStrategy } from './mapped-write-strategy.js';

/** The per-store choice of write mode, as a factory of per-segment strategies. */
export function writeStrategyFactory(params: WriteStrategyFactoryParams): WriteStrategyFactory {
  if (params.mode === 'mapped') return (segment) => new MappedWriteStrategy(segment);
  const pool = params.pool;
  assert(pool !== undefined, 'direct mode needs a TransientStorePool');
  return (segment) => new DirectWriteStrategy(segment, pool);
}
