/**
 * Argument parsing shared by the commands: node:util parseArgs in strict
 * mode, plus checks that name the option and the value they refuse.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in the command line: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h', default: false },
  json: { type: 'boolean', default: false },
} as const satisfies Options;

/** parseArgs in strict mode, its TypeErrors turned into UsageErrors. */
export function parse<T extends Options>(
  args: readonly string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    if (err instanceof TypeError && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).code!.startsWith('ERR_PARSE_ARGS')) {
      // One line: Node's messages run over several, with advice about `--`.
      const message = err.message.split('\n').filter((part) => !/^To specify/.test(part.trim())).join(' ');
      throw new UsageError(message.replace(/\.\s*To specify a positional argument.*$/s, '').trim());
    }
    throw err;
  }
}

/** The one DIR positional a store command needs. */
export function storeDirectory(positionals: readonly string[]): string {
  if (positionals.length === 0) throw new UsageError('missing the store directory (DIR)');
  if (positionals.length > 1) throw new UsageError(`expected one store directory, got ${positionals.length} arguments: ${positionals.join(' ')}`);
  const directory = positionals[0]!;
  if (directory.length === 0) throw new UsageError('the store directory (DIR) is an empty string');
  return directory;
}

/** A non-negative safe integer option (an offset, a count, a size); undefined when absent. */
export function integerOption(name: string, text: string | undefined, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^[0-9]+$/.test(trimmed)) throw new UsageError(`--${name} must be an integer >= ${min}, got '${text}'`);
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`--${name} must be an integer in [${min}, ${Number.MAX_SAFE_INTEGER}], got '${text}'`);
  return value;
}
