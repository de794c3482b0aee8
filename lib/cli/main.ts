#!/usr/bin/env node
/**
 * mapped-commitlog: look inside a store without writing code.
 *
 *   mapped-commitlog <command> [options]      (docs/CLI.md)
 *
 * Commands: info, verify, dump, tail and recover --dry-run are read-only
 * (lib/reader/store-reader.ts: no lock, no abort marker, nothing written)
 * and work beside a writer; append opens the store as its writer; bench
 * runs the benchmark harness.
 *
 * Errors print one line, `mapped-commitlog <command>: <CODE>: <message>`,
 * and exit 2 (exit-codes.ts).
 */
import { isCommitLogError } from '../index.js';
import { append } from './append.js';
import { UsageError } from './args.js';
import { bench } from './bench.js';
import type { CliCommand } from './command.js';
import { dump } from './dump.js';
import { EXIT_ERROR, EXIT_OK } from './exit-codes.js';
import { info } from './info.js';
import { recover } from './recover.js';
import { tail } from './tail.js';
import { verify } from './verify.js';

const COMMANDS: readonly CliCommand[] = [info, verify, dump, tail, append, recover, bench];

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    'usage: mapped-commitlog <command> [options]',
    '',
    'Look inside a mapped-commitlog store. Read-only commands (info, verify, dump,',
    'tail, recover --dry-run) take no lock and write nothing, so they work while',
    'another process has the store open.',
    '',
    'commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Every command takes --help and --json (bench forwards its options).',
    "Run 'mapped-commitlog <command> --help' for a command's options.",
    '',
    'exit codes: 0 ok, 1 a problem found (corruption, data recovery would cut),',
    '            2 usage error, or the store cannot be opened or read',
  ].join('\n');
}

/** The one line an error prints. */
function describeError(err: unknown): string {
  if (isCommitLogError(err)) return err.message; // already "CODE: message"
  if (err instanceof UsageError) return err.message;
  if (err instanceof Error) return `internal error: ${err.message}`;
  return `internal error: ${String(err)}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${usage()}\n`);
    return EXIT_ERROR;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0] === undefined ? undefined : COMMANDS.find((command) => command.name === rest[0]);
    process.stdout.write(`${topic?.help ?? usage()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) {
    process.stderr.write(`mapped-commitlog: unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')}; see mapped-commitlog --help)\n`);
    return EXIT_ERROR;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const hint = err instanceof UsageError ? ` (see mapped-commitlog ${command.name} --help)` : '';
    process.stderr.write(`mapped-commitlog ${command.name}: ${describeError(err)}${hint}\n`);
    if (process.env.MAPPED_COMMITLOG_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return EXIT_ERROR;
  }
}

// A reader that goes away (`dump ... | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT_OK);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mapped-commitlog: ${describeError(err)}\n`);
    process.exitCode = EXIT_ERROR;
  },
);
