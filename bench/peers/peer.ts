/** What a peer store contributes to the run, and how an optional peer package is loaded. */
import type { PeerResult, Workload } from './workload.js';

export interface PeerMode {
  /** Row label, e.g. "sync, txn 64". */
  mode: string;
  /** Short table note: what makes the writes durable in this mode. */
  note: string;
  /** Writes, makes durable, reads back; `directory` is fresh and removed by the caller afterwards. */
  run(directory: string, workload: Workload): Promise<PeerResult>;
}

export interface PeerDefinition {
  peer: string;
  /** npm package to install for this peer; undefined for a peer built on node itself. */
  packageName?: string;
  /** Loads the package (throws PeerNotInstalled when it is absent) and returns the modes to run. */
  load(): Promise<PeerMode[]>;
}

export class PeerNotInstalled extends Error {
  constructor(readonly packageName: string) {
    super(`not installed: npm install --no-save ${packageName}`);
    this.name = 'PeerNotInstalled';
  }
}

/**
 * import() of an optional package. The specifier is a plain string variable,
 * so TypeScript does not try to resolve the package (it is not a dependency;
 * CI type-checks without it); callers cast the result to a small local
 * interface of the few calls they make.
 */
export async function importOptional(packageName: string): Promise<unknown> {
  const specifier: string = packageName;
  try {
    return await import(specifier);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : '';
    // Only the package itself missing counts as "not installed"; a missing dependency of it, or a
    // native binding that does not load, is a failure to report as such.
    if (code === 'ERR_MODULE_NOT_FOUND' && message.includes(`'${packageName}'`)) throw new PeerNotInstalled(packageName);
    throw error;
  }
}
