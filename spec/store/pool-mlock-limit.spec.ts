/**
 * The TransientStorePool against the kernel's real RLIMIT_MEMLOCK, not a
 * fake: a child process opens a direct store under `prlimit --memlock` at
 * 8 MiB (and, when the suite runs as root, which mlock limits do not bind,
 * as `nobody`). Pool buffers are 4 MiB segments:
 * - one buffer fits the limit: the pool reports 'locked' and the kernel
 *   counts the 4 MiB locked (VmLck);
 * - three do not: the second or third mlock fails after the first
 *   succeeded. The pool reports 'refused', unlocks what it had locked
 *   (VmLck back to 0), and the store still takes and returns messages.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIST_ENTRY, ensureDist } from '../helpers/ensure-dist.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { isRoot, NOBODY, unprivileged } from '../helpers/unprivileged.js';

const MiB = 1024 * 1024;
const SEGMENT = 4 * MiB;
const MEMLOCK_LIMIT = 8 * MiB;
const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit', '/usr/sbin/prlimit'].find((path) => existsSync(path));
const unavailable = PRLIMIT === undefined ? 'no prlimit' : unprivileged.unavailable;

interface ChildReport {
  lockStatus: string;
  lockedKiB: number;
  bodies: string[];
}

const CHILD = `
  import { readFileSync } from 'node:fs';
  const { CommitLog } = await import(process.argv[1]);
  const options = JSON.parse(process.argv[2]);
  const log = await CommitLog.open(options);
  await log.whenWarm();
  const lockStatus = log.stats.poolLockStatus;
  const lockedKiB = Number(/VmLck:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
  const offsets = [];
  for (const text of ['one', 'two', 'three']) offsets.push((await log.append({ topic: 't', body: Buffer.from(text) })).physicalOffset);
  await log.flush();
  const bodies = offsets.map((offset) => log.read(offset).body.toString());
  await log.close();
  process.stdout.write(JSON.stringify({ lockStatus, lockedKiB, bodies }));
`;

describe.skipIf(unavailable !== undefined)(`pool mlock under a real RLIMIT_MEMLOCK of 8 MiB${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    ensureDist();
    dir = makeTmpDir('mc-mlock-');
    if (isRoot) chownSync(dir.path, NOBODY, NOBODY);
  });
  afterEach(() => dir.cleanup());

  function openInChild(poolSize: number): ChildReport {
    const options = {
      storePathCommitLog: join(dir.path, 'store'),
      writeMode: 'direct',
      flushDiskType: 'ASYNC_FLUSH',
      mappedFileSizeCommitLog: SEGMENT,
      transientStorePoolSize: poolSize,
      transientStorePoolLock: true,
      warmMapedFileEnable: false,
    };
    const output = execFileSync(
      PRLIMIT!,
      [`--memlock=${MEMLOCK_LIMIT}:${MEMLOCK_LIMIT}`, '--', process.execPath, '--input-type=module', '-e', CHILD, pathToFileURL(DIST_ENTRY).href, JSON.stringify(options)],
      { encoding: 'utf8', timeout: 60_000, ...unprivileged.options },
    );
    return JSON.parse(output) as ChildReport;
  }

  it('locks a pool that fits the limit', () => {
    const report = openInChild(1);
    expect(report.lockStatus).toBe('locked');
    expect(report.lockedKiB).toBeGreaterThanOrEqual(SEGMENT / 1024);
    expect(report.bodies).toEqual(['one', 'two', 'three']);
  });

  it('runs a pool the limit refuses part-way unlocked, with nothing left locked, and keeps every message', () => {
    const report = openInChild(3);
    expect(report.lockStatus).toBe('refused');
    expect(report.lockedKiB).toBe(0);
    expect(report.bodies).toEqual(['one', 'two', 'three']);
  });
});
