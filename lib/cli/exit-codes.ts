/**
 * The CLI's exit codes (docs/CLI.md lists them per command).
 *
 * | code | name         | meaning |
 * |------|--------------|---------|
 * | 0    | EXIT_OK      | done; nothing wrong found |
 * | 1    | EXIT_FOUND   | the command worked and found a problem: corrupt data (verify, dump, tail), recovery would cut or drop data (recover --dry-run), an append not confirmed durable in time (append) |
 * | 2    | EXIT_ERROR   | usage error, or the store could not be opened or read (missing directory, locked store, I/O error) |
 */
export const EXIT_OK = 0;
export const EXIT_FOUND = 1;
export const EXIT_ERROR = 2;

export type ExitCode = typeof EXIT_OK | typeof EXIT_FOUND | typeof EXIT_ERROR;
