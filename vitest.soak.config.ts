/**
 * The soak: `npm run soak`. The durability specs and the kill -9 spec at
 * scale, with long timeouts; spec/durability/soak.ts prints the totals at
 * the end (cases, kills, power cuts, messages acknowledged, lost, corrupt
 * reads) and fails the run if a message was lost or a corrupt read returned.
 * Every count can be overridden from the environment, e.g.
 *
 *   MC_POWER_CUTS=200 MC_FUZZ_CASES=2000 MC_CRASH_ROUNDS=20 npm run soak
 */
import { randomBytes } from 'node:crypto';
import { defineConfig } from 'vitest/config';
import { soakReporter } from './spec/durability/soak.js';

const runId = process.env.MC_SOAK_RUN_ID ?? `${Date.now()}-${randomBytes(3).toString('hex')}`;
process.env.MC_SOAK_RUN_ID = runId; // for the global teardown, in this process

export default defineConfig({
  test: {
    include: ['spec/durability/*.spec.ts', 'spec/crash/*.spec.ts'],
    pool: 'forks',
    env: {
      MC_SOAK_RUN_ID: runId,
      MC_POWER_CUTS: process.env.MC_POWER_CUTS ?? '1000',
      MC_FUZZ_CASES: process.env.MC_FUZZ_CASES ?? '10000',
      // spec/crash/kill9.spec.ts gives each combination 300 s: about 100 rounds fit.
      MC_CRASH_ROUNDS: process.env.MC_CRASH_ROUNDS ?? '100',
    },
    testTimeout: 6 * 60 * 60 * 1000,
    hookTimeout: 10 * 60 * 1000,
    globalSetup: ['spec/durability/soak.ts'],
    reporters: ['default', soakReporter],
  },
});
