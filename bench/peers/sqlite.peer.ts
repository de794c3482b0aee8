/**
 * better-sqlite3: SQLite in WAL mode, one table (seq INTEGER PRIMARY KEY,
 * value BLOB), prepared INSERTs inside db.transaction() of N rows.
 * Everything is synchronous on the JS thread. SQLite defaults otherwise
 * (4 KiB pages, wal_autocheckpoint = 1000 pages, no mmap).
 *
 * - WAL, synchronous=NORMAL: a commit appends to the WAL without syncing it;
 *   the WAL is synced before each checkpoint and the database file after it.
 *   So the write phase ends with PRAGMA wal_checkpoint(FULL): sync the WAL,
 *   copy it into the database file, sync that.
 * - WAL, synchronous=FULL: every commit syncs the WAL, so each transaction is
 *   durable when db.transaction() returns; no final step.
 */
import { join } from 'node:path';
import { importOptional, type PeerDefinition, type PeerMode } from './peer.js';
import { RANDOM_READS, WRITE_DEADLINE_MS, since, type PeerResult } from './workload.js';

interface SqliteStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  iterate(...params: unknown[]): IterableIterator<unknown>;
  raw(toggle?: boolean): SqliteStatement;
  pluck(toggle?: boolean): SqliteStatement;
}
interface SqliteDatabase {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  prepare(source: string): SqliteStatement;
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  exec(source: string): unknown;
  close(): unknown;
}
type SqliteConstructor = new (filename: string, options?: Record<string, unknown>) => SqliteDatabase;

function mode(Database: SqliteConstructor, synchronous: 'NORMAL' | 'FULL', batch: number, label: string): PeerMode {
  const note = synchronous === 'FULL' ? `WAL fsync at every commit (txn of ${batch})` : 'WAL synced at checkpoints; ends with wal_checkpoint(FULL)';
  return {
    mode: label,
    note,
    async run(directory, workload): Promise<PeerResult> {
      const file = join(directory, 'peer.sqlite');
      let db = new Database(file);
      let written = 0;
      let writeSeconds: number;
      try {
        const journal = db.pragma('journal_mode = WAL', { simple: true });
        if (String(journal).toLowerCase() !== 'wal') throw new Error(`journal_mode is ${String(journal)}, not wal`);
        db.pragma(`synchronous = ${synchronous}`);
        const level = Number(db.pragma('synchronous', { simple: true }));
        if (level !== (synchronous === 'FULL' ? 2 : 1)) throw new Error(`synchronous is ${level} after setting ${synchronous}`);
        db.exec('CREATE TABLE log (seq INTEGER PRIMARY KEY, value BLOB NOT NULL)');
        const insert = db.prepare('INSERT INTO log (seq, value) VALUES (?, ?)');
        const insertMany = db.transaction((first: number, values: Buffer[]) => {
          for (let i = 0; i < values.length; i += 1) insert.run(first + i, values[i]);
        });
        const start = performance.now();
        while (written < workload.messages && performance.now() - start < WRITE_DEADLINE_MS) {
          const values = workload.values(written, Math.min(batch, workload.messages - written));
          insertMany(written, values);
          written += values.length;
        }
        if (synchronous === 'NORMAL') {
          const [checkpoint] = db.pragma('wal_checkpoint(FULL)') as Array<{ busy: number; log: number; checkpointed: number }>;
          if (!checkpoint || checkpoint.busy !== 0 || checkpoint.checkpointed !== checkpoint.log) throw new Error(`wal_checkpoint(FULL) incomplete: ${JSON.stringify(checkpoint)}`);
        }
        writeSeconds = since(start);
      } finally {
        db.close();
      }

      db = new Database(file);
      try {
        let start = performance.now();
        let expected = 0;
        for (const row of db.prepare('SELECT seq, value FROM log ORDER BY seq').raw().iterate()) {
          const [seq, value] = row as [number, Buffer];
          if (seq !== expected) throw new Error(`read-back: seq ${seq} where ${expected} was expected`);
          workload.check(value, expected);
          expected += 1;
        }
        if (expected !== written) throw new Error(`read-back: ${expected} rows, ${written} written`);
        const readSeconds = since(start);
        const select = db.prepare('SELECT value FROM log WHERE seq = ?').pluck();
        start = performance.now();
        let reads = 0;
        for (const seq of workload.randomSeqs(RANDOM_READS, written)) {
          workload.check(select.get(seq) as Buffer | undefined, seq);
          reads += 1;
        }
        const randomSeconds = since(start);
        return { peer: 'better-sqlite3', mode: label, durability: note, messageBytes: workload.messageBytes, messages: written, messagesRequested: workload.messages, writeSeconds, readSeconds, readMessages: expected, randomReads: reads, randomSeconds };
      } finally {
        db.close();
      }
    },
  };
}

export const sqlitePeer: PeerDefinition = {
  peer: 'better-sqlite3',
  packageName: 'better-sqlite3',
  async load() {
    const module = (await importOptional('better-sqlite3')) as { default?: unknown };
    const Database = module.default as SqliteConstructor;
    if (typeof Database !== 'function') throw new Error('better-sqlite3: no default export');
    // The native addon loads on first use: open one in-memory database now, so a binding that
    // does not load is reported once, as a load failure, rather than once per mode.
    new Database(':memory:').close();
    return [
      mode(Database, 'NORMAL', 256, 'WAL, synchronous=NORMAL, txn 256'),
      mode(Database, 'FULL', 256, 'WAL, synchronous=FULL, txn 256'),
      mode(Database, 'FULL', 64, 'WAL, synchronous=FULL, txn 64 (durable per batch)'),
    ];
  },
};
