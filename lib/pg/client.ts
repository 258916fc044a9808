/**
 * The pg-client bundle's layout (built by layers/pg-client, see docs/pg-client.md): where bundles are,
 * which one serves a server, where its programs and loader sit and what environment they get. Nothing
 * else knows the layout; lib/pg/process.ts is the one module that starts the programs.
 *
 *   resolvePgBundle({ major?, env? })      -> PgBundle   a bundle on this machine, or PgClientMissingError
 *   availablePgBundles({ env? })           -> PgBundle[] every runnable bundle, oldest major first
 *   clientForServer(serverVersionNum, o?)  -> PgBundle   the closest major >= the server's, or PgClientVersionError
 *   programPath(bundle, program), loaderPath(bundle), pgProgramEnvironment(bundle, o?)
 *   caFilePath(bundle), bundleCaFile(o?)   the CA list verify-* TLS trusts (lib/pg/tls.ts)
 *
 * Where bundles are found: `PG_CLIENT_DIR` (one bundle dir, an explicit override: nothing else is
 * considered), else `/opt/pg-client` (the Lambda layer), else the build output
 * `layers/pg-client/dist/pg-client-<major>-<arch>/` of this checkout for the host arch.
 *
 * Programs run as `<bundle>/lib/<loader> --library-path <bundle>/lib <program>`, so the bundle's own
 * glibc serves them whatever the host has, and with an environment built from scratch: the libpq
 * variables of the connection, a CA file for verify-* TLS, and the caller's explicit `env`. The parent's
 * environment never leaks in (no stray PGPASSWORD, PGHOST or LD_LIBRARY_PATH from the host).
 */
import { readFile, stat } from 'node:fs/promises';
import { arch as hostArch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgClientMissingError, PgClientVersionError } from '../errors.ts';
import { libpqEnvironment, type PgConnection } from './connection.ts';

/** The client programs a bundle carries: the one list, which layers/pg-client builds from too. */
export const pgPrograms = ['pg_dump', 'pg_restore', 'pg_dumpall', 'psql'] as const;
export type PgProgram = (typeof pgPrograms)[number];
export type PgBundleArch = 'x86_64' | 'arm64';

export interface PgBundle {
  /** Absolute path of the bundle (holds bin/, lib/, libexec/, share/, manifest.json). */
  dir: string;
  major: number;
  /** PostgreSQL release of the programs, e.g. `18.1`. */
  version: string;
  arch: PgBundleArch;
}

export interface PgBundleLookupOptions {
  /** Environment to read `PG_CLIENT_DIR` from; defaults to process.env. */
  env?: Record<string, string | undefined>;
}

/** Majors the builder can produce, oldest first (layers/pg-client/builder.ts `supportedMajors`). */
const buildableMajors = [17, 18] as const;
const lambdaLayerDir = '/opt/pg-client';
const distDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'layers', 'pg-client', 'dist');
const loaders: Record<PgBundleArch, string> = {
  x86_64: 'ld-linux-x86-64.so.2',
  arm64: 'ld-linux-aarch64.so.1',
};
const buildHint = (major: number = buildableMajors[buildableMajors.length - 1] ?? 18) =>
  `run \`npm run build:pg-client -- --major ${major}\``;

function hostBundleArch(): PgBundleArch {
  return hostArch() === 'arm64' ? 'arm64' : 'x86_64';
}

/** Reads a bundle's manifest (any architecture); undefined when `dir` holds no complete bundle. */
export async function readPgBundle(dir: string): Promise<PgBundle | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      major: number;
      clientVersion: string;
      arch: PgBundleArch;
    };
    await stat(join(dir, 'lib', loaders[manifest.arch]));
    return { dir, major: manifest.major, version: manifest.clientVersion, arch: manifest.arch };
  } catch {
    return undefined;
  }
}

export async function availablePgBundles(options: PgBundleLookupOptions = {}): Promise<PgBundle[]> {
  const env = options.env ?? process.env;
  const arch = hostBundleArch();
  const override = env.PG_CLIENT_DIR;
  if (override) {
    const bundle = await readPgBundle(override);
    if (!bundle) {
      throw new PgClientMissingError(
        `PG_CLIENT_DIR=${override} is not a pg-client bundle (no manifest.json or loader)`,
      );
    }
    if (bundle.arch !== arch) {
      throw new PgClientMissingError(
        `PG_CLIENT_DIR=${override} holds a ${bundle.arch} bundle; this machine is ${arch}`,
      );
    }
    return [bundle];
  }
  const candidates = [
    lambdaLayerDir,
    ...buildableMajors.map((major) => join(distDir, `pg-client-${major}-${arch}`)),
  ];
  const found = (await Promise.all(candidates.map(readPgBundle))).filter(
    (bundle): bundle is PgBundle => bundle !== undefined && bundle.arch === arch,
  );
  const byMajor = new Map<number, PgBundle>();
  for (const bundle of found) if (!byMajor.has(bundle.major)) byMajor.set(bundle.major, bundle);
  return [...byMajor.values()].sort((a, b) => a.major - b.major);
}

/** A bundle of `major` if given, else the newest available. */
export async function resolvePgBundle(
  options: PgBundleLookupOptions & { major?: number } = {},
): Promise<PgBundle> {
  const bundles = await availablePgBundles(options);
  const bundle =
    options.major === undefined
      ? bundles[bundles.length - 1]
      : bundles.find((b) => b.major === options.major);
  if (bundle) return bundle;
  const wanted =
    options.major === undefined
      ? 'No PostgreSQL client bundle'
      : `No PostgreSQL ${options.major} client bundle`;
  const have = bundles.length > 0 ? ` (found ${bundles.map(describeBundle).join(', ')})` : '';
  throw new PgClientMissingError(`${wanted} for ${hostBundleArch()}${have}: ${buildHint(options.major)}`);
}

/** `150018` -> `15.18`, `90624` -> `9.6.24`. */
export function formatServerVersion(serverVersionNum: number): string {
  if (serverVersionNum >= 100000)
    return `${Math.floor(serverVersionNum / 10000)}.${serverVersionNum % 10000}`;
  const major = Math.floor(serverVersionNum / 10000);
  const minor = Math.floor(serverVersionNum / 100) % 100;
  return `${major}.${minor}.${serverVersionNum % 100}`;
}

function describeBundle(bundle: PgBundle): string {
  return `${bundle.version} (${bundle.dir})`;
}

/**
 * The client for a server, given its `server_version_num` (`SHOW server_version_num`). pg_dump refuses
 * servers newer than itself, so the bundle's major must be >= the server's; of those the closest is
 * taken, because a client of the server's own major writes nothing the same server cannot restore.
 */
export async function clientForServer(
  serverVersionNum: number,
  options: PgBundleLookupOptions & { bundles?: PgBundle[] } = {},
): Promise<PgBundle> {
  if (!Number.isInteger(serverVersionNum) || serverVersionNum < 90200) {
    throw new PgClientVersionError(
      `server_version_num ${serverVersionNum} is not a PostgreSQL version the bundled clients support (9.2 or newer)`,
    );
  }
  const serverMajor = serverVersionNum >= 100000 ? Math.floor(serverVersionNum / 10000) : 9;
  const bundles = options.bundles ?? (await availablePgBundles(options));
  const bundle = bundles.filter((b) => b.major >= serverMajor).sort((a, b) => a.major - b.major)[0];
  if (bundle) return bundle;
  const available = bundles.length > 0 ? bundles.map(describeBundle).join(', ') : 'none';
  throw new PgClientVersionError(
    `The server runs PostgreSQL ${formatServerVersion(serverVersionNum)}, newer than every available client ` +
      `(${available}); pg_dump cannot dump a newer server. ${
        serverMajor <= (buildableMajors[buildableMajors.length - 1] ?? 0)
          ? `Build a matching client: ${buildHint(serverMajor)}.`
          : `No Debian suite the builder knows carries a PostgreSQL ${serverMajor} client yet: add it to layers/pg-client/builder.ts.`
      }`,
    { details: { serverVersionNum, availableClients: bundles.map((b) => b.version) } },
  );
}

/** The CA certificates a bundle ships (Debian's ca-certificates), which verify-* TLS trusts. */
export function caFilePath(bundle: PgBundle): string {
  return join(bundle.dir, 'share', 'ca-certificates.crt');
}

/**
 * The CA list of the newest bundle on this machine, for the TLS policy (lib/pg/tls.ts); undefined where
 * there is none: a function without the pg layer (Plan) only talks node-postgres, which then trusts
 * Node's own CA list.
 */
export async function bundleCaFile(options: PgBundleLookupOptions = {}): Promise<string | undefined> {
  let bundles: PgBundle[];
  try {
    bundles = await availablePgBundles(options);
  } catch (error) {
    // A PG_CLIENT_DIR that holds no bundle fails by name where a program is started, not here.
    if (error instanceof PgClientMissingError) return undefined;
    throw error;
  }
  const newest = bundles[bundles.length - 1];
  return newest && caFilePath(newest);
}

/** The environment a program gets: nothing from the parent process. */
export function pgProgramEnvironment(
  bundle: PgBundle,
  options: { connection?: PgConnection | undefined; env?: Record<string, string> | undefined } = {},
): Record<string, string> {
  const env: Record<string, string> = options.connection ? libpqEnvironment(options.connection) : {};
  const caFile = caFilePath(bundle);
  // Debian's OpenSSL looks for CAs in /etc/ssl/certs, which Amazon Linux does not have.
  if (env.PGSSLMODE?.startsWith('verify-') && env.PGSSLROOTCERT === undefined) env.PGSSLROOTCERT = caFile;
  if (env.PGSSLROOTCERT === 'system') env.SSL_CERT_FILE = caFile;
  return { ...env, ...options.env };
}

/** Where a program sits in a bundle: pg_dumpall lives beside a pg_dump wrapper (docs/pg-client.md). */
export function programPath(bundle: PgBundle, program: PgProgram): string {
  return join(bundle.dir, program === 'pg_dumpall' ? 'libexec' : 'bin', program);
}

/** The bundle's own dynamic loader, which every program is started through. */
export function loaderPath(bundle: PgBundle): string {
  return join(bundle.dir, 'lib', loaders[bundle.arch]);
}
