/**
 * A small seeded PRNG for specs (mulberry32: 32 bits of state, one multiply
 * chain per draw; good enough to pick pages and byte counts, not crypto).
 *
 * Every spec that draws from it prints its seed when it fails, so a failing
 * run can be replayed exactly:
 *
 *     MC_SEED=0x1234abcd npx vitest run spec/faults
 *
 * Use `seededRandomForTest()` inside a test: it reads MC_SEED (or makes a
 * fresh seed), builds the generator and registers the failure hook.
 */
import { randomInt } from 'node:crypto';
import { onTestFailed } from 'vitest';

/** Seeds are unsigned 32-bit integers. */
const SEED_MAX = 0xffff_ffff;
/** Rejection sampling in nextInt gives up after this many draws (a bug, never chance: p < 2^-64). */
const REJECTION_ROUNDS_MAX = 64;

export class SeededRandom {
  readonly seed: number;
  private state: number;

  constructor(seed: number) {
    assertSeed(seed);
    this.seed = seed;
    this.state = seed;
  }

  /** Uniform in [0, 2^32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b_79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, maxExclusive), without modulo bias. */
  nextInt(maxExclusive: number): number {
    if (!Number.isSafeInteger(maxExclusive) || maxExclusive <= 0 || maxExclusive > 2 ** 32) {
      throw new RangeError(`nextInt: maxExclusive must be an integer in [1, 2^32], got ${maxExclusive}`);
    }
    // Draws at or above `limit` would favour small results; redraw them.
    const limit = 2 ** 32 - (2 ** 32 % maxExclusive);
    for (let round = 0; round < REJECTION_ROUNDS_MAX; round += 1) {
      const draw = this.nextUint32();
      if (draw < limit) return draw % maxExclusive;
    }
    throw new Error(`nextInt(${maxExclusive}): ${REJECTION_ROUNDS_MAX} rejections in a row; the generator is broken`);
  }

  /** Uniform integer in [min, max] (both inclusive). */
  nextIntBetween(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) {
      throw new RangeError(`nextIntBetween: need integers min ≤ max, got ${min}, ${max}`);
    }
    return min + this.nextInt(max - min + 1);
  }

  /** Uniform in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** True with the given probability (0 never, 1 always). */
  chance(probability: number): boolean {
    if (!(probability >= 0 && probability <= 1)) {
      throw new RangeError(`chance: probability must be in [0, 1], got ${probability}`);
    }
    // One draw whatever the probability, so changing an option's value does not shift later draws.
    return this.nextFloat() < probability;
  }

  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick: the array is empty');
    return items[this.nextInt(items.length)]!;
  }

  /** `length` random bytes. */
  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let index = 0; index < length; index += 4) {
      const draw = this.nextUint32();
      for (let byte = 0; byte < 4 && index + byte < length; byte += 1) out[index + byte] = (draw >>> (byte * 8)) & 0xff;
    }
    return out;
  }
}

function assertSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > SEED_MAX) {
    throw new RangeError(`seed must be an integer in [0, 0x${SEED_MAX.toString(16)}], got ${seed}`);
  }
}

/** Parses a seed written in decimal or as 0x-prefixed hex. */
export function parseSeed(text: string): number {
  const trimmed = text.trim();
  const seed = /^0x[0-9a-f]+$/i.test(trimmed) ? Number.parseInt(trimmed.slice(2), 16) : /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  assertSeed(seed);
  return seed;
}

/** Formats a seed the way MC_SEED accepts it. */
export function formatSeed(seed: number): string {
  return `0x${seed.toString(16).padStart(8, '0')}`;
}

/**
 * The seed to use: MC_SEED when set (decimal or 0x hex), else `defaultSeed`
 * when given, else a fresh random one.
 */
export function seedFromEnv(defaultSeed?: number): number {
  const fromEnv = process.env.MC_SEED;
  if (fromEnv !== undefined && fromEnv.trim() !== '') return parseSeed(fromEnv);
  if (defaultSeed !== undefined) {
    assertSeed(defaultSeed);
    return defaultSeed;
  }
  return randomInt(0, SEED_MAX); // [0, 2^32 - 1)
}

/**
 * Registers a hook on the running test: when it fails, the seed is appended
 * to every error message and printed to stderr. Call inside a test.
 */
export function reportSeedOnFailure(seed: number): void {
  const line = `reproduce with MC_SEED=${formatSeed(seed)}`;
  onTestFailed(({ task }) => {
    for (const error of task.result?.errors ?? []) {
      if (typeof error.message === 'string' && !error.message.includes(line)) error.message += `\n${line}`;
    }
    console.error(`[${task.name}] ${line}`);
  });
}

/** A generator seeded from MC_SEED (or `defaultSeed`, or at random), whose seed is reported if the test fails. */
export function seededRandomForTest(defaultSeed?: number): SeededRandom {
  const seed = seedFromEnv(defaultSeed);
  reportSeedOnFailure(seed);
  return new SeededRandom(seed);
}
