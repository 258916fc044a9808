/**
 * Colour as the real binary (bin/backupctl.js) prints it: ✔ green, ✘ red and the verdict heading bold
 * on a terminal (a pseudo-terminal from `script`); plain text through a pipe, with NO_COLOR=1, and with
 * --json; colour through a pipe when FORCE_COLOR=1 asks for it.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { projectRoot } from '../../tools/local/environment.ts';

let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'backupctl-colour-'));
  await chmod(stateDir, 0o755);
});

afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** `backupctl <args>` on a pseudo-terminal or through a pipe; its stdout. */
async function backupctl(args: string[], how: 'terminal' | 'pipe', env: Record<string, string> = {}) {
  const program = [process.execPath, join(projectRoot, 'bin', 'backupctl.js'), ...args];
  const [command, ...argv] =
    how === 'terminal' ? ['script', '-qfec', program.join(' '), '/dev/null'] : program;
  const child = spawn(command as string, argv, {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TERM: 'xterm-256color',
      BACKUP_LOCAL_STATE_DIR: stateDir,
      BACKUP_SAMPLE_SCALE: '0.01',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise<number | null>((done) => child.once('close', (exit) => done(exit)));
  return { code, stdout };
}

/** The start of every colour escape sequence. */
const csi = '\u001b[';
const green = (text: string) => `\u001b[32m${text}\u001b[39m`;
const red = (text: string) => `\u001b[31m${text}\u001b[39m`;
const bold = (text: string) => `\u001b[1m${text}\u001b[22m`;

describe('backupctl colour', () => {
  it('colours ✔ and the verdict heading on a terminal', async () => {
    const { code, stdout } = await backupctl(['check', '--local'], 'terminal');

    expect(code).toBe(0);
    expect(stdout).toContain(`${green('✔')} production`);
    expect(stdout).toContain(bold(green('Every check passed.')));
  }, 180_000);

  it('colours a failing status heading red', async () => {
    // Before any backup: no verified backup within the RPO.
    const { code, stdout } = await backupctl(['status', '--local'], 'terminal');

    expect(code).toBe(1);
    const [heading] = stdout.split(/\r?\n/);
    expect(heading).toMatch(new RegExp(`^${bold(red('.+')).replaceAll('[', '\\[')}$`));
  }, 180_000);

  it.each([
    ['through a pipe', 'pipe', {}],
    ['with NO_COLOR=1 on a terminal', 'terminal', { NO_COLOR: '1' }],
  ] as const)(
    'prints no escape code %s',
    async (_case, how, env) => {
      const { code, stdout } = await backupctl(['check', '--local'], how, env);

      expect(code).toBe(0);
      expect(stdout).toMatch(/^✔ production/m);
      expect(stdout).toContain('\nEvery check passed.');
      expect(stdout).not.toContain(csi);
    },
    180_000,
  );

  it('prints no escape code with --json, even on a terminal', async () => {
    const { stdout } = await backupctl(['check', '--local', '--json'], 'terminal');

    expect(stdout).not.toContain(csi);
  }, 180_000);

  it('colours through a pipe when FORCE_COLOR=1 asks', async () => {
    const { stdout } = await backupctl(['check', '--local'], 'pipe', { FORCE_COLOR: '1' });

    expect(stdout).toContain(`${green('✔')} production`);
  }, 180_000);
});
