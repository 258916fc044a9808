/**
 * The Dump step: pg_dump -> SHA-256 -> S3 multipart upload under incoming/, with the exact row count of
 * every table taken in the very snapshot pg_dump reads, and a manifest beside the dump.
 *
 * Nothing touches the disk and memory does not grow with the database: the dump flows through one
 * Transform (hash + byte count) straight into the upload. The upload only completes when pg_dump
 * exited 0 (the Transform's flush waits for it), so a dump that fails at its very end never becomes
 * an object; any failure aborts the multipart upload.
 *
 * Its phases, each in a module of its own:
 *   exportSnapshot    dump-snapshot.ts   the holder session exports the snapshot and locks the tables
 *   abortStaleUploads stale-uploads.ts   earlier attempts' dead uploads under incoming/
 *   startCounting     dump-counting.ts   rows (and content) measured in that snapshot, beside pg_dump
 *   dumpAndUpload     dump-upload.ts     pg_dump -> hash -> upload (and the stream proof's digest)
 *   classifyDumpEnding dump-ending.ts    how it ended, most specific cause first (pure)
 *   proveTables       dump-counting.ts   the manifest's tables and content: stream, or scan
 *   buildManifest     dump-manifest.ts   the manifest literal (pure)
 */

import type { PgConnection } from '../pg/connection.ts';
import { type ContentAlgorithm, contentAlgorithmFor } from '../pg/content.ts';
import type { PgPrograms as Programs } from '../pg/process.ts';
import { defaultLockWaitSeconds } from '../pg/row-counts.ts';
import { openSession, readServerIdentity } from '../pg/session.ts';
import type { ProgressLog } from '../progress.ts';
import { type BackupStore, partSizeFor } from '../storage/backup-store.ts';
import { keys, newBackupId } from '../storage/keys.ts';
import { assertProductionNotOptedIn } from '../verify/restore-target-guard.ts';
import { proveTables, startCounting, wantsStreamProof } from './dump-counting.ts';
import { classifyDumpEnding } from './dump-ending.ts';
import { buildManifest } from './dump-manifest.ts';
import { exportSnapshot, lockWaitError } from './dump-snapshot.ts';
import { dumpAndUpload } from './dump-upload.ts';
import { type ChecksumSource, type Manifest, manifestProof, type ProofLevel } from './manifest.ts';
import { abortStaleUploads } from './stale-uploads.ts';
import type { DigestBesideOptions } from './stream-proof.ts';

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
   * Where the checksums come from: `stream`, the rows pg_dump writes, hashed as they pass to the store
   * (`copy-text-murmur3-sum64-v4`: production is read once; the setting's default, which the Dump step
   * passes); `scan`, a second read of every table in the dump's snapshot, independent of pg_dump's
   * output (`contentAlgorithm`), and what an unset source means here. A `contentAlgorithm` or an lz4
   * dump means a scan.
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
  /** How many snapshots were dropped because a table was rewritten under them (`exportSnapshot`). */
  rewriteRetries: number;
  /** What a verification of this backup can prove: `checksums` when the manifest holds them. */
  proof: ProofLevel;
}

/**
 * The dump as a sequence of phases: the snapshot exported and held (its tables locked), stale uploads
 * aborted, counting started beside pg_dump in that snapshot, pg_dump uploaded, its ending classified,
 * the tables proven, and the manifest written beside the dump. The holder commits only once pg_dump has
 * exited and the counting is done.
 */
export async function dumpToStore(request: DumpRequest, deps: DumpDependencies): Promise<DumpResult> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const backupId = newBackupId(startedAt, request.owner);
  const dumpKey = keys.incomingDump(backupId);
  const manifestKey = keys.incomingManifest(backupId);
  const withoutRowCounts = deps.withoutRowCounts ?? false;

  const holder = await openSession(deps.connection);
  try {
    const identity = await readServerIdentity(holder);
    await assertProductionNotOptedIn(holder);
    // Picks the client before anything is dumped: a server newer than every bundle fails here.
    const bundle = await deps.programs.clientForServer(identity.serverVersionNum);

    const lockWaitSeconds = deps.lockWaitSeconds ?? defaultLockWaitSeconds;
    const snapshot = await exportSnapshot(holder, {
      user: deps.connection.user,
      lockWaitSeconds,
      proof: deps.proof,
      rewriteRetryDelaysMs: deps.rewriteRetryDelaysMs,
      signal: deps.signal,
    });
    const abortedStaleUploads = await abortStaleUploads(deps.store, dumpKey, request.owner, startedAt);

    const streamed = wantsStreamProof({ ...deps, withoutRowCounts, compression: request.compression });
    const counting = startCounting(deps.connection, {
      snapshotId: snapshot.snapshotId,
      lockWaitSeconds,
      proof: deps.proof,
      scanAlgorithm: deps.contentAlgorithm ?? contentAlgorithmFor(identity.serverVersionNum),
      streamed,
      withoutRowCounts,
    });
    const dump = await dumpAndUpload({
      programs: deps.programs,
      bundle,
      connection: deps.connection,
      store: deps.store,
      dumpKey,
      compression: request.compression,
      snapshotId: snapshot.snapshotId,
      lockWaitSeconds,
      databaseSizeBytes: identity.databaseSizeBytes,
      digest: streamed,
      digestOptions: deps.streamDigest,
      signal: deps.signal,
      log: deps.log,
    });

    const ending = classifyDumpEnding({
      ...dump,
      aborted: deps.signal?.aborted ?? false,
      connection: deps.connection,
      dumpKey,
    });
    if (ending.kind === 'failed') throw ending.error;
    if (ending.kind === 'lock-wait') {
      throw await lockWaitError(holder, lockWaitSeconds, {
        exitCode: dump.exit.exitCode,
        stderr: ending.stderr,
      });
    }

    // Without counts there is no manifest, so Promote never promotes this dump; the dump role may not
    // delete, and the incoming/ lifecycle rule removes the object after a day.
    const proof = await proveTables(counting, dump.digest);
    const warnings = [...dump.warnings];
    if (proof.fallback) warnings.push(`content checksums taken by a scan: ${proof.fallback}`);
    await holder.query('COMMIT').catch(() => undefined);

    const { sha256, bytes } = dump.written();
    const manifest = buildManifest({
      backupId,
      request,
      connection: deps.connection,
      identity,
      bundle,
      dump: { bytes, sha256, partSizeBytes: partSizeFor(identity.databaseSizeBytes) },
      snapshot,
      startedAt,
      finishedAt: now(),
      dumpSeconds: dump.dumpSeconds,
      countSeconds: counting.seconds(),
      proof,
      warnings,
    });
    if (!withoutRowCounts) await deps.store.putJson(manifestKey, manifest);

    return {
      backupId,
      dumpKey,
      manifestKey,
      bytes,
      sha256,
      tables: proof.tables.length,
      rows: proof.tables.reduce((sum, t) => sum + t.rows, 0),
      proof: manifestProof(manifest),
      dumpSeconds: dump.dumpSeconds,
      compression: request.compression,
      serverVersion: identity.serverVersion,
      warnings: warnings.length,
      abortedStaleUploads,
      rewriteRetries: snapshot.rewriteRetries,
    };
  } finally {
    await holder.end().catch(() => undefined);
  }
}
