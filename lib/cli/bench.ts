/**
 * `mapped-commitlog bench [ARGS...]`: runs the benchmark harness
 * (dist/bench/run.js, compiled from bench/run.ts) in a child Node process,
 * forwarding every argument and its exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CommitLogError } from '../errors.js';
import type { CliCommand } from './command.js';
import { EXIT_ERROR, EXIT_OK } from './exit-codes.js';
import { line } from './output.js';

const HELP = `usage: mapped-commitlog bench [HARNESS OPTIONS...]

Runs the benchmark harness (dist/bench/run.js; from a source checkout, after
npm run build), passing every argument to it unchanged. It measures the
machine's limits (memory copy, CRC-32, page-cache write, disk write,
fdatasync latency), then the engine, on a temporary store, and prints each
figure as a ratio to its limit. The harness's options (bench/run.ts is
authoritative; it refuses any other, --json included):
  --quick        under a minute: 256 MiB segments instead of 1 GiB, short runs
  --full         the long run (not with --quick): 8 GiB sustained appends, a
                 4 GiB store
  --dir PATH     measure on another disk (default: under the OS temp dir)
  --mode LIST    comma list of async-mapped, async-direct, sync-mapped,
                 sync-direct (no spaces), or all (default all)
  --size N,...   message body sizes in bytes (default 100,1024)
  --peers        also run the peer stores (lmdb, better-sqlite3,
                 classic-level, fs) when installed
  -h, --help     this help (pass "-- --help" for the harness's own)

exit codes: the harness's own (0 done), 128 + N when it dies of signal N;
            2 when the harness is not built`;

/** dist/lib/cli/bench.js → dist/bench/run.js */
const HARNESS_URL = new URL('../../bench/run.js', import.meta.url);

export const bench: CliCommand = {
  name: 'bench',
  help: HELP,
  async run(args): Promise<number> {
    if (args[0] === '--') {
      args = args.slice(1);
    } else if (args.includes('--help') || args.includes('-h')) {
      await line(HELP);
      return EXIT_OK;
    }
    const harness = fileURLToPath(HARNESS_URL);
    if (!existsSync(harness)) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `the benchmark harness is not built: ${harness} is missing (run npm run build in a source checkout)`, { path: harness });
    }
    const child = spawn(process.execPath, [harness, ...args], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    try {
      return await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        // Killed by a signal: 128 + its number, as a shell reports it.
        child.once('exit', (exitCode, signal) => resolve(signal === null ? (exitCode ?? EXIT_ERROR) : 128 + (constants.signals[signal] ?? 0)));
      });
    } finally {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
  },
};
