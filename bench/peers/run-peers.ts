/** Peer stores, same workload, same run. Filled in by the peers benchmark; absent peers are skipped. */
import type { Row } from '../harness/table.js';

export interface PeerParams {
  root: string;
  messageBytes: number;
  messages: number;
}

export async function runPeers(_params: PeerParams): Promise<{ rows: Row[]; results: unknown[] }> {
  return { rows: [{ peer: '(none yet)', note: 'peer benchmarks are not written yet' }], results: [] };
}
