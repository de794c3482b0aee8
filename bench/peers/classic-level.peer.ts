/**
 * classic-level: LevelDB (an LSM tree: a write-ahead log, a memtable, sorted
 * tables compacted in the background) behind the abstract-level API. Batches
 * run on the libuv thread pool; each is awaited before the next. LevelDB
 * defaults otherwise (4 MiB write buffer, Snappy on; the values are random,
 * so Snappy stores them as they are).
 *
 * - batch 256, sync: false: a batch is appended to LevelDB's log without a
 *   sync. classic-level has no separate sync/flush call, so the last batch
 *   is written with { sync: true }: LevelDB fsyncs the current log, which
 *   makes every batch in it durable. A log LevelDB switched away from is
 *   closed without a sync; its data becomes durable when its memtable is
 *   written to a sorted table (synced, then recorded in the synced
 *   MANIFEST). That may still be under way at the last batch, so the timed
 *   phase ends with db.close(), which waits for it.
 * - batch 64, sync: true: every batch fsyncs the log before its promise
 *   resolves, so every batch is durable when acknowledged.
 */
import { join } from 'node:path';
import { importOptional, type PeerDefinition, type PeerMode } from './peer.js';
import { RANDOM_READS, WRITE_DEADLINE_MS, key, seqOfKey, since, type PeerResult } from './workload.js';

interface LevelIterator {
  nextv(size: number): Promise<Array<[Uint8Array, Uint8Array]>>;
  close(): Promise<void>;
}
interface LevelDatabase {
  readonly status: string;
  open(): Promise<void>;
  close(): Promise<void>;
  batch(operations: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array }>, options?: { sync?: boolean }): Promise<void>;
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  getSync?: (key: Uint8Array) => Uint8Array | undefined;
  iterator(options?: Record<string, unknown>): LevelIterator;
}
type LevelConstructor = new (location: string, options?: Record<string, unknown>) => LevelDatabase;

function mode(ClassicLevel: LevelConstructor, syncEveryBatch: boolean, batch: number, label: string): PeerMode {
  const note = syncEveryBatch ? `every batch of ${batch} { sync: true }` : 'last batch { sync: true }, then close() (no sync call in the API)';
  return {
    mode: label,
    note,
    async run(directory, workload): Promise<PeerResult> {
      const location = join(directory, 'db');
      const encodings = { keyEncoding: 'buffer', valueEncoding: 'buffer' };
      let db = new ClassicLevel(location, encodings);
      await db.open();
      let written = 0;
      let writeSeconds: number;
      try {
        const start = performance.now();
        while (written < workload.messages) {
          const first = written;
          const values = workload.values(first, Math.min(batch, workload.messages - first));
          const last = first + values.length >= workload.messages || performance.now() - start >= WRITE_DEADLINE_MS;
          await db.batch(values.map((value, i) => ({ type: 'put' as const, key: key(first + i), value })), { sync: syncEveryBatch || last });
          written += values.length;
          if (last) break;
        }
        if (!syncEveryBatch) await db.close(); // waits for a memtable still being written to a table (see above)
        writeSeconds = since(start);
      } finally {
        if (db.status !== 'closed') await db.close();
      }

      db = new ClassicLevel(location, encodings);
      await db.open();
      try {
        let start = performance.now();
        let expected = 0;
        const iterator = db.iterator();
        try {
          for (let entries = await iterator.nextv(1000); entries.length > 0; entries = await iterator.nextv(1000)) {
            for (const [k, value] of entries) {
              if (seqOfKey(k) !== expected) throw new Error(`read-back: key ${seqOfKey(k)} where ${expected} was expected`);
              workload.check(value, expected);
              expected += 1;
            }
          }
        } finally {
          await iterator.close();
        }
        if (expected !== written) throw new Error(`read-back: ${expected} values, ${written} written`);
        const readSeconds = since(start);
        start = performance.now();
        let reads = 0;
        if (typeof db.getSync === 'function') {
          for (const seq of workload.randomSeqs(RANDOM_READS, written)) {
            workload.check(db.getSync(key(seq)), seq);
            reads += 1;
          }
        } else {
          for (const seq of workload.randomSeqs(RANDOM_READS, written)) {
            workload.check(await db.get(key(seq)), seq);
            reads += 1;
          }
        }
        const randomSeconds = since(start);
        return { peer: 'classic-level', mode: label, durability: note, messageBytes: workload.messageBytes, messages: written, messagesRequested: workload.messages, writeSeconds, readSeconds, readMessages: expected, randomReads: reads, randomSeconds };
      } finally {
        await db.close();
      }
    },
  };
}

export const classicLevelPeer: PeerDefinition = {
  peer: 'classic-level',
  packageName: 'classic-level',
  async load() {
    const module = (await importOptional('classic-level')) as { ClassicLevel?: unknown };
    const ClassicLevel = module.ClassicLevel as LevelConstructor;
    if (typeof ClassicLevel !== 'function') throw new Error('classic-level: no ClassicLevel export');
    return [
      mode(ClassicLevel, false, 256, 'batch 256, sync: false'),
      mode(ClassicLevel, true, 64, 'batch 64, sync: true (durable per batch)'),
    ];
  },
};
