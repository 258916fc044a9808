/**
 * The Dump step's pg_dump phase: pg_dump in the exported snapshot, its output hashed on the way into
 * one multipart upload (and, for the stream proof, read beside it). Nothing touches the disk. The
 * upload only completes when pg_dump exited 0 (the hashing stream's flush waits for it), so a dump
 * that fails at its very end never becomes an object. How it ended is for `classifyDumpEnding`.
 */
import { DumpFailedError, describeError, StepTimeoutError } from '../errors.ts';
import type { PgBundle } from '../pg/client.ts';
import type { PgConnection } from '../pg/connection.ts';
import { describeExit, type PgExit, type PgPrograms } from '../pg/process.ts';
import { type ProgressLog, reportProgress } from '../progress.ts';
import { type BackupStore, partSizeFor } from '../storage/backup-store.ts';
import { createHashingStream } from '../storage/hashing-stream.ts';
import { type DigestBesideOptions, digestBeside, type StreamDigest } from './stream-proof.ts';

/** At most this many of pg_dump's stderr lines go into the manifest. */
const maxWarnings = 50;

export interface DumpUploadOptions {
  programs: PgPrograms<'pg_dump'>;
  bundle: PgBundle;
  connection: PgConnection;
  store: BackupStore;
  dumpKey: string;
  compression: string;
  snapshotId: string;
  lockWaitSeconds: number;
  /** The source database's size: the upload's part size, and the progress estimate. */
  databaseSizeBytes: number;
  /** Read the archive beside the upload for the stream proof. */
  digest: boolean;
  /** The stream digest's bound (and, in tests, a digest slowed on purpose): stream-proof.ts. */
  digestOptions?: DigestBesideOptions | undefined;
  signal?: AbortSignal | undefined;
  log?: ProgressLog | undefined;
}

export interface DumpUpload {
  exit: PgExit;
  /** What the upload threw, if it did. */
  uploadError: unknown;
  /** pg_dump's stderr showed a statement timeout on its lock query. */
  lockWaitTimedOut: boolean;
  dumpSeconds: number;
  /** pg_dump's first stderr lines, secret-free. */
  warnings: string[];
  /** SHA-256 and size of what was uploaded: read once, after a complete dump. */
  written(): { sha256: string; bytes: number };
  /** With `digest`: the archive's digest, read beside the upload. */
  digest: Promise<StreamDigest> | undefined;
}

export async function dumpAndUpload(options: DumpUploadOptions): Promise<DumpUpload> {
  const { signal } = options;
  const dumpStarted = Date.now();
  let statementTimedOut = false;
  let lockWaitTimedOut = false;
  const pgDump = options.programs.start(
    options.bundle,
    'pg_dump',
    [
      '--format=custom',
      `--compress=${options.compression}`,
      `--snapshot=${options.snapshotId}`,
      `--lock-wait-timeout=${options.lockWaitSeconds}s`,
      '--no-password',
    ],
    {
      connection: options.connection,
      signal,
      tailLines: maxWarnings,
      onStderrLine: (line) => {
        // "Query was: LOCK TABLE" follows any error of pg_dump's lock phase; only after a statement
        // timeout is it a lock wait (a missing privilege fails the same query at once).
        statementTimedOut ||= /canceling statement due to statement timeout/.test(line);
        lockWaitTimedOut ||= statementTimedOut && isLockQuery(line);
      },
    },
  );

  // The upload completes only if pg_dump exited 0: the stream's end waits for the exit code.
  const hashing = createHashingStream(() =>
    pgDump.exit.then((exit) => {
      if (exit.outcome !== 'ok')
        throw new DumpFailedError(describeExit(exit), {
          details: { code: exit.exitCode, signal: exit.signal },
        });
    }),
  );
  const body = hashing.stream;
  pgDump.child.stdout?.pipe(body);
  const digesting = options.digest ? digestBeside(pgDump.child.stdout, options.digestOptions) : undefined;
  // The compressed size is unknown until the end: the database's size lets a reader estimate it.
  const progress = reportProgress(options.log, 'dump', { databaseBytes: options.databaseSizeBytes });
  let written = 0;
  pgDump.child.stdout?.on('data', (chunk: Buffer) => {
    written += chunk.length;
    progress.update(written);
  });

  // The runner stops pg_dump on the same signal; the upload must stop reading too.
  const onAbort = () =>
    body.destroy(new StepTimeoutError('dump stopped before the Lambda timeout; upload aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });

  let uploadError: unknown;
  try {
    await options.store.uploadStream(options.dumpKey, body, {
      partSize: partSizeFor(options.databaseSizeBytes),
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    uploadError = error;
    // The upload stopped reading: pg_dump would block on a full pipe forever. Nothing else may hold
    // its output either (the content digest beside the upload), or its exit is never seen.
    pgDump.stop();
    digesting?.abandon();
    pgDump.child.stdout?.unpipe();
    pgDump.child.stdout?.resume();
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  const exit = await pgDump.exit;
  const dumpSeconds = (Date.now() - dumpStarted) / 1000;
  progress.done();
  return {
    exit,
    uploadError,
    lockWaitTimedOut,
    dumpSeconds,
    warnings: exit.firstLines.map((line) => describeError(line)),
    written: () => hashing.result(),
    digest: digesting?.digest,
  };
}

/** pg_dump's lock phase: "Query was: LOCK TABLE ... IN ACCESS SHARE MODE" under the failed query. */
function isLockQuery(line: string): boolean {
  return /Query was: LOCK TABLE .* IN ACCESS SHARE MODE/.test(line);
}
