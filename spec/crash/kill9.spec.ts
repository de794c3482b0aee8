/**
 * Real crashes: a child process (child-appender.mjs, running the compiled
 * engine from dist/) appends with several appends in flight and reports each
 * acknowledgement over IPC; the parent SIGKILLs it at a seeded random moment,
 * then reopens the store itself and checks what recovery kept.
 *
 * Every round of a combination reuses one directory, so each open recovers a
 * log that earlier recoveries already cut; in about one round in four the
 * parent does not reopen at all, so the next child recovers straight from
 * the previous crash and is killed on top of it.
 *
 * What must hold after every reopen:
 * - SYNC_FLUSH: every acknowledged message of every round so far is there,
 *   at its acknowledged physical and queue offset, with its exact body;
 * - both policies: a full verified scan completes (nothing corrupt is
 *   returned), every message scanned is intact, seqs increase along the log
 *   (append order is kept), each round's survivors are a gap-free run from
 *   the round's first seq, and each queue's offsets run 0, 1, 2, ... ;
 * - recovery.mode is 'abnormal' (the child never closed) and recovery
 *   reports no dropped bytes (a SIGKILL loses no durable data).
 *
 * The seed (printed at the start; MC_SEED replays it) fixes the kill
 * schedule and the child's batch choices, not the OS scheduling, so a replay
 * kills at the same moments but not always after the same bytes.
 * MC_CRASH_ROUNDS overrides the round count of every combination.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN, type FlushDiskType, type WriteMode } from '../../lib/config.js';
import type { CorruptionReport } from '../../lib/recovery/recover.js';
import { ensureDist } from '../helpers/ensure-dist.js';
import { formatSeed, reportSeedOnFailure, SeededRandom, seedFromEnv } from '../helpers/seeded-random.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { CRASH_QUEUE_COUNT, CRASH_TOPIC, crashBody, crashQueueId, SEQ_ROUND_STRIDE } from './crash-body.mjs';

const CHILD_SCRIPT = fileURLToPath(new URL('./child-appender.mjs', import.meta.url));

/** Same sizes as the child: small segments so every round rolls. */
const SEGMENT_SIZE_BYTES = 64 * 1024;
const MESSAGE_SIZE_MAX_BYTES = 16 * 1024;
const IN_FLIGHT = 8;

const ROUNDS_SYNC_DEFAULT = 20;
const ROUNDS_ASYNC_DEFAULT = 10;
const KILL_DELAY_MIN_MS = 20;
const KILL_DELAY_MAX_MS = 300;
const KILL_ACKS_MIN = 1;
const KILL_ACKS_MAX = 400;
/** Probability that the parent skips its reopen after a round (never after the last). */
const SKIP_VERIFY_CHANCE = 0.25;
/** A child that opens and acknowledges nothing for this long is broken. */
const FIRST_ACK_WAIT_MAX_MS = 20_000;
/** Upper bound of one round, child start to verified reopen. */
const ROUND_TIME_MAX_MS = 30_000;

function roundsFromEnv(fallback: number): number {
  const text = process.env.MC_CRASH_ROUNDS;
  if (text === undefined || text.trim() === '') return fallback;
  const rounds = Number(text);
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError(`MC_CRASH_ROUNDS must be an integer >= 1, got ${text}`);
  return rounds;
}

interface Combination {
  flushDiskType: FlushDiskType;
  writeMode: WriteMode;
  rounds: number;
}

const COMBINATIONS: readonly Combination[] = [
  { flushDiskType: 'SYNC_FLUSH', writeMode: 'mapped', rounds: roundsFromEnv(ROUNDS_SYNC_DEFAULT) },
  { flushDiskType: 'SYNC_FLUSH', writeMode: 'direct', rounds: roundsFromEnv(ROUNDS_SYNC_DEFAULT) },
  { flushDiskType: 'ASYNC_FLUSH', writeMode: 'mapped', rounds: roundsFromEnv(ROUNDS_ASYNC_DEFAULT) },
  { flushDiskType: 'ASYNC_FLUSH', writeMode: 'direct', rounds: roundsFromEnv(ROUNDS_ASYNC_DEFAULT) },
];

const SEED = seedFromEnv();

/** Each combination draws from its own stream, all derived from SEED. */
function combinationSeed(index: number): number {
  return (SEED + Math.imul(index + 1, 0x9e37_79b9)) >>> 0;
}

interface Ack {
  seq: number;
  physicalOffset: number;
  queueOffset: number;
}

interface ChildRecovery {
  mode: 'normal' | 'abnormal';
  endOffset: number;
  messagesScanned: number;
  corruptions: CorruptionReport[];
}

type KillPlan = { kind: 'delay'; ms: number } | { kind: 'acks'; count: number };

interface RoundOutcome {
  acks: Ack[];
  timeouts: number;
  childRecovery: ChildRecovery | undefined;
  childError: string | undefined;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  killedByUs: boolean;
  stderr: string;
  durationMs: number;
}

const liveChildren = new Set<ChildProcess>();
const tmpDirs: Array<{ path: string; cleanup(): void }> = [];

async function killAllChildren(): Promise<void> {
  const exits = [...liveChildren].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(exits);
  liveChildren.clear();
}

/** Forks the child, kills it per `plan`, resolves once it is gone and every IPC message it sent was read. */
function runChildUntilKilled(config: { dir: string; flushDiskType: FlushDiskType; writeMode: WriteMode; firstSeq: number; seed: number }, plan: KillPlan): Promise<RoundOutcome> {
  const started = Date.now();
  const child = fork(CHILD_SCRIPT, [JSON.stringify({ ...config, inFlight: IN_FLIGHT })], {
    execArgv: [], // not vitest's loaders: the child is plain node on dist/
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  liveChildren.add(child);
  const outcome: RoundOutcome = {
    acks: [],
    timeouts: 0,
    childRecovery: undefined,
    childError: undefined,
    exitCode: null,
    signal: null,
    killedByUs: false,
    stderr: '',
    durationMs: 0,
  };
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (outcome.stderr.length < 20_000) outcome.stderr += chunk;
  });
  child.stdout!.resume();
  const kill = () => {
    if (outcome.killedByUs) return;
    outcome.killedByUs = true;
    child.kill('SIGKILL');
  };
  const noAckTimer = setTimeout(kill, FIRST_ACK_WAIT_MAX_MS);
  let delayTimer: NodeJS.Timeout | undefined;
  child.on('message', (message: { type: string } & Record<string, unknown>) => {
    switch (message.type) {
      case 'open':
        outcome.childRecovery = message.recovery as ChildRecovery;
        break;
      case 'ack': {
        outcome.acks.push({ seq: message.seq as number, physicalOffset: message.physicalOffset as number, queueOffset: message.queueOffset as number });
        if (outcome.acks.length === 1) {
          clearTimeout(noAckTimer);
          if (plan.kind === 'delay') delayTimer = setTimeout(kill, plan.ms);
        }
        if (plan.kind === 'acks' && outcome.acks.length >= plan.count) kill();
        break;
      }
      case 'timeout':
        outcome.timeouts += 1;
        break;
      case 'error':
        outcome.childError = `${String(message.code ?? '')} ${String(message.message)}\n${String(message.stack ?? '')}`;
        break;
      default:
        outcome.childError = `unexpected message from the child: ${JSON.stringify(message)}`;
    }
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close' comes after 'exit', once stdio and the IPC channel are drained.
    child.once('close', (code, signal) => {
      clearTimeout(noAckTimer);
      clearTimeout(delayTimer);
      liveChildren.delete(child);
      outcome.exitCode = code;
      outcome.signal = signal;
      outcome.durationMs = Date.now() - started;
      resolve(outcome);
    });
  });
}

/** What the parent's reopen found, for the summary. */
interface VerifyResult {
  messagesScanned: number;
  ackedChecked: number;
  asyncAckedMissing: number;
  endOffset: number;
}

/**
 * What is wrong with a scanned message, given what came before it; undefined
 * when it is intact and in order. Plain checks (no expect) in the hot loop.
 */
function checkScanned(
  message: { physicalOffset: number; topic: string; queueId: number; queueOffset: number; body: Buffer; properties: Record<string, string> },
  previousSeq: number,
  previousOffset: number,
  nextQueueOffset: readonly number[],
): string | undefined {
  if (message.physicalOffset <= previousOffset) return `offset does not increase (previous ${previousOffset})`;
  if (message.topic !== CRASH_TOPIC) return `topic ${JSON.stringify(message.topic)}`;
  const seqText = message.properties.seq;
  if (seqText === undefined || !/^\d+$/.test(seqText)) return `properties.seq is ${JSON.stringify(seqText)}`;
  const seq = Number(seqText);
  const expectedBody = crashBody(seq);
  if (!message.body.equals(expectedBody)) {
    return `body of seq ${seq} is not intact (${message.body.length} bytes, expected ${expectedBody.length}; first bytes ${message.body.subarray(0, 16).toString('hex')})`;
  }
  if (message.queueId !== crashQueueId(seq)) return `seq ${seq} is in queue ${message.queueId}, expected ${crashQueueId(seq)}`;
  // Order: seqs grow along the log; a round's survivors are a gap-free run from its first seq.
  if (seq <= previousSeq) return `seq ${seq} after seq ${previousSeq}: order broken or duplicate`;
  const roundBase = Math.floor(seq / SEQ_ROUND_STRIDE) * SEQ_ROUND_STRIDE;
  const sameRound = previousSeq >= 0 && Math.floor(previousSeq / SEQ_ROUND_STRIDE) * SEQ_ROUND_STRIDE === roundBase;
  const expectedSeq = sameRound ? previousSeq + 1 : roundBase;
  if (seq !== expectedSeq) return `seq ${seq} where seq ${expectedSeq} was expected (gap after seq ${previousSeq})`;
  const expectedQueueOffset = nextQueueOffset[message.queueId];
  if (message.queueOffset !== expectedQueueOffset) return `queue ${message.queueId} offset ${message.queueOffset}, expected ${expectedQueueOffset} (offsets run 0, 1, 2, ...)`;
  return undefined;
}

async function verifyStore(params: {
  combination: Combination;
  dir: string;
  acks: ReadonlyMap<number, Ack>;
  newAcks: readonly Ack[];
  context: string;
}): Promise<VerifyResult> {
  const { combination, dir, acks, newAcks, context } = params;
  const corruptions: CorruptionReport[] = [];
  const log = await CommitLog.open({
    ...TEST_MIN,
    storePathCommitLog: dir,
    flushDiskType: combination.flushDiskType,
    writeMode: combination.writeMode,
    mappedFileSizeCommitLog: SEGMENT_SIZE_BYTES,
    maxMessageSize: MESSAGE_SIZE_MAX_BYTES,
    onCorruption: (report) => corruptions.push(report),
  });
  try {
    expect(log.recovery.mode, `${context}: the child never closed, so recovery must be abnormal`).toBe('abnormal');
    const dropping = corruptions.filter((report) => report.bytesDropped > 0);
    expect(dropping, `${context}: recovery dropped durable bytes after a SIGKILL: ${JSON.stringify(corruptions)}`).toEqual([]);

    // One verified scan over the whole log.
    const scanned = new Map<number, { physicalOffset: number; queueOffset: number }>();
    const nextQueueOffset = new Array<number>(CRASH_QUEUE_COUNT).fill(0);
    let previousSeq = -1;
    let previousOffset = -1;
    try {
      for await (const message of log.scan({ verify: true })) {
        const problem = checkScanned(message, previousSeq, previousOffset, nextQueueOffset);
        if (problem !== undefined) expect.fail(`${context}: message at offset ${message.physicalOffset}: ${problem}`);
        const seq = Number(message.properties.seq);
        previousSeq = seq;
        previousOffset = message.physicalOffset;
        nextQueueOffset[message.queueId] = message.queueOffset + 1;
        scanned.set(seq, { physicalOffset: message.physicalOffset, queueOffset: message.queueOffset });
      }
    } catch (err) {
      if (err instanceof Error && err.name === 'AssertionError') throw err;
      expect.fail(`${context}: scan({ verify: true }) threw after ${scanned.size} messages (last seq ${previousSeq}, offset ${previousOffset}): ${String(err)}`);
    }

    let ackedChecked = 0;
    let asyncAckedMissing = 0;
    if (combination.flushDiskType === 'SYNC_FLUSH') {
      // Every acknowledgement so far, against the scan.
      for (const ack of acks.values()) {
        const found = scanned.get(ack.seq);
        if (found === undefined) expect.fail(`${context}: acknowledged seq ${ack.seq} (offset ${ack.physicalOffset}, queue offset ${ack.queueOffset}) is missing after recovery (log end ${log.recovery.endOffset})`);
        if (found.physicalOffset !== ack.physicalOffset || found.queueOffset !== ack.queueOffset) {
          expect.fail(`${context}: acknowledged seq ${ack.seq} was at offset ${ack.physicalOffset} / queue offset ${ack.queueOffset}, found at ${found.physicalOffset} / ${found.queueOffset}`);
        }
        ackedChecked += 1;
      }
      // The acknowledgements since the last reopen, one read() each.
      for (const ack of newAcks) {
        let message;
        try {
          message = log.read(ack.physicalOffset);
        } catch (err) {
          expect.fail(`${context}: read(${ack.physicalOffset}) of acknowledged seq ${ack.seq} threw: ${String(err)}`);
        }
        if (message.properties.seq !== String(ack.seq) || !message.body.equals(crashBody(ack.seq)) || message.queueOffset !== ack.queueOffset) {
          expect.fail(
            `${context}: read(${ack.physicalOffset}) of acknowledged seq ${ack.seq} returned seq ${message.properties.seq}, ` +
              `queue offset ${message.queueOffset} (expected ${ack.queueOffset}), body ${message.body.equals(crashBody(ack.seq)) ? 'intact' : 'different'}`,
          );
        }
      }
    } else {
      // ASYNC_FLUSH promises nothing durable; a SIGKILL keeps the page cache, so count (not assert) losses.
      for (const ack of acks.values()) if (!scanned.has(ack.seq)) asyncAckedMissing += 1;
    }
    return { messagesScanned: scanned.size, ackedChecked, asyncAckedMissing, endOffset: log.recovery.endOffset };
  } finally {
    await log.close();
  }
}

beforeAll(() => {
  console.log(`[kill9] seed ${formatSeed(SEED)} (replay: MC_SEED=${formatSeed(SEED)} npx vitest run spec/crash)`);
  const { compiled } = ensureDist();
  if (compiled) console.log('[kill9] dist/ was stale: compiled with tsc');
}, 300_000);

afterEach(async () => {
  await killAllChildren();
  for (const dir of tmpDirs.splice(0)) dir.cleanup();
});

afterAll(async () => {
  await killAllChildren();
  for (const dir of tmpDirs.splice(0)) dir.cleanup();
});

describe('kill -9 during appends', () => {
  COMBINATIONS.forEach((combination, index) => {
    const { flushDiskType, writeMode, rounds } = combination;
    const promise =
      flushDiskType === 'SYNC_FLUSH'
        ? 'every acknowledged message survives intact, in order, and nothing corrupt is returned'
        : 'nothing corrupt is returned and order is kept';
    it(`${flushDiskType} / ${writeMode}: ${rounds} rounds of kill -9, ${promise}`, async () => {
      reportSeedOnFailure(SEED);
      const seed = combinationSeed(index);
      const random = new SeededRandom(seed);
      const dir = makeTmpDir(`mc-kill9-${flushDiskType}-${writeMode}-`);
      tmpDirs.push(dir);
      const acks = new Map<number, Ack>();
      let newAcks: Ack[] = [];
      let previousRoundVerified = true;
      let firstRound = true;
      const totals = { kills: 0, acks: 0, timeouts: 0, reopens: 0, ackedChecked: 0, asyncAckedMissing: 0, messages: 0, endOffset: 0 };
      const started = Date.now();

      for (let round = 0; round < rounds; round += 1) {
        const plan: KillPlan = random.chance(0.5)
          ? { kind: 'delay', ms: random.nextIntBetween(KILL_DELAY_MIN_MS, KILL_DELAY_MAX_MS) }
          : { kind: 'acks', count: random.nextIntBetween(KILL_ACKS_MIN, KILL_ACKS_MAX) };
        const verify = round === rounds - 1 || !random.chance(SKIP_VERIFY_CHANCE);
        const childSeed = random.nextUint32();
        const context = `seed=${formatSeed(SEED)} ${flushDiskType}/${writeMode} round ${round} (kill ${plan.kind === 'delay' ? `${plan.ms} ms after the first ack` : `at ack ${plan.count}`})`;

        const outcome = await runChildUntilKilled({ dir: dir.path, flushDiskType, writeMode, firstSeq: (round + 1) * SEQ_ROUND_STRIDE, seed: childSeed }, plan);
        const childLine = `${context}: child exit ${outcome.exitCode} signal ${outcome.signal}, ${outcome.acks.length} acks${outcome.childError ? `, error: ${outcome.childError}` : ''}${outcome.stderr ? `\nstderr:\n${outcome.stderr}` : ''}`;
        expect(outcome.childError, childLine).toBeUndefined();
        expect(outcome.signal, childLine).toBe('SIGKILL');
        expect(outcome.acks.length, `${childLine}: no acknowledgement within ${FIRST_ACK_WAIT_MAX_MS} ms`).toBeGreaterThan(0);
        expect(outcome.durationMs, `${childLine}: the round took too long`).toBeLessThan(ROUND_TIME_MAX_MS);
        // The child's own recovery: clean after the parent's close, abnormal straight after a crash.
        expect(outcome.childRecovery, childLine).toBeDefined();
        const expectedChildMode = firstRound || previousRoundVerified ? 'normal' : 'abnormal';
        expect(outcome.childRecovery!.mode, `${childLine}: the child's recovery mode`).toBe(expectedChildMode);
        expect(outcome.childRecovery!.corruptions.filter((report) => report.bytesDropped > 0), `${childLine}: the child's recovery dropped durable bytes`).toEqual([]);
        firstRound = false;

        totals.kills += 1;
        totals.acks += outcome.acks.length;
        totals.timeouts += outcome.timeouts;
        for (const ack of outcome.acks) {
          expect(acks.has(ack.seq), `${context}: seq ${ack.seq} acknowledged twice`).toBe(false);
          acks.set(ack.seq, ack);
        }
        newAcks.push(...outcome.acks);

        previousRoundVerified = verify;
        if (!verify) continue;
        const verified = await verifyStore({ combination, dir: dir.path, acks, newAcks, context });
        newAcks = [];
        totals.reopens += 1;
        totals.ackedChecked = verified.ackedChecked;
        totals.asyncAckedMissing = verified.asyncAckedMissing;
        totals.messages = verified.messagesScanned;
        totals.endOffset = verified.endOffset;
      }

      console.log(
        `[kill9] ${flushDiskType}/${writeMode} seed ${formatSeed(seed)}: ${totals.kills} kills, ${totals.reopens} parent reopens, ` +
          `${totals.acks} acks (${totals.timeouts} FLUSH_DISK_TIMEOUT), ` +
          (flushDiskType === 'SYNC_FLUSH'
            ? `${totals.ackedChecked} acknowledged messages verified`
            : `${totals.asyncAckedMissing} acknowledged messages absent (allowed under ASYNC_FLUSH)`) +
          `, ${totals.messages} messages in the log (${totals.endOffset} bytes), ${Date.now() - started} ms`,
      );
    }, 300_000);
  });
});
