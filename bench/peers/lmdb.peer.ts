/**
 * lmdb (lmdb-js): a B+tree in one memory-mapped file, writes committed by a
 * writer thread in transactions that batch every put issued in one event turn.
 *
 * - async: the default configuration (overlappingSync on Linux: each
 *   transaction is committed, then flushed to disk in the background while
 *   the next one is built). Puts issued 256 per event turn through
 *   db.batch() (an array of put operations), nothing awaited until the end, then `await db.flushed`
 *   (resolves once the last commit is synced).
 * - sync, txn N: overlappingSync: false, the classic LMDB commit
 *   (mdb_txn_commit syncs the data pages, then the meta page). N puts per
 *   db.batch(), each awaited before the next: the promise resolves after the
 *   commit, its sync included, so every batch is durable when acknowledged.
 */
import { join } from 'node:path';
import { importOptional, type PeerDefinition, type PeerMode } from './peer.js';
import { RANDOM_READS, WRITE_DEADLINE_MS, key, nextTurn, seqOfKey, since, type PeerResult, type Workload } from './workload.js';

/** The few lmdb-js calls used here (the package is optional, so not type-checked against it). */
interface LmdbDatabase {
  batch(operations: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array }>): Promise<boolean>;
  get(key: Uint8Array): Uint8Array | undefined;
  getRange(options?: Record<string, unknown>): Iterable<{ key: Uint8Array; value: Uint8Array }>;
  readonly flushed: PromiseLike<boolean>;
  close(): Promise<void>;
}
interface LmdbModule {
  open(options: Record<string, unknown>): LmdbDatabase;
}

function options(directory: string, overlappingSync: boolean): Record<string, unknown> {
  return { path: join(directory, 'data.mdb'), encoding: 'binary', keyEncoding: 'binary', compression: false, overlappingSync };
}

/** The put operations of one db.batch() (the same async puts as db.put(), queued into one transaction). */
function puts(first: number, values: Buffer[]) {
  return values.map((value, i) => ({ type: 'put' as const, key: key(first + i), value }));
}

async function readBack(lmdb: LmdbModule, directory: string, overlappingSync: boolean, workload: Workload, written: number) {
  const db = lmdb.open(options(directory, overlappingSync));
  try {
    let start = performance.now();
    let expected = 0;
    for (const { key: k, value } of db.getRange()) {
      if (seqOfKey(k) !== expected) throw new Error(`read-back: key ${seqOfKey(k)} where ${expected} was expected`);
      workload.check(value, expected);
      expected += 1;
    }
    if (expected !== written) throw new Error(`read-back: ${expected} values, ${written} written`);
    const readSeconds = since(start);
    start = performance.now();
    let reads = 0;
    for (const seq of workload.randomSeqs(RANDOM_READS, written)) {
      workload.check(db.get(key(seq)), seq);
      reads += 1;
    }
    return { readSeconds, readMessages: expected, randomReads: reads, randomSeconds: since(start) };
  } finally {
    await db.close();
  }
}

function asyncMode(lmdb: LmdbModule): PeerMode {
  const note = 'default (overlappingSync): await db.flushed at the end';
  return {
    mode: 'async puts, 256 per turn',
    note,
    async run(directory, workload) {
      const db = lmdb.open(options(directory, true));
      let written = 0;
      let writeSeconds: number;
      try {
        let failure: unknown;
        const onFailure = (error: unknown) => {
          failure ??= error;
          return false;
        };
        const pending: Array<Promise<boolean>> = [];
        const start = performance.now();
        while (written < workload.messages && performance.now() - start < WRITE_DEADLINE_MS) {
          const first = written;
          const values = workload.values(first, Math.min(256, workload.messages - first));
          pending.push(db.batch(puts(first, values)).catch(onFailure));
          written += values.length;
          await nextTurn();
        }
        await Promise.all(pending);
        if (failure !== undefined) throw failure;
        await db.flushed;
        writeSeconds = since(start);
      } finally {
        await db.close();
      }
      return result('async puts, 256 per turn', note, workload, written, writeSeconds, await readBack(lmdb, directory, true, workload, written));
    },
  };
}

function syncMode(lmdb: LmdbModule, batch: number, label: string): PeerMode {
  const note = `overlappingSync: false; each txn of ${batch} durable when its promise resolves`;
  return {
    mode: label,
    note,
    async run(directory, workload) {
      const db = lmdb.open(options(directory, false));
      let written = 0;
      let writeSeconds: number;
      try {
        const start = performance.now();
        while (written < workload.messages && performance.now() - start < WRITE_DEADLINE_MS) {
          const first = written;
          const values = workload.values(first, Math.min(batch, workload.messages - first));
          await db.batch(puts(first, values));
          written += values.length;
        }
        writeSeconds = since(start);
      } finally {
        await db.close();
      }
      return result(label, note, workload, written, writeSeconds, await readBack(lmdb, directory, false, workload, written));
    },
  };
}

function result(mode: string, durability: string, workload: Workload, written: number, writeSeconds: number, reads: Awaited<ReturnType<typeof readBack>>): PeerResult {
  return { peer: 'lmdb', mode, durability, messageBytes: workload.messageBytes, messages: written, messagesRequested: workload.messages, writeSeconds, ...reads };
}

export const lmdbPeer: PeerDefinition = {
  peer: 'lmdb',
  packageName: 'lmdb',
  async load() {
    const lmdb = (await importOptional('lmdb')) as unknown as LmdbModule;
    if (typeof lmdb.open !== 'function') throw new Error('lmdb: no open() export');
    return [asyncMode(lmdb), syncMode(lmdb, 256, 'sync, txn 256'), syncMode(lmdb, 64, 'sync, txn 64 (durable per batch)')];
  },
};
