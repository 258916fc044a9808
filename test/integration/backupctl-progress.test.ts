/**
 * What an operator sees in a terminal while a local backup runs, through the real binary
 * (bin/backupctl.js) on a pseudo-terminal (`script`): a first line before any state starts (not 3-8 s
 * of silence while the local servers start), the dump's percent and time left against the database's
 * size or the last dump's, and percents that only grow and never pass 100 (a restore's "finishing").
 * Nothing here is timed: the order of events and the figures printed are what is checked.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { projectRoot } from '../../tools/local/environment.ts';

let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'backupctl-progress-'));
  await chmod(stateDir, 0o755);
});

afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** `backupctl <args>` on a pseudo-terminal; what it drew, and when its first byte arrived. */
async function onTerminal(args: string[]) {
  // Quoted for the shell `script` runs it with: `--reason 'progress test'` is one argument.
  const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, join(projectRoot, 'bin', 'backupctl.js'), ...args].map(quote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TERM: 'xterm',
      BACKUP_LOCAL_STATE_DIR: stateDir,
      BACKUP_SAMPLE_SCALE: '0.2',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let screen = '';
  let firstOutputAt: number | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    firstOutputAt ??= Date.now();
    screen += chunk.toString();
  });
  const code = await new Promise<number | null>((done) => child.once('close', (exit) => done(exit)));
  // Each redraw of the progress line starts with a carriage return and an erase-line.
  const lines = screen
    .replaceAll('\u001b[K', '')
    .split(/\r\n|\r|\n/)
    .filter((line) => line.trim() !== '');
  return { code, lines, firstOutputAt };
}

const units: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const bytes = (value: string, unit: string) => Number(value) * (units[unit] ?? Number.NaN);

/** Each progress line of a phase: bytes, the total it was drawn against, percent, and its text. */
function progressOf(lines: string[], label: string) {
  const pattern = new RegExp(`^${label} ([\\d.]+) (\\w+) of (?:about )?([\\d.]+) (\\w+) \\((\\d+)%\\)`);
  return lines.flatMap((line) => {
    const match = pattern.exec(line);
    if (!match) return [];
    const [, done, doneUnit, total, totalUnit, percent] = match as unknown as string[];
    return [
      {
        bytes: bytes(done as string, doneUnit as string),
        total: bytes(total as string, totalUnit as string),
        percent: Number(percent),
        line,
      },
    ];
  });
}

async function newestExecution(): Promise<{ states: { name: string; startedAt: string }[] }> {
  const dir = join(stateDir, 'executions');
  const newest = (await readdir(dir)).sort().at(-1) as string;
  return JSON.parse(await readFile(join(dir, newest), 'utf8'));
}

describe('backupctl backup --local on a terminal', () => {
  it('says what it does before the first state starts, and shows the dump with a percent and the time left', async () => {
    const run = await onTerminal(['backup', '--local', '--reason', 'progress test']);

    expect(run.code).toBe(0);
    const { states } = await newestExecution();
    // The first line is on the screen before Plan, the first state, starts.
    expect(run.firstOutputAt).toBeLessThan(Date.parse(states[0]?.startedAt ?? ''));
    expect(run.lines[0]).toMatch(/^Starting the local servers/);

    const dumping = progressOf(run.lines, 'dumping');
    expect(dumping.length).toBeGreaterThan(0);
    // Within one progress line (its redraws, up to the next state's line) the percent only grows.
    let previous: { label: string; percent: number } | undefined;
    for (const line of run.lines) {
      const [p] = progressOf([line], '\\w+');
      const label = line.split(' ')[0] ?? '';
      if (p && previous?.label === label) expect(p.percent).toBeGreaterThanOrEqual(previous.percent);
      if (p) expect(p.percent).toBeLessThanOrEqual(100);
      previous = p ? { label, percent: p.percent } : undefined;
    }
    // Past its estimate a line says "finishing", never a figure above 100 % or a time left.
    for (const p of progressOf(run.lines, '\\w+').filter((p) => p.bytes > p.total)) {
      expect(p.line).toMatch(/finishing/);
      expect(p.line).not.toMatch(/left/);
    }
  }, 240_000);

  it("estimates the next dump from the last dump's size, so its percent ends near 100", async () => {
    const run = await onTerminal(['backup', '--local']);

    expect(run.code).toBe(0);
    const dumping = progressOf(run.lines, 'dumping');
    expect(dumping.at(-1)?.percent).toBeGreaterThanOrEqual(90);
    expect(dumping.at(-1)?.percent).toBeLessThanOrEqual(100);
  }, 240_000);
});
