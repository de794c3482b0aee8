/**
 * Running engine code as an unprivileged user from a suite run as root
 * (root bypasses file modes and mlock limits). The child runs as `nobody`,
 * so the package must be readable by it: a clone under /root (mode 0700)
 * is not, and the specs that need it say so and skip.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './ensure-dist.js';

/** The uid and gid of `nobody` on Linux. */
export const NOBODY = 65534;

export const isRoot = process.getuid?.() === 0;

/** Whether `nobody` can read the package (its package.json and node_modules). */
function nobodyReadsPackage(): boolean {
  const probe = `const fs = require('node:fs'); for (const p of process.argv.slice(1)) fs.accessSync(p, fs.constants.R_OK);`;
  try {
    execFileSync(process.execPath, ['-e', probe, join(REPO_ROOT, 'package.json'), join(REPO_ROOT, 'node_modules')], { uid: NOBODY, gid: NOBODY, stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Child processes get `unprivileged` (spread into execFile's options): as
 * root, uid and gid of nobody; otherwise nothing (the suite's own user).
 * `unavailable` says why a spec cannot run unprivileged here, if it cannot.
 */
export const unprivileged: { options: { uid?: number; gid?: number }; unavailable: string | undefined } = !isRoot
  ? { options: {}, unavailable: undefined }
  : nobodyReadsPackage()
    ? { options: { uid: NOBODY, gid: NOBODY }, unavailable: undefined }
    : { options: {}, unavailable: `running as root and nobody cannot read ${REPO_ROOT}` };
