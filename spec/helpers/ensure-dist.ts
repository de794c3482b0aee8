/**
 * Specs that run the engine in child processes (spec/crash) load the
 * compiled package from dist/, so dist/ must match lib/. `ensureDist()`
 * checks that every lib/**\/*.ts has its dist/lib/**\/*.js and that none
 * is older than its source; when one is missing or stale it runs
 * `npx tsc -p tsconfig.json` once, under a lock directory so specs in
 * parallel workers do not compile over each other.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where tsconfig.json is). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The compiled entry point the children import. */
export const DIST_ENTRY = join(REPO_ROOT, 'dist', 'lib', 'index.js');

const LOCK_DIR = join(REPO_ROOT, 'dist', '.ensure-dist.lock');
/** A lock older than this is left over from a killed run and is taken over. */
const LOCK_STALE_MS = 5 * 60_000;
const LOCK_POLL_MS = 100;
const LOCK_WAIT_MAX_MS = 5 * 60_000;
const TSC_TIMEOUT_MS = 5 * 60_000;

/** Source files under lib/ that tsc compiles (declaration files excluded). */
function libSources(directory = join(REPO_ROOT, 'lib')): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) out.push(...libSources(path));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The sources whose compiled .js is missing or older than them; empty when dist/ is fresh. */
export function staleDistFiles(): string[] {
  const stale: string[] = [];
  if (!existsSync(DIST_ENTRY)) return [relative(REPO_ROOT, DIST_ENTRY)];
  for (const source of libSources()) {
    const compiled = join(REPO_ROOT, 'dist', relative(REPO_ROOT, source)).replace(/\.ts$/, '.js');
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) stale.push(relative(REPO_ROOT, source));
  }
  return stale;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLock<T>(run: () => T): T {
  mkdirSync(dirname(LOCK_DIR), { recursive: true });
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (statSync(LOCK_DIR, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) {
        rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MAX_MS) throw new Error(`ensureDist: ${LOCK_DIR} held for over ${LOCK_WAIT_MAX_MS} ms`);
      sleepSync(LOCK_POLL_MS);
    }
  }
  try {
    return run();
  } finally {
    rmdirSync(LOCK_DIR);
  }
}

/**
 * Makes dist/ current, compiling once if needed. tsc may exit non-zero for
 * type errors elsewhere (bench/, a half-edited file) while still emitting;
 * that is accepted as long as dist/lib ends up fresh, otherwise this throws
 * with tsc's output.
 */
export function ensureDist(): { compiled: boolean } {
  if (staleDistFiles().length === 0) return { compiled: false };
  return withLock(() => {
    // Another worker may have compiled while this one waited.
    if (staleDistFiles().length === 0) return { compiled: false };
    let output = '';
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO_ROOT, stdio: 'pipe', timeout: TSC_TIMEOUT_MS, encoding: 'utf8' });
    } catch (err) {
      const failure = err as { stdout?: string; stderr?: string; message: string };
      output = `${failure.stdout ?? ''}${failure.stderr ?? ''}` || failure.message;
    }
    const stillStale = staleDistFiles();
    if (stillStale.length > 0) {
      throw new Error(`ensureDist: dist/ is still stale after tsc (${stillStale.slice(0, 5).join(', ')}${stillStale.length > 5 ? ', ...' : ''}):\n${output}`);
    }
    if (output !== '') console.warn(`ensureDist: tsc reported errors but dist/lib was emitted:\n${output.slice(0, 2000)}`);
    return { compiled: true };
  });
}
