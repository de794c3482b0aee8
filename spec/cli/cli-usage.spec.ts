/** --help for every command, the command list, and usage errors (exit 2). */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist } from '../helpers/ensure-dist.js';
import { killChildren, runCli } from './cli-harness.js';

const COMMANDS = ['info', 'verify', 'dump', 'tail', 'append', 'recover', 'bench'] as const;

beforeAll(() => {
  ensureDist();
});
afterEach(() => killChildren());

describe('mapped-commitlog --help', () => {
  it.each(COMMANDS)('%s --help prints its usage and exits 0', async (command) => {
    const { code, stdout, stderr } = await runCli([command, '--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(new RegExp(`^usage: mapped-commitlog ${command}\\b`));
    expect(stdout).toContain('exit codes:');
  });

  it('-h is --help', async () => {
    const { code, stdout } = await runCli(['verify', '-h']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: mapped-commitlog verify\b/);
  });

  it('--help lists every command; `help dump` shows dump', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const command of COMMANDS) expect(top.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    const help = await runCli(['help', 'dump']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: mapped-commitlog dump/);
  });
});

describe('usage errors exit 2 with one line on stderr', () => {
  it('no command prints the usage on stderr', async () => {
    const { code, stdout, stderr } = await runCli([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^usage: mapped-commitlog <command>/);
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['dump'], /^mapped-commitlog dump: missing the store directory \(DIR\) \(see mapped-commitlog dump --help\)$/m],
    [['info', 'a', 'b'], /expected one store directory, got 2 arguments/],
    [['dump', '/tmp', '--bogus'], /^mapped-commitlog dump: Unknown option '--bogus'/],
    [['dump', '/tmp', '--limit', 'ten'], /--limit must be an integer >= 0, got 'ten'/],
    [['dump', '/tmp', '--from', '-1'], /'--from' argument is ambiguous/],
    [['dump', '/tmp', '--from=-1'], /--from must be an integer >= 0, got '-1'/],
    [['tail', '/tmp', '--poll-ms', '0'], /--poll-ms must be an integer in \[1, /],
    [['recover', '/tmp'], /only --dry-run is supported/],
    [['append', '/tmp/x', '--property', 'novalue'], /--property must be NAME=VALUE/],
  ])('%j', async (args, message) => {
    const { code, stdout, stderr } = await runCli(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });
});
