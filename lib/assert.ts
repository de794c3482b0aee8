/**
 * Assertions are for bugs, errors are for the world: a failed assert means the
 * engine itself broke an invariant, so it throws a plain Error that no caller
 * should catch and carry on from. Disk full, EIO and corrupt bytes are
 * CommitLogErrors (lib/errors.ts), never assertions.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(`invariant broken: ${message}`);
}
