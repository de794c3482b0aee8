/** One sub-command: `mapped-commitlog <name> ...args` (its one-line summary is in main.ts's table). */
export interface CliCommand {
  readonly name: string;
  /** The full --help text. */
  readonly help: string;
  /** Runs with the arguments after the command name; resolves to the exit code (exit-codes.ts; bench passes the harness's through). Throws UsageError or CommitLogError. */
  run(args: readonly string[]): Promise<number>;
}
