/**
 * Builds the PostgreSQL client bundle from Debian's archive (see docs/pg-client.md).
 *
 * Trust chain: InRelease is checked with gpgv against the Debian keys committed beside this file; the
 * Packages index is checked against the SHA-256 in the signed InRelease; every .deb against the SHA-256
 * in the index, before anything is extracted. HTTP is fine because nothing unverified is used.
 *
 * Cache: `<cache>/<key>/` where key hashes the resolved packages (names, versions, SHA-256s), suite,
 * arch, major and this builder's own source. A bundle is assembled in `<cache>/.tmp-*` and renamed
 * into place only when complete (and, for the host arch, after its programs ran), so an interrupted or
 * failed build leaves nothing a later run would pick up. The resolution of an InRelease is cached too,
 * so a warm run downloads only InRelease (~150 kB).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { homedir, arch as hostArch, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PgClientBuildError } from '../../lib/errors.ts';
import { pgPrograms } from '../../lib/pg/client.ts';
import { buildableServerMajors, debianServerSuite, serverBundleName } from '../../lib/pg/server-bundle.ts';
import { extractDeb, writeZip, type ZipEntry } from './archive.ts';
import {
  type PackageEntry,
  parsePackages,
  parseRelease,
  type ReleaseFile,
  resolvePackages,
  upstreamVersion,
} from './debian.ts';
import { elfMachines, readElf } from './elf.ts';
import { copyTimeZones, timeZonePackages, withLayerTimeZoneDir } from './zoneinfo.ts';

const execFileAsync = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

export const supportedMajors = [17, 18] as const;
export type ClientMajor = (typeof supportedMajors)[number];
export const newestMajor: ClientMajor = 18;
export const bundleArchs = ['x86_64', 'arm64'] as const;
export type BundleArch = (typeof bundleArchs)[number];

/** The Debian suite that carries each client major. */
export const suiteForMajor: Record<ClientMajor, string> = { 17: 'trixie', 18: 'forky' };

/**
 * The server bundle (the scratch server a verification restores into): PostgreSQL majors with a Debian
 * suite that carries their server package (lib/pg/server-bundle.ts holds the table of sources).
 */
export const serverMajors = buildableServerMajors.filter((major) => debianServerSuite(major) !== undefined);
export type ServerMajor = (typeof buildableServerMajors)[number];

/**
 * Extensions beyond contrib that a server bundle can carry, by the name config uses, with the Debian
 * packages that provide them. PostGIS's SQL scripts are a package of their own (Architecture: all).
 */
export const serverExtensionPackages = {
  pgvector: (major: number) => [`postgresql-${major}-pgvector`],
  postgis: (major: number) => [`postgresql-${major}-postgis-3`, `postgresql-${major}-postgis-3-scripts`],
} as const;
export type ServerExtension = keyof typeof serverExtensionPackages;
export const serverExtensions = Object.keys(serverExtensionPackages) as ServerExtension[];

const archTargets: Record<BundleArch, { debian: string; triplet: string; loader: string }> = {
  x86_64: { debian: 'amd64', triplet: 'x86_64-linux-gnu', loader: 'ld-linux-x86-64.so.2' },
  arm64: { debian: 'arm64', triplet: 'aarch64-linux-gnu', loader: 'ld-linux-aarch64.so.1' },
};

export const defaultArchiveUrl = 'http://deb.debian.org/debian';
export const defaultKeyring = join(here, 'debian-archive-keyring.gpg');
export const defaultDistDir = join(here, 'dist');

export function hostBundleArch(): BundleArch {
  return hostArch() === 'arm64' ? 'arm64' : 'x86_64';
}

export function loaderName(arch: BundleArch): string {
  return archTargets[arch].loader;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'verified-pg-backups', 'pg-client');
}

export interface BuildOptions {
  major?: ClientMajor;
  arch?: BundleArch;
  archiveUrl?: string;
  cacheDir?: string;
  /** Where the stable outputs go (`pg-client-<major>-<arch>/` and `.zip`); null skips publishing. */
  distDir?: string | null;
  keyring?: string;
  fetch?: (url: string) => Promise<Response>;
  log?: (line: string) => void;
}

export interface BuildResult {
  /** The bundle inside the cache. */
  bundleDir: string;
  zipPath: string;
  /** The published copies, when distDir was not null. */
  distBundleDir: string | undefined;
  distZipPath: string | undefined;
  manifest: BundleManifest;
  /** True when the cache already held this exact bundle and nothing was downloaded but InRelease. */
  cached: boolean;
}

export interface BundleManifest {
  builder: string;
  /** `client` (pg_dump, pg_restore, psql) or `server` (postgres and initdb, for scratch servers). */
  kind?: 'client' | 'server';
  major: number;
  /** PostgreSQL release of the client programs, e.g. `18.1` (of the server's, in a server bundle). */
  clientVersion: string;
  /** Server bundles: the extensions beyond contrib it carries (config names) and every extension it offers. */
  extensions?: string[];
  availableExtensions?: string[];
  arch: BundleArch;
  debianArch: string;
  loader: string;
  archive: string;
  suite: string;
  codename: string;
  releaseDate: string;
  releaseValidUntil: string | undefined;
  inReleaseSha256: string;
  signature: string;
  packages: { name: string; version: string; filename: string; size: number; sha256: string }[];
  /** Every file in the bundle with its size, so a reader can tell what is in a layer. */
  files: { path: string; size: number }[];
}

/** Hash of this builder's sources: a change to how bundles are made invalidates cached bundles. */
async function builderVersion(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['builder.ts', 'debian.ts', 'elf.ts', 'archive.ts', 'zoneinfo.ts'])
    hash.update(await readFile(join(here, file)));
  return hash.digest('hex').slice(0, 16);
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function download(fetchImpl: (url: string) => Promise<Response>, url: string): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetchImpl(url);
  } catch (error) {
    throw new PgClientBuildError(`could not download ${url}`, { cause: error });
  }
  if (!response.ok) throw new PgClientBuildError(`GET ${url} answered ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/**
 * Runs gpgv and returns the text it vouched for. A release may carry several signatures, some by keys
 * we do not hold (gpgv then exits 2); we accept it when at least one is good and none is bad, as apt does.
 */
async function verifyInRelease(inRelease: Buffer, keyring: string, workDir: string): Promise<string> {
  const input = join(workDir, 'InRelease');
  const output = join(workDir, 'Release.verified');
  await writeFile(input, inRelease);
  const status = await new Promise<string>((resolveStatus, reject) => {
    const gpgv = spawn('gpgv', ['--status-fd', '1', '--keyring', keyring, '--output', output, input], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    let text = '';
    gpgv.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    gpgv.once('error', (error) =>
      reject(
        new PgClientBuildError('gpgv is needed to check the Debian archive signature', { cause: error }),
      ),
    );
    gpgv.once('exit', () => resolveStatus(text));
  });
  const good = /^\[GNUPG:\] VALIDSIG /m.test(status);
  const bad = /^\[GNUPG:\] (BADSIG|EXPKEYSIG|REVKEYSIG|EXPSIG) /m.test(status);
  if (!good || bad) {
    throw new PgClientBuildError('the InRelease signature does not verify against the Debian archive keys', {
      details: { gpgv: status.split('\n').filter((line) => /SIG|PUBKEY/.test(line)) },
    });
  }
  return readFile(output, 'utf8');
}

async function decompressXz(data: Buffer): Promise<string> {
  return new Promise((resolveText, reject) => {
    const xz = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    xz.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    xz.once('error', (error) =>
      reject(new PgClientBuildError('xz is needed to read the archive', { cause: error })),
    );
    xz.once('exit', (code) =>
      code === 0
        ? resolveText(Buffer.concat(chunks).toString('utf8'))
        : reject(new PgClientBuildError(`xz exited with ${code}`)),
    );
    xz.stdin.end(data);
  });
}

interface Resolution {
  release: Omit<ReleaseFile, 'sha256'>;
  packages: PackageEntry[];
}

async function resolveFromArchive(
  options: Required<Pick<BuildOptions, 'archiveUrl' | 'keyring'>> & {
    suite: string;
    /** Names the bundle in the cached resolution's file name (the roots decide its content). */
    tag: string;
    roots: string[];
    rootsWithoutDependencies: string[];
    arch: BundleArch;
    cacheDir: string;
    builder: string;
    fetch: (url: string) => Promise<Response>;
    workDir: string;
    log: (line: string) => void;
  },
): Promise<{ resolution: Resolution; inReleaseSha256: string; resolutionFile: string; fresh: boolean }> {
  const inRelease = await download(options.fetch, `${options.archiveUrl}/dists/${options.suite}/InRelease`);
  const inReleaseSha256 = sha256(inRelease);
  const releaseText = await verifyInRelease(inRelease, options.keyring, options.workDir);
  const release = parseRelease(releaseText);
  if (release.validUntil && Date.parse(release.validUntil) < Date.now()) {
    // apt refuses such a release (a frozen mirror could hide security updates); we only warn, because
    // snapshot mirrors serve exactly that, and the manifest records the release date for review.
    options.log(
      `warning: the ${options.suite} Release expired on ${release.validUntil}; the mirror may be stale`,
    );
  }
  const resolutionFile = join(
    options.cacheDir,
    'resolutions',
    `${inReleaseSha256.slice(0, 32)}-${options.tag}-${options.builder}.json`,
  );
  try {
    const cached = JSON.parse(await readFile(resolutionFile, 'utf8')) as Resolution;
    return { resolution: cached, inReleaseSha256, resolutionFile, fresh: false };
  } catch {
    // Not resolved for this InRelease yet.
  }
  const indexPath = `main/binary-${archTargets[options.arch].debian}/Packages.xz`;
  const expected = release.sha256.get(indexPath);
  if (!expected) throw new PgClientBuildError(`the ${options.suite} Release does not list ${indexPath}`);
  const index = await download(options.fetch, `${options.archiveUrl}/dists/${options.suite}/${indexPath}`);
  if (sha256(index) !== expected.sha256) {
    throw new PgClientBuildError(
      `${indexPath} of ${options.suite} does not match the SHA-256 in its Release file`,
    );
  }
  const packages = resolvePackages(
    parsePackages(await decompressXz(index)),
    options.roots,
    options.rootsWithoutDependencies,
  );
  const { sha256: _listing, ...releaseFields } = release;
  return { resolution: { release: releaseFields, packages }, inReleaseSha256, resolutionFile, fresh: true };
}

/** Resolves a symlink chain inside an extracted tree: absolute targets point into `root`, not the host. */
async function resolveInRoot(root: string, path: string): Promise<string> {
  let current = path;
  for (let hops = 0; hops < 20; hops++) {
    let target: string;
    try {
      target = await readlink(current);
    } catch {
      return current;
    }
    current = isAbsolute(target) ? join(root, target) : join(dirname(current), target);
  }
  throw new PgClientBuildError(`symlink loop at ${relative(root, path)}`);
}

const pgDumpWrapper = (loader: string) => `#!/bin/sh
# pg_dumpall starts pg_dump by path, as a plain program; this sends it through the bundle's loader.
here="\${0%/*}"
exec "$here/../lib/${loader}" --library-path "$here/../lib" "$here/../bin/pg_dump" "$@"
`;

/**
 * Copies ELF files into a bundle, checking each is for the target machine, and then every shared
 * library they need (DT_NEEDED, transitively) into the bundle's lib/, under its soname, together with
 * the loader and libgcc_s (which glibc dlopens when a thread is cancelled or unwinds).
 */
class ElfPlacer {
  readonly #root: string;
  readonly #bundle: string;
  readonly #arch: BundleArch;
  readonly #libraryDirs: string[];
  readonly #placed = new Set<string>();
  readonly #pending: { file: string; from: string }[] = [];

  constructor(root: string, bundle: string, arch: BundleArch) {
    this.#root = root;
    this.#bundle = bundle;
    this.#arch = arch;
    const { triplet } = archTargets[arch];
    this.#libraryDirs = [`usr/lib/${triplet}`, `lib/${triplet}`, 'usr/lib', 'lib'].map((d) => join(root, d));
  }

  async #findLibrary(soname: string): Promise<string | undefined> {
    for (const dir of this.#libraryDirs) {
      if (await exists(join(dir, soname))) return resolveInRoot(this.#root, join(dir, soname));
    }
    return undefined;
  }

  /** Copies one ELF file (source inside the extracted root) to a path inside the bundle. */
  async place(source: string, destination: string, mode: number, from: string): Promise<void> {
    const bytes = await readFile(await resolveInRoot(this.#root, source));
    const info = readElf(bytes);
    if (info.machine !== elfMachines[this.#arch]) {
      throw new PgClientBuildError(
        `${relative(this.#root, source)} is for ELF machine ${info.machine}, not ${this.#arch}`,
      );
    }
    const target = join(this.#bundle, destination);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes, { mode });
    await chmod(target, mode);
    this.#pending.push({ file: target, from });
  }

  async #placeLibrary(soname: string, from: string, mode = 0o644): Promise<void> {
    if (this.#placed.has(soname)) return;
    this.#placed.add(soname);
    const source = await this.#findLibrary(soname);
    if (!source) throw new PgClientBuildError(`${soname} (needed by ${from}) is not in any resolved package`);
    await this.place(source, join('lib', soname), mode, soname);
  }

  /** The loader, libgcc_s and every library the placed files need, transitively. */
  async closeLibraries(): Promise<void> {
    const { loader } = archTargets[this.#arch];
    await this.#placeLibrary(loader, 'the loader', 0o755);
    await this.#placeLibrary('libgcc_s.so.1', 'glibc');
    // glibc before 2.34 (bullseye's 2.31, PostgreSQL 13) looks users up (initdb's getpwuid) through a
    // libnss_files module it loads at run time; later ones have it built in and keep a stub of the name.
    if (await this.#findLibrary('libnss_files.so.2')) await this.#placeLibrary('libnss_files.so.2', 'glibc');
    while (this.#pending.length > 0) {
      const next = this.#pending.shift();
      if (!next) break;
      for (const soname of readElf(await readFile(next.file)).needed)
        await this.#placeLibrary(soname, next.from);
    }
  }
}

/** Redistributing glibc, readline, OpenSSL and PostgreSQL obliges us to ship their licences. */
async function copyLicences(root: string, bundle: string, packages: PackageEntry[]): Promise<void> {
  for (const entry of packages) {
    const copyright = join(root, 'usr/share/doc', entry.name, 'copyright');
    if (!(await exists(copyright))) continue;
    await mkdir(join(bundle, 'share', 'doc', entry.name), { recursive: true });
    await copyFile(copyright, join(bundle, 'share', 'doc', entry.name, 'copyright'));
  }
}

async function assembleClient(
  root: string,
  bundle: string,
  major: number,
  arch: BundleArch,
  packages: PackageEntry[],
): Promise<void> {
  const target = archTargets[arch];
  await Promise.all(
    ['bin', 'lib', 'libexec', 'share'].map((d) => mkdir(join(bundle, d), { recursive: true })),
  );
  const placer = new ElfPlacer(root, bundle, arch);
  const programDir = join(root, 'usr/lib/postgresql', String(major), 'bin');
  for (const program of pgPrograms) {
    // pg_dumpall sits beside a pg_dump wrapper, because it runs whatever `pg_dump` is next to itself.
    await placer.place(
      join(programDir, program),
      join(program === 'pg_dumpall' ? 'libexec' : 'bin', program),
      0o755,
      program,
    );
  }
  await placer.closeLibraries();

  await writeFile(join(bundle, 'libexec', 'pg_dump'), pgDumpWrapper(target.loader), { mode: 0o755 });
  await chmod(join(bundle, 'libexec', 'pg_dump'), 0o755);

  // libpq verifies servers (sslmode=verify-*) against a CA file; Amazon Linux keeps none where Debian's
  // OpenSSL looks, so the bundle carries Mozilla's roots as Debian packages them.
  const caDir = join(root, 'usr/share/ca-certificates/mozilla');
  const certificates = (await readdir(caDir)).filter((name) => name.endsWith('.crt')).sort();
  if (certificates.length === 0) throw new PgClientBuildError('ca-certificates contains no certificates');
  const pems = await Promise.all(certificates.map((name) => readFile(join(caDir, name), 'utf8')));
  await writeFile(join(bundle, 'share', 'ca-certificates.crt'), pems.map((pem) => pem.trimEnd()).join('\n'));
  await copyLicences(root, bundle, packages);
}

const postgresWrapper = (loader: string, major: number) => `#!/bin/sh
# initdb starts the postgres beside it by path, as a plain program; this sends it through the loader.
here="\${0%/*}"
exec "$here/../lib/${loader}" --library-path "$here/../lib" "$here/../usr/lib/postgresql/${major}/bin/postgres" "$@"
`;

/**
 * The server keeps Debian's tree (usr/lib/postgresql/<major>/{bin,lib}, usr/share/postgresql/<major>),
 * because postgres finds its share and library directories relative to its own path only in that
 * shape. initdb lives in libexec/ beside a postgres wrapper (it starts `postgres` from its own
 * directory); it is told where the share directory is (-L). No LLVM: the JIT library and its bitcode
 * are left out and servers run with jit=off.
 */
async function assembleServer(
  root: string,
  bundle: string,
  major: number,
  arch: BundleArch,
  packages: PackageEntry[],
): Promise<string[]> {
  const target = archTargets[arch];
  const placer = new ElfPlacer(root, bundle, arch);
  const serverDir = `usr/lib/postgresql/${major}`;
  await placer.place(
    join(root, serverDir, 'bin/postgres'),
    join(serverDir, 'bin/postgres'),
    0o755,
    'postgres',
  );
  await placer.place(join(root, serverDir, 'bin/initdb'), 'libexec/initdb', 0o755, 'initdb');
  for (const name of (await readdir(join(root, serverDir, 'lib'))).sort()) {
    if (!name.endsWith('.so') || name.startsWith('llvmjit')) continue;
    await placer.place(join(root, serverDir, 'lib', name), join(serverDir, 'lib', name), 0o644, name);
  }
  await placer.closeLibraries();
  await writeFile(join(bundle, 'libexec', 'postgres'), postgresWrapper(target.loader, major), {
    mode: 0o755,
  });
  await chmod(join(bundle, 'libexec', 'postgres'), 0o755);

  const share = `usr/share/postgresql/${major}`;
  await cp(join(root, share), join(bundle, share), {
    recursive: true,
    dereference: true,
    filter: (source) => !/\/man\//.test(source),
  });
  await copyTimeZones(root, bundle);
  await copyLicences(root, bundle, packages);
  return (await readdir(join(bundle, share, 'extension')))
    .filter((name) => name.endsWith('.control'))
    .map((name) => name.replace(/\.control$/, ''))
    .sort();
}

async function listFiles(dir: string, prefix = ''): Promise<{ path: string; size: number; mode: number }[]> {
  const files: { path: string; size: number; mode: number }[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await listFiles(join(dir, entry.name), path)));
    else {
      const info = await stat(join(dir, entry.name));
      files.push({ path, size: info.size, mode: info.mode & 0o777 });
    }
  }
  return files;
}

/** `<loader> --library-path <lib> <program> ...`: how every program of a bundle is started. */
export function loaderCommand(bundleDir: string, arch: BundleArch, programPath: string): [string, string[]] {
  const lib = join(bundleDir, 'lib');
  return [join(lib, loaderName(arch)), ['--library-path', lib, programPath]];
}

export async function programVersions(bundleDir: string, arch: BundleArch): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const program of pgPrograms) {
    const path = join(bundleDir, program === 'pg_dumpall' ? 'libexec' : 'bin', program);
    const [command, args] = loaderCommand(bundleDir, arch, path);
    const { stdout } = await execFileAsync(command, [...args, '--version'], { env: {} });
    versions[program] = stdout.trim();
  }
  return versions;
}

async function publish(distDir: string, name: string, bundleDir: string, zipPath: string) {
  await mkdir(distDir, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const link = join(distDir, `.${name}.${suffix}`);
  await symlink(bundleDir, link);
  await rename(link, join(distDir, name));
  const zip = join(distDir, `.${name}.zip.${suffix}`);
  await copyFile(zipPath, zip);
  await rename(zip, join(distDir, `${name}.zip`));
  return { distBundleDir: join(distDir, name), distZipPath: join(distDir, `${name}.zip`) };
}

/** What makes a client and a server bundle different: their packages, their assembly, their check. */
interface BundleSpec {
  kind: 'client' | 'server';
  major: number;
  arch: BundleArch;
  suite: string;
  /** The published name (dist/<name>, <name>.zip) and the cache entry's tag. */
  name: string;
  /** The bundle's directory inside its cache entry and the zip's top directory (Lambda: /opt/<top>). */
  top: 'pg-client' | 'pg-server';
  roots: string[];
  rootsWithoutDependencies: string[];
  /** The package whose upstream version is the bundle's PostgreSQL version. */
  versionPackage: string;
  extensions: string[];
  /** Assembles the bundle; a server returns the extensions it offers. */
  assemble(root: string, bundle: string, packages: PackageEntry[]): Promise<string[] | undefined>;
  /** For the host architecture: the assembled bundle must run before it is admitted into the cache. */
  check(bundle: string): Promise<unknown>;
  /** A file as the layer zip holds it, when it differs from the bundle's (./zoneinfo.ts). */
  inZip?(path: string, data: Buffer): Buffer;
}

/** Builds (or finds in the cache) the client bundle for one major and architecture. */
export async function buildPgClient(options: BuildOptions = {}): Promise<BuildResult> {
  const major = options.major ?? newestMajor;
  const arch = options.arch ?? hostBundleArch();
  if (!supportedMajors.includes(major)) throw new PgClientBuildError(`unsupported major ${major}`);
  if (!bundleArchs.includes(arch)) throw new PgClientBuildError(`unsupported arch ${arch}`);
  return buildBundle(
    {
      kind: 'client',
      major,
      arch,
      suite: suiteForMajor[major],
      name: `pg-client-${major}-${arch}`,
      top: 'pg-client',
      roots: [`postgresql-client-${major}`],
      rootsWithoutDependencies: ['ca-certificates'],
      versionPackage: `postgresql-client-${major}`,
      extensions: [],
      assemble: async (root, bundle, packages) => {
        await assembleClient(root, bundle, major, arch, packages);
        return undefined;
      },
      check: (bundle) => programVersions(bundle, arch),
    },
    options,
  );
}

export interface ServerBuildOptions extends Omit<BuildOptions, 'major'> {
  major?: ServerMajor;
  /** Extensions beyond contrib (serverExtensionPackages), e.g. ['pgvector']. */
  extensions?: readonly string[];
}

/** Builds (or finds in the cache) the scratch-server bundle for one major, architecture and extension set. */
export async function buildPgServer(options: ServerBuildOptions = {}): Promise<BuildResult> {
  const major = options.major ?? newestMajor;
  const arch = options.arch ?? hostBundleArch();
  const suite = debianServerSuite(major);
  if (!suite) {
    throw new PgClientBuildError(
      `no Debian suite here carries a PostgreSQL ${major} server (${serverMajors.join(', ')})`,
    );
  }
  if (!bundleArchs.includes(arch)) throw new PgClientBuildError(`unsupported arch ${arch}`);
  const extensions = [...new Set(options.extensions ?? [])].sort();
  const unknown = extensions.filter((name) => !(serverExtensions as string[]).includes(name));
  if (unknown.length > 0) {
    throw new PgClientBuildError(
      `unknown server extension ${unknown.join(', ')}: known are ${serverExtensions.join(', ')}`,
    );
  }
  return buildBundle(
    {
      kind: 'server',
      major,
      arch,
      suite,
      name: serverBundleName(major, arch, extensions),
      top: 'pg-server',
      roots: [
        `postgresql-${major}`,
        ...extensions.flatMap((name) => serverExtensionPackages[name as ServerExtension](major)),
      ],
      // The server's own time zone data (./zoneinfo.ts): arch all, its dependencies are install tools.
      rootsWithoutDependencies: timeZonePackages(suite),
      versionPackage: `postgresql-${major}`,
      extensions,
      assemble: (root, bundle, packages) => assembleServer(root, bundle, major, arch, packages),
      check: (bundle) => serverVersions(bundle, arch, major),
      // In the layer, postgres and initdb read the bundle's tz/ where Lambda mounts it (/opt/pg-server).
      inZip: (path, data) =>
        path === `usr/lib/postgresql/${major}/bin/postgres` || path === 'libexec/initdb'
          ? withLayerTimeZoneDir(data, path)
          : data,
    },
    options,
  );
}

/** `postgres --version` and `initdb --version`, through the bundle's loader with an empty environment. */
export async function serverVersions(
  bundleDir: string,
  arch: BundleArch,
  major: number,
): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const [program, path] of [
    ['postgres', `usr/lib/postgresql/${major}/bin/postgres`],
    ['initdb', 'libexec/initdb'],
  ] as const) {
    const [command, args] = loaderCommand(bundleDir, arch, join(bundleDir, path));
    const { stdout } = await execFileAsync(command, [...args, '--version'], { env: {} });
    versions[program] = stdout.trim();
  }
  return versions;
}

async function buildBundle(spec: BundleSpec, options: Omit<BuildOptions, 'major'>): Promise<BuildResult> {
  const { major, arch, suite, name } = spec;
  const archiveUrl = (options.archiveUrl ?? defaultArchiveUrl).replace(/\/+$/, '');
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const distDir = options.distDir === undefined ? defaultDistDir : options.distDir;
  const keyring = options.keyring ?? defaultKeyring;
  const fetchImpl = options.fetch ?? ((url: string) => fetch(url, { signal: AbortSignal.timeout(120_000) }));
  const log = options.log ?? (() => undefined);
  const builder = await builderVersion();

  // gpgv and the resolution need scratch space even on a warm run; it stays outside the cache.
  const scratch = await mkdtemp(join(tmpdir(), `${spec.top}-`));
  try {
    const { resolution, inReleaseSha256, resolutionFile, fresh } = await resolveFromArchive({
      archiveUrl,
      keyring,
      suite,
      tag: name,
      roots: spec.roots,
      rootsWithoutDependencies: spec.rootsWithoutDependencies,
      arch,
      cacheDir,
      builder,
      fetch: fetchImpl,
      workDir: scratch,
      log,
    });
    const key = sha256(
      JSON.stringify({
        builder,
        suite,
        arch,
        major,
        ...(spec.kind === 'server' ? { kind: spec.kind, extensions: spec.extensions } : {}),
        packages: resolution.packages.map((p) => [p.name, p.version, p.sha256]),
      }),
    ).slice(0, 32);
    const entryDir = join(cacheDir, key);
    const bundleDir = join(entryDir, spec.top);
    const zipPath = join(entryDir, `${name}.zip`);
    const finish = async (manifest: BundleManifest, cached: boolean): Promise<BuildResult> => {
      const published = distDir === null ? undefined : await publish(distDir, name, bundleDir, zipPath);
      return {
        bundleDir,
        zipPath,
        distBundleDir: published?.distBundleDir,
        distZipPath: published?.distZipPath,
        manifest,
        cached,
      };
    };

    if (await exists(join(bundleDir, 'manifest.json'))) {
      log(`${name}: cached at ${entryDir}`);
      const manifest = JSON.parse(await readFile(join(bundleDir, 'manifest.json'), 'utf8')) as BundleManifest;
      return await finish(manifest, true);
    }

    await mkdir(cacheDir, { recursive: true });
    await removeAbandonedBuilds(cacheDir);
    const work = join(cacheDir, `.tmp-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const root = join(work, 'root');
      const bundle = join(work, 'entry', spec.top);
      await mkdir(root, { recursive: true });
      log(`${name}: downloading ${resolution.packages.length} packages from ${archiveUrl} (${suite})`);
      // Every download settles before any verdict, so a failure leaves no request running behind it.
      const settled = await Promise.allSettled(
        resolution.packages.map(async (entry) => {
          const deb = await download(fetchImpl, `${archiveUrl}/${entry.filename}`);
          const actual = sha256(deb);
          if (actual !== entry.sha256) {
            throw new PgClientBuildError(
              `${entry.name} ${entry.version}: ${entry.filename} has SHA-256 ${actual}, the Packages index says ${entry.sha256}`,
              { details: { package: entry.name, version: entry.version } },
            );
          }
          return { entry, deb };
        }),
      );
      const debs = settled.map((outcome) => {
        if (outcome.status === 'rejected') throw outcome.reason;
        return outcome.value;
      });
      for (const { entry, deb } of debs) {
        try {
          await extractDeb(deb, root);
        } catch (error) {
          throw new PgClientBuildError(`could not extract ${entry.name} ${entry.version}`, { cause: error });
        }
      }
      const availableExtensions = await spec.assemble(root, bundle, resolution.packages);

      const manifest: BundleManifest = {
        builder,
        kind: spec.kind,
        major,
        clientVersion: upstreamVersion(
          resolution.packages.find((p) => p.name === spec.versionPackage)?.version ?? '',
        ),
        ...(availableExtensions ? { extensions: spec.extensions, availableExtensions } : {}),
        arch,
        debianArch: archTargets[arch].debian,
        loader: `lib/${archTargets[arch].loader}`,
        archive: archiveUrl,
        suite,
        codename: resolution.release.codename,
        releaseDate: resolution.release.date,
        releaseValidUntil: resolution.release.validUntil,
        inReleaseSha256,
        signature: `InRelease verified by gpgv against ${relative(here, keyring) || keyring}`,
        packages: resolution.packages.map(({ name: pkg, version, filename, size, sha256: hash }) => ({
          name: pkg,
          version,
          filename,
          size,
          sha256: hash,
        })),
        files: (await listFiles(bundle)).map(({ path, size }) => ({ path, size })),
      };
      await writeFile(join(bundle, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

      if (arch === hostBundleArch()) {
        try {
          await spec.check(bundle);
        } catch (error) {
          throw new PgClientBuildError(`the assembled ${name} bundle does not run on this machine`, {
            cause: error,
          });
        }
      }

      const entries: ZipEntry[] = [];
      for (const file of await listFiles(bundle)) {
        const data = await readFile(join(bundle, file.path));
        entries.push({
          path: `${spec.top}/${file.path}`,
          data: spec.inZip ? spec.inZip(file.path, data) : data,
          mode: file.mode,
        });
      }
      await writeFile(join(work, 'entry', `${name}.zip`), writeZip(entries));
      await rm(root, { recursive: true, force: true });

      try {
        await rename(join(work, 'entry'), entryDir);
      } catch (error) {
        // Another build of the same inputs finished first; its bundle is identical.
        if (!(await exists(join(bundleDir, 'manifest.json')))) throw error;
      }
      if (fresh) {
        await mkdir(dirname(resolutionFile), { recursive: true });
        const temporary = `${resolutionFile}.${process.pid}`;
        await writeFile(temporary, JSON.stringify(resolution));
        await rename(temporary, resolutionFile);
      }
      log(`${name}: built at ${entryDir}`);
      return await finish(manifest, false);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Builds killed mid-way leave `.tmp-*` directories; nothing reads them, this only frees the space. */
async function removeAbandonedBuilds(cacheDir: string): Promise<void> {
  const hour = 3_600_000;
  for (const entry of await readdir(cacheDir)) {
    if (!entry.startsWith('.tmp-')) continue;
    const info = await stat(join(cacheDir, entry)).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > hour)
      await rm(join(cacheDir, entry), { recursive: true, force: true });
  }
}
