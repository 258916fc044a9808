/**
 * A local run told to stop (Ctrl-C, `kill`) stops its servers; a run killed without a chance to (kill
 * -9, a crash) leaves them running, and the next run recovers, with a message, instead of failing on
 * the data directory's lock. Real processes: the victim is a separate Node process running the local
 * environment (test/support/local-victim.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { LocalStateBusyError } from '../../lib/errors.ts';
import { projectRoot, startLocalEnvironment } from '../../tools/local/environment.ts';

const dirs: string[] = [];

afterEach(async () => {
  for (const dir of dirs.splice(0)) {
    for (const pid of await processesNaming(dir)) process.kill(Number(pid), 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'local-signals-'));
  // The servers run as the postgres user when tests run as root.
  await chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

/** Every process whose command line names `path` (the servers name their data directory). */
async function processesNaming(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (command.includes(path)) found.push(pid);
  }
  return found;
}

async function startVictim(dir: string): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [join(projectRoot, 'test/support/local-victim.ts')], {
    env: { PATH: process.env.PATH ?? '', LOCAL_STATE_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  await new Promise<void>((ready, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) ready();
    });
    void exited.then((code) => reject(new Error(`the local run exited ${code}: ${stderr}`)));
  });
  return { child, exited };
}

describe('a local run', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    'stops its servers on %s and exits %d',
    async (signal, code) => {
      const dir = await stateDir();
      const { child, exited } = await startVictim(dir);
      expect((await processesNaming(dir)).length).toBeGreaterThan(0);

      child.kill(signal);

      expect(await exited).toBe(code);
      expect(await processesNaming(dir)).toEqual([]);
    },
    120_000,
  );

  it('refuses, naming the holder, to start on a state directory another live run holds; its servers keep running', async () => {
    const dir = await stateDir();
    const { child, exited } = await startVictim(dir);
    const servers = await processesNaming(dir);
    expect(servers.length).toBeGreaterThan(0);

    try {
      const second = await startLocalEnvironment({
        stateDir: dir,
        env: {},
        sampleScale: 0.01,
        need: { production: true, staging: false },
      }).then(
        async (environment) => {
          await environment.stop();
          return undefined;
        },
        (error: unknown) => error as Error,
      );

      expect(second).toBeInstanceOf(LocalStateBusyError);
      expect(second?.message).toMatch(
        new RegExp(`belongs to another local run that is still going \\(pid ${child.pid}\\)`),
      );
      // The first run lost nothing: the same servers, still answering, and it stops them itself.
      expect(child.exitCode).toBeNull();
      expect(await processesNaming(dir)).toEqual(expect.arrayContaining(servers));
      child.kill('SIGTERM');
      expect(await exited).toBe(143);
    } finally {
      // Whatever happened above, the first run must not outlive the test.
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(await processesNaming(dir)).toEqual([]);
  }, 120_000);

  it('recovers, with a message, from a run killed without a chance to stop its servers', async () => {
    const dir = await stateDir();
    const { child, exited } = await startVictim(dir);
    child.kill('SIGKILL');
    await exited;
    const left = await processesNaming(dir);
    expect(left.length).toBeGreaterThan(0);

    const notices: string[] = [];
    const error = jest
      .spyOn(console, 'error')
      .mockImplementation((line: unknown) => void notices.push(String(line)));
    try {
      const environment = await startLocalEnvironment({
        stateDir: dir,
        env: {},
        sampleScale: 0.01,
        need: { production: true, staging: false },
      });
      await environment.stop();
    } finally {
      error.mockRestore();
    }

    expect(notices.join('\n')).toMatch(
      /A server left running by an earlier run \(pid \d+\) holds .*production: stopping it\./,
    );
    expect(await processesNaming(dir)).toEqual([]);
  }, 120_000);
});
