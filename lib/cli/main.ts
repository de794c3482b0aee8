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
// The error catalog straight from its module (it is what lib/index.ts
// re-exports): the read-only commands then never load the writer's layers.
import { isCommitLogError } from '../errors.js';
import { UsageError } from './args.js';
import type { CliCommand } from './command.js';
import { EXIT_ERROR, EXIT_OK } from './exit-codes.js';

interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  /** Loaded on use, so a command starts without loading the others. */
  load(): Promise<CliCommand>;
}

const COMMANDS: readonly CommandEntry[] = [
  { name: 'info', summary: 'segments, offsets, checkpoint, disk use and page-cache residency', load: async () => (await import('./info.js')).info },
  { name: 'verify', summary: 'full CRC scan; prints corrupt and torn ranges (exit 1 on corruption)', load: async () => (await import('./verify.js')).verify },
  { name: 'dump', summary: 'decoded messages (table, or NDJSON with base64 bodies)', load: async () => (await import('./dump.js')).dump },
  { name: 'tail', summary: 'follow new messages as another process appends (read-only)', load: async () => (await import('./tail.js')).tail },
  { name: 'append', summary: 'append stdin lines or files as messages (takes the store lock)', load: async () => (await import('./append.js')).append },
  { name: 'recover', summary: 'recover --dry-run: what recovery would cut and why (changes nothing)', load: async () => (await import('./recover.js')).recover },
  { name: 'bench', summary: 'run the benchmark harness (dist/bench/run.js), forwarding the arguments', load: async () => (await import('./bench.js')).bench },
];

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
    'Every command takes --help; all but bench take --json (bench forwards its arguments to the harness).',
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
    process.stdout.write(`${topic === undefined ? usage() : (await topic.load()).help}\n`);
    return EXIT_OK;
  }
  const entry = COMMANDS.find((candidate) => candidate.name === name);
  if (entry === undefined) {
    process.stderr.write(`mapped-commitlog: unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')}; see mapped-commitlog --help)\n`);
    return EXIT_ERROR;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (err) {
    const hint = err instanceof UsageError ? ` (see mapped-commitlog ${entry.name} --help)` : '';
    process.stderr.write(`mapped-commitlog ${entry.name}: ${describeError(err)}${hint}\n`);
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
