/**
 * A scratch PostgreSQL server that one verification starts, owns and removes: initdb in the step's work
 * directory, reachable only on a unix socket in a private directory, tuned for a one-shot restore
 * (durability off: the data is thrown away), and gone afterwards with every file it held: also when the
 * restore fails, the deadline fires or the process is told to stop (lib/verify/scratch-registry.ts).
 * A run that was killed outright leaves its directory with its owner's pid; the next scratch server on
 * the machine stops what that run left running and removes it.
 *
 * Its lifecycle (initdb, start, wait until ready, stop) is the one every server here has
 * (lib/pg/server.ts); what is here is the scratch server's own: its directory, the disk check, its
 * settings, errors named from its log, and the clean-up after runs that were killed.
 *
 * Nothing here needs a superuser on any database we did not create, and nothing of production's
 * credentials comes near it: the server trusts connections on its own socket, whose directory only the
 * server's user (and root) can enter.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  BackupError,
  describeError,
  InsufficientSpaceError,
  ScratchServerError,
  StepTimeoutError,
} from '../errors.ts';
import { formatBytes } from '../notify/messages.ts';
import type { PgConnection } from '../pg/connection.ts';
import { describeExit, type RunAs } from '../pg/process.ts';
import { reachableBundle, reachableBy, serverUser } from '../pg/run-as.ts';
import { initCluster, type RunningServer, startServer, waitUntilReady } from '../pg/server.ts';
import type { ServerBundle } from '../pg/server-bundle.ts';
import { registerScratchServer, unregisterScratchServer } from './scratch-registry.ts';

export interface ScratchServerOptions {
  bundle: ServerBundle;
  /** Where the server's directory goes (the system temp dir when the server user cannot reach it). */
  workDir?: string | undefined;
  /** Bytes the directory must have free before initdb: the dump, the restored data, WAL, a margin. */
  requiredBytes?: number;
  /** Parallel restore jobs the server must serve. */
  jobs?: number;
  signal?: AbortSignal | undefined;
  /** Reads free space; tests replace it to simulate a full disk. */
  freeBytes?: (path: string) => Promise<number>;
}

export interface ScratchServer {
  /** The server's `postgres` database on its unix socket, as its superuser (no password). */
  readonly connection: PgConnection;
  readonly version: string;
  readonly major: number;
  /** The server's own directory: its data and anything the verification downloads live here. */
  readonly directory: string;
  /** Free bytes where the directory went, before initdb: what a disk that filled up had to start with. */
  readonly freeBytesAtStart: number;
  /** The last lines the server logged (startup, errors, its shutdown). */
  logTail(lines?: number): string[];
  /** False once the postmaster has exited (killed, out of memory, crashed). */
  alive(): boolean;
  /** Stops the server (immediate shutdown, then SIGKILL) and removes every file it had; safe to repeat. */
  stop(): Promise<void>;
}

/** The directory of each scratch server carries who made it, so a later run can tell it was left behind. */
const ownerFile = 'owner.json';
const scratchPrefix = 'scratch-';
/** WAL the server may keep (max_wal_size) plus room for sorts and catalog: part of the space check. */
export const scratchOverheadBytes = 1.25 * 1024 ** 3;
const logLines = 200;

/**
 * Free space needed to verify a backup on a scratch server: the downloaded dump, the restored data
 * (the source database's size, which includes its bloat, plus a quarter for index builds), and WAL.
 */
export function scratchSpaceFor(dumpBytes: number, databaseSizeBytes: number): number {
  return Math.ceil(dumpBytes + databaseSizeBytes * 1.25 + scratchOverheadBytes);
}

async function freeBytesOf(path: string): Promise<number> {
  const stats = await statfs(path);
  return Number(stats.bavail) * Number(stats.bsize);
}

function megabytes(bytes: number): string {
  return `${Math.max(1, Math.floor(bytes / 1024 ** 2))}MB`;
}

/** Settings for a server that exists for one restore: nothing it writes needs to survive a crash. */
export function scratchSettings(socketDir: string, jobs: number): Record<string, string> {
  const memory = totalmem();
  return {
    listen_addresses: '',
    unix_socket_directories: socketDir,
    fsync: 'off',
    full_page_writes: 'off',
    synchronous_commit: 'off',
    wal_level: 'minimal',
    max_wal_senders: '0',
    archive_mode: 'off',
    max_wal_size: '1GB',
    checkpoint_timeout: '30min',
    autovacuum: 'off',
    // Lambda and Fargate have no usable /dev/shm; PostgreSQL then still needs a tiny System V segment.
    dynamic_shared_memory_type: 'mmap',
    shared_memory_type: 'mmap',
    // The bundle carries no LLVM.
    jit: 'off',
    shared_buffers: megabytes(Math.min(1024 ** 3, Math.max(32 * 1024 ** 2, memory / 8))),
    maintenance_work_mem: megabytes(Math.min(2 * 1024 ** 3, Math.max(64 * 1024 ** 2, memory / 8))),
    max_connections: String(Math.max(20, jobs * 2 + 10)),
    max_parallel_maintenance_workers: String(Math.max(1, Math.min(jobs, 4))),
    log_min_messages: 'warning',
    log_checkpoints: 'off',
  };
}

/** The first of the candidate directories the server user can reach. */
function baseFor(candidates: string[], user: RunAs | undefined): string {
  const base = candidates.find((dir) => reachableBy(dir, user));
  if (!base) {
    throw new ScratchServerError(
      `the PostgreSQL server user cannot reach ${candidates.join(' nor ')}: give the directories on the way execute permission for others (chmod o+x) or set WORK_DIR to a directory it can reach`,
    );
  }
  return base;
}

export async function startScratchServer(options: ScratchServerOptions): Promise<ScratchServer> {
  const user = await serverUser();
  const bundle = await reachableBundle(options.bundle, user);
  if (options.workDir) await mkdir(options.workDir, { recursive: true });
  const base = baseFor([...(options.workDir ? [options.workDir] : []), tmpdir()], user);
  await removeAbandonedScratchServers(base);

  const free = await (options.freeBytes ?? freeBytesOf)(base);
  if (options.requiredBytes !== undefined) {
    if (free < options.requiredBytes) {
      throw new InsufficientSpaceError(
        `${base} has ${formatBytes(free)} free; verifying this backup needs ${formatBytes(options.requiredBytes)} (dump, restored data, WAL and a margin; docs/architecture.md). Give the worker or function more disk, or set WORK_DIR to a larger file system`,
        { details: { freeBytes: free, requiredBytes: options.requiredBytes } },
      );
    }
  }

  const directory = await mkdtemp(join(base, scratchPrefix));
  // Short, so the socket path stays under the 107 bytes a unix socket name may have.
  const socketDir = await mkdtemp(join(tmpdir(), 'pgs-'));
  const dataDir = join(directory, 'data');
  const log: string[] = [];
  const onLine = (line: string) => {
    log.push(line);
    if (log.length > logLines) log.shift();
  };
  let postgres: RunningServer | undefined;
  let stopped: Promise<void> | undefined;
  const removeAll = async () => {
    await rm(directory, { recursive: true, force: true });
    await rm(socketDir, { recursive: true, force: true });
  };
  const server: ScratchServer = {
    connection: {
      host: socketDir,
      port: 5432,
      user: 'postgres',
      password: undefined,
      database: 'postgres',
      sslmode: 'disable',
      sslrootcert: undefined,
    },
    version: bundle.version,
    major: bundle.major,
    directory,
    freeBytesAtStart: free,
    logTail: (lines = 10) => log.slice(-lines),
    alive: () => postgres?.alive() ?? false,
    stop() {
      stopped ??= (async () => {
        unregisterScratchServer(server);
        // SIGQUIT is PostgreSQL's immediate shutdown: no shutdown checkpoint, which would write every
        // dirty buffer (up to shared_buffers, 1 GiB) only for the files to be removed next. The
        // bench measured 2.6 s to stop after a 1 GiB restore with the fast shutdown. SIGKILL if it hangs.
        await postgres?.stop('SIGQUIT', 10_000);
        await removeAll();
      })();
      return stopped;
    },
  };
  registerScratchServer(server);

  try {
    await chmod(directory, 0o711);
    await writeFile(join(directory, ownerFile), JSON.stringify({ pid: process.pid, startedAt: new Date() }));
    await mkdir(dataDir, { mode: 0o700 });
    if (user) {
      await chown(dataDir, user.uid, user.gid);
      await chown(socketDir, user.uid, user.gid);
    }
    await chmod(socketDir, 0o700);

    const initdb = await initCluster({
      bundle,
      runAs: user,
      dataDir,
      auth: ['--auth=trust'],
      onLine,
      signal: options.signal,
    });
    if (initdb.outcome === 'aborted')
      throw new StepTimeoutError('scratch server setup stopped by the deadline');
    if (initdb.outcome !== 'ok') {
      throw new ScratchServerError(`initdb failed for the scratch server: ${describeExit(initdb, 8)}`, {
        details: { exitCode: initdb.exitCode, log: initdb.lastLines.slice(-20) },
      });
    }

    postgres = startServer({
      bundle,
      runAs: user,
      dataDir,
      settings: scratchSettings(socketDir, options.jobs ?? 2),
      onLine,
      tailLines: logLines,
    });
    await waitUntilReady(postgres, {
      client: {
        host: server.connection.host,
        port: server.connection.port,
        user: server.connection.user,
        database: server.connection.database,
      },
      pollMs: 50,
      deadline: {
        signal: options.signal,
        error: () => new StepTimeoutError('scratch server start stopped by the deadline'),
      },
      failures: {
        exited: () =>
          new ScratchServerError(
            `the scratch server did not start: ${server.logTail(8).join(' | ') || 'no log output'}`,
            { details: { log: server.logTail(20) } },
          ),
        timedOut: (cause) =>
          new ScratchServerError(
            `the scratch server did not accept connections within 60 s: ${server.logTail(8).join(' | ')}`,
            { cause },
          ),
      },
    });
    return server;
  } catch (error) {
    await server.stop();
    if (error instanceof BackupError) throw error;
    throw new ScratchServerError(`the scratch server could not be started: ${describeError(error)}`, {
      cause: error,
    });
  }
}

/**
 * Scratch directories whose owner process is gone (killed with SIGKILL, out of memory): their server,
 * if it still runs, is stopped and the directory removed. A directory of a live process is left alone.
 */
export async function removeAbandonedScratchServers(base: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = (await readdir(base)).filter((name) => name.startsWith(scratchPrefix));
  } catch {
    return removed;
  }
  for (const name of entries) {
    const directory = join(base, name);
    const owner = await readFile(join(directory, ownerFile), 'utf8')
      .then((text) => JSON.parse(text) as { pid?: number })
      .catch(() => undefined);
    if (!owner?.pid || processAlive(owner.pid)) continue;
    const postmaster = await readFile(join(directory, 'data', 'postmaster.pid'), 'utf8')
      .then((text) => Number(text.split('\n')[0]))
      .catch(() => undefined);
    if (postmaster && (await commandLineOf(postmaster)).includes(join(directory, 'data'))) {
      // Its backends outlive a killed postmaster for a moment and keep writing (a COPY of the
      // restore): they are found before it dies and killed too, and the removal waits for all of them.
      const processes = [postmaster, ...(await childrenOf(postmaster))];
      for (const pid of processes) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone between the check and the kill.
        }
      }
      for (const end = Date.now() + 10_000; Date.now() < end && processes.some(processAlive); ) {
        await new Promise((next) => setTimeout(next, 50));
      }
    }
    // A last file written as a backend exits makes rmdir fail with ENOTEMPTY: try again.
    await rm(directory, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    removed.push(directory);
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The processes whose parent is `pid` (/proc/<pid>/stat, field 4). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // The command name (field 2) is parenthesised and may hold spaces: the fields after it are not.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent === pid) children.push(Number(entry));
  }
  return children;
}

async function commandLineOf(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8')
    .then((text) => text.replaceAll('\0', ' '))
    .catch(() => '');
}

/** A name for the database a verification restores into, on a server nothing else uses. */
export function scratchDatabaseName(): string {
  return `verify_${randomBytes(3).toString('hex')}`;
}
