/**
 * Soak bookkeeping (`npm run soak`, vitest.soak.config.ts).
 *
 * Each durability spec calls `recordSoakCounters()` when it finishes (pass or
 * fail): one JSON line appended to `<os.tmpdir()>/mc-soak-<run id>.jsonl`,
 * the run id coming from MC_SOAK_RUN_ID. Outside a soak run (no run id) it
 * does nothing. This file is also the soak's globalSetup: `setup` starts
 * the counter file, `teardown` prints the totals and fails the run when a
 * message was lost or a corrupt read returned.
 *
 * spec/crash/kill9.spec.ts does not call it; `soakReporter` reads its
 * summary lines instead (a failing kill9 run fails the soak by itself).
 */
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SoakCounters {
  /** Test cases / rounds run. */
  cases?: number;
  /** Real kill -9 crashes. */
  kills?: number;
  /** Simulated power cuts (fault twin). */
  powerCuts?: number;
  /** Appends acknowledged (PUT_OK) before a crash or failure. */
  acknowledged?: number;
  /** Acknowledged-durable messages missing afterwards: must be 0. */
  lost?: number;
  /** Reads or scans that returned a message differing from what was written: must be 0. */
  corruptReads?: number;
}

const KEYS = ['cases', 'kills', 'powerCuts', 'acknowledged', 'lost', 'corruptReads'] as const;

export function soakCounterFile(runId = process.env.MC_SOAK_RUN_ID): string | undefined {
  if (runId === undefined || runId === '') return undefined;
  if (!/^[\w.-]+$/.test(runId)) throw new RangeError(`MC_SOAK_RUN_ID must be a plain name, got ${runId}`);
  return join(tmpdir(), `mc-soak-${runId}.jsonl`);
}

/** Appends one spec's counters to the run's file; a no-op outside a soak run. */
export function recordSoakCounters(spec: string, counters: SoakCounters): void {
  const file = soakCounterFile();
  if (file === undefined) return;
  appendFileSync(file, `${JSON.stringify({ spec, at: new Date().toISOString(), ...counters })}\n`);
}

/**
 * A vitest reporter for the soak: spec/crash/kill9.spec.ts (another owner's)
 * prints one summary line per combination ("[kill9] ...: 20 kills, ...
 * 1234 acks ..."); this turns those lines into kill9 counters, so the totals
 * count real kills without that spec knowing about the soak.
 */
export const soakReporter = {
  onUserConsoleLog(log: { content: string }): void {
    for (const line of log.content.split('\n')) {
      const match = /^\[kill9\] .*?(\d+) kills\b.*?(\d+) acks\b/.exec(line.trim());
      if (match === null) continue;
      const kills = Number(match[1]);
      recordSoakCounters('kill9', { cases: kills, kills, acknowledged: Number(match[2]), lost: 0, corruptReads: 0 });
    }
  },
};

export function setup(): void {
  const file = soakCounterFile();
  if (file !== undefined) writeFileSync(file, '');
}

export function teardown(): void {
  const file = soakCounterFile();
  if (file === undefined || !existsSync(file)) return;
  const totals: Record<(typeof KEYS)[number], number> = { cases: 0, kills: 0, powerCuts: 0, acknowledged: 0, lost: 0, corruptReads: 0 };
  const bySpec = new Map<string, Record<string, number>>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const entry = JSON.parse(line) as { spec: string } & SoakCounters;
    const row = bySpec.get(entry.spec) ?? {};
    for (const key of KEYS) {
      const value = entry[key] ?? 0;
      totals[key] += value;
      row[key] = (row[key] ?? 0) + value;
    }
    bySpec.set(entry.spec, row);
  }
  const lines = ['', `soak totals (run ${process.env.MC_SOAK_RUN_ID}, counters in ${file})`];
  for (const [spec, row] of [...bySpec].sort()) {
    lines.push(`  ${spec.padEnd(28)} ${KEYS.filter((key) => row[key]).map((key) => `${key} ${row[key]}`).join(', ')}`);
  }
  if (!bySpec.has('kill9')) lines.push('  (spec/crash did not report counters: kills are not counted here)');
  lines.push(
    `  cases run ${totals.cases}, kills ${totals.kills}, power cuts ${totals.powerCuts}, messages acknowledged ${totals.acknowledged}, ` +
      `messages lost ${totals.lost}, corrupt reads ${totals.corruptReads}`,
  );
  console.log(lines.join('\n'));
  if (process.env.MC_SOAK_KEEP_COUNTERS === undefined) rmSync(file, { force: true });
  if (totals.lost > 0 || totals.corruptReads > 0) {
    throw new Error(`soak: ${totals.lost} messages lost, ${totals.corruptReads} corrupt reads (both must be 0)`);
  }
}
