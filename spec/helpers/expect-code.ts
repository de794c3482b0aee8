import { expect } from 'vitest';
import { CommitLogError, type CommitLogErrorCode } from '../../lib/errors.js';

/** Asserts that `run` throws (or rejects with) a CommitLogError of the given code; returns it. */
export async function expectCode(run: () => unknown, code: CommitLogErrorCode): Promise<CommitLogError> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(CommitLogError);
  expect((caught as CommitLogError).code).toBe(code);
  return caught as CommitLogError;
}
