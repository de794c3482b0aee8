/**
 * Peer stores, same workload, same run (`npm run bench -- --peers`): lmdb,
 * better-sqlite3, classic-level and a naive node:fs append log each write
 * `messages` values of `messageBytes` bytes under 8-byte big-endian sequence
 * keys, make them durable the way the mode says, then read every value back
 * in key order (after a close and a reopen) and 100k random keys, checking
 * the bytes. Durability per mode, and how to install the peers: README.md here.
 *
 * The three packages are optional and deliberately not dependencies (CI
 * installs from scratch): a peer that is not installed gives one row saying
 * how to install it; a peer or mode that fails gives a row with the error's
 * first line, and the other peers still run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from '../harness/table.js';
import { classicLevelPeer } from './classic-level.peer.js';
import { fsLogPeer } from './fs-log.peer.js';
import { lmdbPeer } from './lmdb.peer.js';
import { PeerNotInstalled, type PeerDefinition } from './peer.js';
import { sqlitePeer } from './sqlite.peer.js';
import { Workload, firstLine, type PeerResult } from './workload.js';

export type { PeerResult } from './workload.js';

export interface PeerParams {
  root: string;
  messageBytes: number;
  messages: number;
  /** Called before each peer mode runs (e.g. for a progress line). */
  onProgress?: (label: string) => void;
  /** Peers to run, by name (default: all of them). */
  only?: readonly string[];
}

/** A peer or mode that produced no figures: not installed, or failed. */
export interface PeerSkipped {
  peer: string;
  mode?: string;
  note: string;
}

export const PEERS: readonly PeerDefinition[] = [lmdbPeer, sqlitePeer, classicLevelPeer, fsLogPeer];

const rate = (count: number, seconds: number) => (seconds > 0 ? Math.round(count / seconds) : 0);
const megabytes = (bytesPerSecond: number) => (bytesPerSecond >= 10e6 ? Math.round(bytesPerSecond / 1e6) : Math.round(bytesPerSecond / 1e5) / 10);

function resultRow(r: PeerResult): Row {
  const partial = r.messages < r.messagesRequested ? `; write deadline: ${r.messages} of ${r.messagesRequested} written` : '';
  return {
    peer: r.peer,
    mode: r.mode,
    'write msg/s': rate(r.messages, r.writeSeconds),
    'write MB/s': megabytes((r.messages * r.messageBytes) / r.writeSeconds),
    'read msg/s': rate(r.readMessages, r.readSeconds),
    'random reads/s': rate(r.randomReads, r.randomSeconds),
    note: `${r.durability}${partial}`,
  };
}

function skippedRow(s: PeerSkipped): Row {
  return { peer: s.peer, mode: s.mode ?? '', 'write msg/s': '', 'write MB/s': '', 'read msg/s': '', 'random reads/s': '', note: s.note };
}

export async function runPeers(params: PeerParams): Promise<{ rows: Row[]; results: unknown[] }> {
  const workload = new Workload(params.messageBytes, params.messages);
  const rows: Row[] = [];
  const results: Array<PeerResult | PeerSkipped> = [];
  const skip = (skipped: PeerSkipped) => {
    rows.push(skippedRow(skipped));
    results.push(skipped);
  };

  // A native store's stray promise rejection must not end the whole bench (node's default for an
  // unhandled rejection): while the peers run, it is caught and charged to the mode that was running.
  let stray: unknown;
  const onStray = (reason: unknown) => {
    stray ??= reason;
  };
  process.on('unhandledRejection', onStray);
  try {
    for (const definition of PEERS) {
      if (params.only && !params.only.includes(definition.peer)) continue;
      let modes;
      try {
        modes = await definition.load();
      } catch (error) {
        skip({ peer: definition.peer, note: error instanceof PeerNotInstalled ? error.message : `failed to load: ${firstLine(error)}` });
        continue;
      }
      for (const mode of modes) {
        params.onProgress?.(`${definition.peer}: ${mode.mode}`);
        const directory = mkdtempSync(join(params.root, `peer-${definition.peer.replace(/[^a-z0-9]+/gi, '-')}-`));
        stray = undefined;
        try {
          const result = await mode.run(directory, workload);
          if (stray !== undefined) throw stray;
          rows.push(resultRow(result));
          results.push(result);
        } catch (error) {
          skip({ peer: definition.peer, mode: mode.mode, note: `failed: ${firstLine(error)}` });
        } finally {
          try {
            rmSync(directory, { recursive: true, force: true });
          } catch (error) {
            skip({ peer: definition.peer, mode: mode.mode, note: `could not remove ${directory}: ${firstLine(error)}` });
          }
        }
      }
    }
  } finally {
    process.off('unhandledRejection', onStray);
  }
  return { rows, results };
}
