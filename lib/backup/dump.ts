/**
 * The Dump step: pg_dump -> SHA-256 -> S3 multipart upload under incoming/, with the exact row count of
 * every table taken in the very snapshot pg_dump reads, and a manifest beside the dump.
 *
 * Nothing touches the disk and memory does not grow with the database: the dump flows through one
 * Transform (hash + byte count) straight into the upload. The upload only completes when pg_dump
 * exited 0 (the Transform's flush waits for it), so a dump that fails at its very end never becomes
 * an object; any failure aborts the multipart upload.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  BackupError,
  DumpFailedError,
  describeError,
  SnapshotError,
  StepTimeoutError,
  TableLockedError,
  TablePrivilegeError,
  TableRewrittenDuringDumpError,
  TableRowSecurityError,
} from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import {
  type ContentAlgorithm,
  contentAlgorithmFor,
  contentSettings,
  type SequenceValue,
  sequenceValues,
} from '../pg/content.ts';
import { describeLockHolders } from '../pg/lock-holders.ts';
import { readOwnership } from '../pg/ownership.ts';
import {
  grantFix,
  type RelationAccess,
  readRelationAccess,
  rowSecurityFix,
  serverRefusal,
} from '../pg/privileges.ts';
import { describeExit, type PgPrograms as Programs } from '../pg/process.ts';
import {
  defaultLockWaitSeconds,
  listTables,
  measureInSnapshot,
  type SnapshotMeasure,
} from '../pg/row-counts.ts';
import {
  installedExtensions,
  openSession,
  quoteIdentifier,
  readServerIdentity,
  type Session,
} from '../pg/session.ts';
import { type BesideStream, measureBesideStream } from '../pg/stream-content.ts';
import { lockTablesForRead, tablesRewrittenSinceSnapshot } from '../pg/table-locks.ts';
import { type ProgressLog, reportProgress } from '../progress.ts';
import { type BackupStore, partSizeFor } from '../storage/backup-store.ts';
import { createHashingStream } from '../storage/hashing-stream.ts';
import { backupIdOwnedBy, backupIdTime, isBackupId, keys, newBackupId } from '../storage/keys.ts';
import { assertProductionNotOptedIn } from '../verify/restore-target-guard.ts';
import { classifyDumpEnding } from './dump-ending.ts';
import { type ChecksumSource, type Manifest, manifestProof, type ProofLevel } from './manifest.ts';
import {
  type DigestBesideOptions,
  digestBeside,
  proofFromStream,
  streamableCompression,
} from './stream-proof.ts';

export interface DumpRequest {
  compression: string;
  trigger: Manifest['trigger'];
  reason?: string | undefined;
  /** The execution this dump belongs to: tags the backup id so its retries can clean up after it. */
  owner?: string | undefined;
}

export type PgPrograms = Programs<'pg_dump'>;

export interface DumpDependencies {
  store: BackupStore;
  connection: PgConnection;
  programs: PgPrograms;
  now?: () => Date;
  /** Aborted by the step's early-timeout guard: stop pg_dump, abort the upload, fail with a name. */
  signal?: AbortSignal;
  /** How long pg_dump and the counting wait for a table lock; default `defaultLockWaitSeconds`. */
  lockWaitSeconds?: number;
  /**
   * `checksums`: the counting session also takes every table's content checksum in the same scan, the
   * large objects' and the sequences' values (lib/pg/content.ts); `counts`: row counts only.
   */
  proof: ProofLevel;
  /**
   * The algorithm of checksums taken by a scan; default the newest the server supports
   * (`contentAlgorithmFor`). The benchmark and the tests of manifests written before v4 ask for v1 to v3.
   */
  contentAlgorithm?: ContentAlgorithm;
  /**
   * Where the checksums come from: `scan` (default), a second read of every table in the dump's
   * snapshot, independent of pg_dump's output (`contentAlgorithm`); `stream`, the rows pg_dump writes,
   * hashed as they pass to the store (`copy-text-murmur3-sum64-v4`: production is read once). A
   * `contentAlgorithm` or an lz4 dump means a scan.
   */
  checksumSource?: ChecksumSource;
  /** The stream digest's bound (and, in tests, a digest slowed on purpose): lib/backup/stream-proof.ts. */
  streamDigest?: DigestBesideOptions;
  /**
   * The benchmark's "without counts" scenario: the same dump and upload with no counting session and
   * no manifest. Without a manifest the dump can never be promoted, let alone verified.
   */
  withoutRowCounts?: boolean;
  /** Where the dump's progress goes (bytes written so far; lib/progress.ts). */
  log?: ProgressLog | undefined;
  /** The waits before each new snapshot after a rewrite; default `rewriteRetryDelaysMs`. */
  rewriteRetryDelaysMs?: readonly number[];
}

export interface DumpResult {
  backupId: string;
  dumpKey: string;
  manifestKey: string;
  bytes: number;
  sha256: string;
  tables: number;
  rows: number;
  dumpSeconds: number;
  compression: string;
  serverVersion: string;
  warnings: number;
  abortedStaleUploads: number;
  /** How many snapshots were dropped because a table was rewritten under them (`exportLockedSnapshot`). */
  rewriteRetries: number;
  /** What a verification of this backup can prove: `checksums` when the manifest holds them. */
  proof: ProofLevel;
}

/** At most this many of pg_dump's stderr lines go into the manifest. */
const maxWarnings = 50;

/** No dump attempt lives longer than one Lambda (15 min); an upload older than this is an orphan. */
export const orphanedUploadAgeMs = 20 * 60_000;

/**
 * An upload whose attempt died while the store was unreachable could not be aborted then. A dump
 * aborts the incomplete uploads under incoming/ that are certainly dead: those of its own execution's
 * earlier attempts (their backup ids carry the execution's tag; a retry starts only after the previous
 * attempt ended) and those older than any Lambda can live. A concurrent execution's upload in progress
 * is left alone. The bucket's lifecycle rule aborts whatever this misses after a day.
 */
async function abortStaleUploads(
  store: BackupStore,
  ownKey: string,
  owner: string | undefined,
  now: Date,
): Promise<number> {
  const stale = (await store.listIncompleteUploads('incoming/')).filter((upload) => {
    if (upload.key === ownKey) return false;
    const backupId = /^incoming\/([^/]+)\.(?:dump|manifest\.json)$/.exec(upload.key)?.[1];
    if (!backupId || !isBackupId(backupId)) return false;
    const ours = owner !== undefined && backupIdOwnedBy(backupId, owner);
    return ours || now.getTime() - backupIdTime(backupId).getTime() > orphanedUploadAgeMs;
  });
  for (const upload of stale) await store.abortUpload(upload.key, upload.uploadId);
  return stale.length;
}

export async function dumpToStore(request: DumpRequest, deps: DumpDependencies): Promise<DumpResult> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const backupId = newBackupId(startedAt, request.owner);
  const dumpKey = keys.incomingDump(backupId);
  const manifestKey = keys.incomingManifest(backupId);

  const holder = await openSession(deps.connection);
  let abortedStaleUploads = 0;
  try {
    const identity = await readServerIdentity(holder);
    await assertProductionNotOptedIn(holder);
    // Picks the client before anything is dumped: a server newer than every bundle fails here.
    const bundle = await deps.programs.clientForServer(identity.serverVersionNum);

    const lockWaitSeconds = deps.lockWaitSeconds ?? defaultLockWaitSeconds;
    const { snapshotId, extensions, ownership, sequences, rewriteRetries } = await exportLockedSnapshot(
      holder,
      deps,
      lockWaitSeconds,
    );

    abortedStaleUploads = await abortStaleUploads(deps.store, dumpKey, request.owner, startedAt);
    const scanAlgorithm = deps.contentAlgorithm ?? contentAlgorithmFor(identity.serverVersionNum);
    // v4 (CHECKSUM_SOURCE=stream, opt-in): the rows are hashed from the dump stream; production is not
    // scanned again.
    const streamed =
      deps.proof === 'checksums' &&
      !deps.withoutRowCounts &&
      deps.checksumSource === 'stream' &&
      deps.contentAlgorithm === undefined &&
      streamableCompression(request.compression);
    const countStarted = Date.now();
    let countSeconds = 0;
    const inSnapshot = async <T>(measure: (counter: Session) => Promise<T>): Promise<T> => {
      const counter = await openSession(deps.connection);
      try {
        const result = await measure(counter);
        countSeconds = (Date.now() - countStarted) / 1000;
        return result;
      } catch (error) {
        if (error instanceof BackupError) throw error;
        throw new SnapshotError(`counting rows in snapshot failed: ${describeError(error)}`, {
          cause: error,
        });
      } finally {
        await counter.end().catch(() => undefined);
      }
    };
    const scanInSnapshot = (content: ContentAlgorithm | undefined) =>
      inSnapshot((counter) =>
        measureInSnapshot(counter, snapshotId, {
          lockWaitSeconds,
          tablesLockedByExporter: true,
          ...(content ? { content } : {}),
        }),
      );
    const counting: Promise<SnapshotMeasure | BesideStream> = deps.withoutRowCounts
      ? Promise.resolve({ tables: [] })
      : streamed
        ? inSnapshot((counter) => measureBesideStream(counter, snapshotId, scanAlgorithm))
        : scanInSnapshot(deps.proof === 'checksums' ? scanAlgorithm : undefined);
    // Counting runs beside the dump; a rejection is awaited below, never left unhandled.
    counting.catch(() => undefined);

    const dumpStarted = Date.now();
    let statementTimedOut = false;
    let lockWaitTimedOut = false;
    const pgDump = deps.programs.start(
      bundle,
      'pg_dump',
      [
        '--format=custom',
        `--compress=${request.compression}`,
        `--snapshot=${snapshotId}`,
        `--lock-wait-timeout=${lockWaitSeconds}s`,
        '--no-password',
      ],
      {
        connection: deps.connection,
        signal: deps.signal,
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
    const digesting = streamed ? digestBeside(pgDump.child.stdout, deps.streamDigest) : undefined;
    // The compressed size is unknown until the end: the database's size lets a reader estimate it.
    const progress = reportProgress(deps.log, 'dump', { databaseBytes: identity.databaseSizeBytes });
    let written = 0;
    pgDump.child.stdout?.on('data', (chunk: Buffer) => {
      written += chunk.length;
      progress.update(written);
    });

    // The runner stops pg_dump on the same signal; the upload must stop reading too.
    const onAbort = () =>
      body.destroy(new StepTimeoutError('dump stopped before the Lambda timeout; upload aborted'));
    deps.signal?.addEventListener('abort', onAbort, { once: true });

    let uploadError: unknown;
    try {
      await deps.store.uploadStream(dumpKey, body, {
        partSize: partSizeFor(identity.databaseSizeBytes),
        ...(deps.signal ? { signal: deps.signal } : {}),
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
      deps.signal?.removeEventListener('abort', onAbort);
    }
    const exit = await pgDump.exit;
    const dumpSeconds = (Date.now() - dumpStarted) / 1000;
    progress.done();
    const warnings = exit.firstLines.map((line) => describeError(line));

    const ending = classifyDumpEnding({
      exit,
      aborted: deps.signal?.aborted ?? false,
      uploadError,
      lockWaitTimedOut,
      connection: deps.connection,
      dumpKey,
    });
    if (ending.kind === 'failed') throw ending.error;
    if (ending.kind === 'lock-wait') {
      throw new TableLockedError(
        `pg_dump waited ${lockWaitSeconds} s for a table lock and gave up: ${await describeLockHolders(holder)}`,
        { details: { lockWaitSeconds, exitCode: exit.exitCode, stderr: ending.stderr } },
      );
    }

    // Without counts there is no manifest, so Promote never promotes this dump; the dump role may not
    // delete, and the incoming/ lifecycle rule removes the object after a day.
    const measured = await counting;
    const proven =
      'settings' in measured && digesting ? proofFromStream(measured, await digesting.digest) : undefined;
    // The stream could not be read (a table without its data block, an archive this reader does not
    // know): the same snapshot is still held, so the checksums are taken by a scan instead.
    const scanned =
      'settings' in measured ? (proven?.content ? undefined : await scanInSnapshot(scanAlgorithm)) : measured;
    if (proven && !proven.content) warnings.push(`content checksums taken by a scan: ${proven.reason}`);
    await holder.query('COMMIT').catch(() => undefined);
    const tables = proven?.content ? proven.tables : (scanned?.tables ?? []);
    const content = scanned?.content;

    const { sha256, bytes } = hashing.result();
    const finishedAt = now();
    const manifest: Manifest = {
      manifestVersion: 1,
      backupId,
      createdAt: startedAt.toISOString(),
      trigger: request.trigger,
      ...(request.reason ? { reason: request.reason } : {}),
      source: {
        host: deps.connection.host,
        port: deps.connection.port,
        database: identity.database,
        serverVersion: identity.serverVersion,
        serverVersionNum: identity.serverVersionNum,
        systemIdentifier: identity.systemIdentifier,
        databaseSizeBytes: identity.databaseSizeBytes,
      },
      client: { program: 'pg_dump', version: bundle.version, bundleMajor: bundle.major },
      format: 'custom',
      compression: request.compression,
      dump: { bytes, sha256, partSizeBytes: partSizeFor(identity.databaseSizeBytes) },
      snapshotId,
      timings: {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        dumpSeconds,
        countSeconds,
      },
      tables,
      ...(proven?.content
        ? { content: { ...proven.content, sequences } }
        : content
          ? {
              content: {
                algorithm: content.algorithm,
                settings: { ...contentSettings },
                largeObjects: content.largeObjects,
                sequences,
              },
            }
          : {}),
      extensions,
      ownership,
      warnings,
    };
    if (!deps.withoutRowCounts) await deps.store.putJson(manifestKey, manifest);

    return {
      backupId,
      dumpKey,
      manifestKey,
      bytes,
      sha256,
      tables: tables.length,
      rows: tables.reduce((sum, t) => sum + t.rows, 0),
      proof: manifestProof(manifest),
      dumpSeconds,
      compression: request.compression,
      serverVersion: identity.serverVersion,
      warnings: warnings.length,
      abortedStaleUploads,
      rewriteRetries,
    };
  } finally {
    await holder.end().catch(() => undefined);
  }
}

/**
 * A new snapshot after a table was rewritten under the previous one: a migration that truncates or
 * rewrites tables usually commits within seconds, so two more attempts spaced by a growing wait.
 */
export const rewriteRetryDelaysMs: readonly number[] = [2_000, 10_000];

/** The commands that give a table a new file, as the error names them (words in a message, not SQL). */
const rewritingCommands = 'TRUNCATE, ALTER TABLE, VACUUM FULL or CLUSTER';

interface LockedSnapshot {
  snapshotId: string;
  extensions: Manifest['extensions'];
  ownership: Manifest['ownership'];
  sequences: SequenceValue[];
  rewriteRetries: number;
}

/**
 * Exports the snapshot pg_dump will read on `holder` and, in that same transaction, locks every table
 * pg_dump dumps, before pg_dump starts. From then on no table can be rewritten until the dump ends (the
 * holder commits after pg_dump exits). A rewrite that committed between the export and the lock (a
 * transaction already running `TRUNCATE` or `ALTER TABLE ... TYPE` when the backup began) would make the
 * snapshot read the new, empty file: such a snapshot is dropped and a new one taken, and after
 * `rewriteRetryDelaysMs` run out the dump fails with TableRewrittenDuringDumpError. Nothing has been
 * uploaded yet, so there is nothing to abort. Tables the role cannot read in full fail first, with the
 * query `backupctl check` runs.
 */
async function exportLockedSnapshot(
  holder: Session,
  deps: DumpDependencies,
  lockWaitSeconds: number,
): Promise<LockedSnapshot> {
  const delays = deps.rewriteRetryDelaysMs ?? rewriteRetryDelaysMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows } = await holder.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      const snapshotId = rows[0]?.id ?? '';
      const extensions = await installedExtensions(holder);
      const ownership = await readOwnership(holder);
      const access = await readRelationAccess(holder);
      if (access.unreadable.length > 0 || access.rowSecurity.length > 0) {
        throw accessError(deps.connection.user, access, await serverRefusal(holder, access));
      }
      await lockTablesForRead(holder, await listTables(holder), lockWaitSeconds, 'the dump');
      const rewritten = await tablesRewrittenSinceSnapshot(holder);
      if (rewritten.length === 0) {
        // Not transactional: read now, before pg_dump reads them, so a restored one is never behind.
        const sequences = deps.proof === 'checksums' ? await sequenceValues(holder) : [];
        return { snapshotId, extensions, ownership, sequences, rewriteRetries: attempt };
      }
      await holder.query('ROLLBACK');
      const wait = delays[attempt];
      if (wait === undefined) {
        throw new TableRewrittenDuringDumpError(
          `${rewritten.join(', ')} ${rewritten.length === 1 ? 'was' : 'were'} rewritten (${rewritingCommands}) after the dump's snapshot was taken and before its tables were locked (${attempt + 1} ${attempt === 0 ? 'attempt' : 'attempts in a row'}); a dump would have read ${rewritten.length === 1 ? 'it' : 'them'} empty or incomplete`,
          { details: { tables: rewritten.slice(0, 50), attempts: attempt + 1 } },
        );
      }
      await sleep(wait, undefined, deps.signal ? { signal: deps.signal } : {}).catch(() => undefined);
      if (deps.signal?.aborted) throw new StepTimeoutError('dump stopped before the Lambda timeout');
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw new SnapshotError(`could not export a snapshot: ${describeError(error)}`, { cause: error });
    }
  }
}

/**
 * What `backupctl check` says about the same relations, as a named error: unreadable ones first (the
 * GRANT to run), else those row-level security would filter.
 */
function accessError(user: string, access: RelationAccess, refusal: string | undefined): BackupError {
  const list = (names: string[]) => names.slice(0, 10).join(', ') + (names.length > 10 ? ', ...' : '');
  const said = refusal ? ` (PostgreSQL: ${describeError(refusal)})` : '';
  if (access.unreadable.length > 0) {
    return new TablePrivilegeError(
      `${quoteIdentifier(user)} may not read ${list(access.unreadable)}: ${grantFix(
        user,
        access.refused.filter((r) => !r.readable),
      )}${said}`,
      { details: { tables: access.unreadable.slice(0, 50), rowSecurity: access.rowSecurity.slice(0, 50) } },
    );
  }
  return new TableRowSecurityError(
    `row-level security applies to ${quoteIdentifier(user)} on ${list(access.rowSecurity)}: pg_dump would fail on ${access.rowSecurity.length === 1 ? 'it' : 'them'} rather than dump only the rows its policies show; ${rowSecurityFix}${said}`,
    { details: { tables: access.rowSecurity.slice(0, 50) } },
  );
}

/** pg_dump's lock phase: "Query was: LOCK TABLE ... IN ACCESS SHARE MODE" under the failed query. */
function isLockQuery(line: string): boolean {
  return /Query was: LOCK TABLE .* IN ACCESS SHARE MODE/.test(line);
}
