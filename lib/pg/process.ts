/**
 * The one way PostgreSQL programs are started and waited for (dump, restore, archive listing, the
 * benchmark, short psql calls): through the bundle's loader (lib/pg/client.ts knows the layout), with
 * stderr streamed line by line into a bounded tail, the deadline signal honoured, and the exit
 * classified. A non-zero exit is data here; what it means (DumpFailedError, RestoreFailedError, ...) is
 * the caller's decision, because only the caller knows which messages are benign.
 *
 *   startPgProcess(bundle, program, args, options) -> PgProcess  { child, exit: Promise<PgExit>, stop() }
 *   runPgProcess(bundle, program, args, options)   -> Promise<PgExit & { stdout }>  (short commands)
 */

import type { StdioNull, StdioPipe } from 'node:child_process';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Stream } from 'node:stream';
import { redactConnectionString } from '../errors.ts';
import {
  loaderPath,
  type PgBundle,
  type PgProgram,
  pgProgramEnvironment,
  pgPrograms,
  programPath,
} from './client.ts';
import type { PgConnection } from './connection.ts';
import { runsDirectly, serverPaths } from './server-bundle.ts';

/** The programs of a server bundle (the scratch server): initdb, and postgres itself. */
export type ServerProgram = 'postgres' | 'initdb';
export type AnyPgProgram = PgProgram | ServerProgram;

/** A user to run a program as: PostgreSQL refuses to run as root (containers, CodeBuild). */
export interface RunAs {
  uid: number;
  gid: number;
}

export interface PgProcessOptions {
  /** Where to connect; becomes libpq environment variables (the password never reaches argv). */
  connection?: PgConnection;
  /** Extra variables, applied last (e.g. PGOPTIONS). */
  env?: Record<string, string>;
  /** `pipe` (the caller writes child.stdin), `ignore`, or a stream with a descriptor (another program's output). */
  stdin?: StdioPipe | StdioNull | Stream;
  /** `pipe` (the caller reads child.stdout), `ignore`, or a file descriptor to write to. */
  stdout?: StdioPipe | StdioNull | number;
  cwd?: string;
  /** Aborting stops the program (SIGTERM, then SIGKILL after `killAfterMs`); the exit says `aborted`. */
  signal?: AbortSignal | undefined;
  killAfterMs?: number;
  /** Called for every stderr line as it arrives (restore classifies its errors this way). */
  onStderrLine?: (line: string) => void;
  /** How many of the last non-empty stderr lines the exit keeps (default 50). */
  tailLines?: number;
  /** Run as this user (the scratch server when we are root). */
  runAs?: RunAs | undefined;
  /** Also collect stdout lines like stderr (postgres and initdb log to both). */
  mergeStdout?: boolean;
}

/** The PostgreSQL programs a step uses: a client for its server, and how to start one of them. */
export interface PgPrograms<Program extends PgProgram = PgProgram> {
  clientForServer(serverVersionNum: number): Promise<PgBundle>;
  start(
    bundle: PgBundle,
    program: Program,
    args: string[],
    options: PgProcessOptions & { connection: PgConnection },
  ): PgProcess;
}

export type PgExitOutcome = 'ok' | 'failed' | 'killed' | 'aborted';

export interface PgExit {
  program: AnyPgProgram;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /**
   * ok: exit 0. failed: a non-zero exit. killed: ended by a signal nobody here sent (OOM killer, a
   * crash). aborted: stopped because the caller's signal fired (a deadline) or `stop()` was called.
   */
  outcome: PgExitOutcome;
  /** The first and the last non-empty stderr lines (bounded), in order. */
  firstLines: string[];
  lastLines: string[];
  stderrLineCount: number;
}

export interface PgProcess {
  readonly child: ChildProcess;
  /** Settles once the program has exited and stderr is drained; rejects only if it could not start. */
  readonly exit: Promise<PgExit>;
  /** Stops the program; its exit then says `aborted`. */
  stop(): void;
}

const defaultTailLines = 50;
const defaultKillAfterMs = 10_000;

function pathOf(bundle: PgBundle, program: AnyPgProgram): string {
  if (program === 'postgres' || program === 'initdb') return serverPaths[program](bundle);
  if (!pgPrograms.includes(program)) throw new TypeError(`unknown PostgreSQL program ${program}`);
  return programPath(bundle, program);
}

export function startPgProcess(
  bundle: PgBundle,
  program: AnyPgProgram,
  args: string[],
  options: PgProcessOptions = {},
): PgProcess {
  const lib = join(bundle.dir, 'lib');
  // An embedded-layout server bundle carries no loader: its programs find their libraries themselves.
  const [command, argv] = runsDirectly(bundle)
    ? [pathOf(bundle, program), args]
    : [loaderPath(bundle), ['--library-path', lib, pathOf(bundle, program), ...args]];
  const child = spawn(command, argv, {
    env: pgProgramEnvironment(bundle, options),
    stdio: [options.stdin ?? 'ignore', options.mergeStdout ? 'pipe' : (options.stdout ?? 'pipe'), 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
  });

  const tail = options.tailLines ?? defaultTailLines;
  const firstLines: string[] = [];
  const lastLines: string[] = [];
  let stderrLineCount = 0;
  let partial = '';
  const takeLine = (raw: string) => {
    const line = raw.trim();
    if (!line) return;
    stderrLineCount++;
    if (firstLines.length < tail) firstLines.push(line);
    lastLines.push(line);
    if (lastLines.length > tail) lastLines.shift();
    options.onStderrLine?.(line);
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) takeLine(line);
  });
  if (options.mergeStdout) {
    let partialOut = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partialOut + chunk.toString('utf8')).split('\n');
      partialOut = lines.pop() ?? '';
      for (const line of lines) takeLine(line);
    });
    child.stdout?.on('end', () => takeLine(partialOut));
  }

  let stopped = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    if (stopped || child.exitCode !== null || child.signalCode !== null) return;
    stopped = true;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? defaultKillAfterMs);
    killTimer.unref();
  };
  const onAbort = () => stop();
  if (options.signal?.aborted) queueMicrotask(stop);
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const exit = new Promise<PgExit>((resolveExit, reject) => {
    child.once('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      takeLine(partial);
      partial = '';
      const outcome: PgExitOutcome = stopped
        ? 'aborted'
        : code === 0
          ? 'ok'
          : code === null
            ? 'killed'
            : 'failed';
      resolveExit({ program, exitCode: code, signal, outcome, firstLines, lastLines, stderrLineCount });
    });
  });
  return { child, exit, stop };
}

export type PgProcessResult = PgExit & { stdout: string; stderr: string };

/** For short commands whose output fits in memory (`--version`, `psql -c`). */
export async function runPgProcess(
  bundle: PgBundle,
  program: AnyPgProgram,
  args: string[],
  options: Omit<PgProcessOptions, 'stdin' | 'stdout'> & { input?: string | Buffer } = {},
): Promise<PgProcessResult> {
  const { input, ...rest } = options;
  const stderr: string[] = [];
  const started = startPgProcess(bundle, program, args, {
    ...rest,
    stdin: input === undefined ? 'ignore' : 'pipe',
    stdout: 'pipe',
    onStderrLine: (line) => {
      stderr.push(line);
      rest.onStderrLine?.(line);
    },
  });
  const stdout: Buffer[] = [];
  started.child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  if (input !== undefined) started.child.stdin?.end(input);
  const exit = await started.exit;
  return { ...exit, stdout: Buffer.concat(stdout).toString('utf8'), stderr: stderr.join('\n') };
}

/** A one-line account of an exit for error messages: `pg_dump exited 1: <last lines>`. */
export function describeExit(exit: PgExit, lines = 5): string {
  const how =
    exit.outcome === 'killed'
      ? `was killed by ${exit.signal}`
      : `exited with ${exit.exitCode ?? exit.signal}`;
  const said = redactConnectionString(exit.lastLines.slice(-lines).join(' | '));
  return `${exit.program} ${how}${said ? `: ${said}` : ''}`;
}
