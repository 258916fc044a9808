/**
 * Use case: restore a backup into a database someone names (`backupctl restore --target-url`), then
 * compare it with the manifest as the nightly Verify does: every table's count and, where the dump
 * recorded them, content checksums (counts alone only with `countsOnly`, which the result says). The
 * target must not be production and must have opted in (lib/verify/restore-target-guard.ts); the dump
 * is re-hashed while it downloads. A backup that is not verified (lib/backup/catalog.ts) is refused
 * before anything is downloaded unless `allowUnverified`, and the result carries why it is not. The
 * comparison is data: the caller decides what a mismatch means (the CLI exits 3).
 */
import { requireVerified, resolveBackup, type SkippedBackup } from '../backup/catalog.ts';
import type { PgConnection } from '../pg/connection.ts';
import { withSession } from '../pg/session.ts';
import type { ProgressLog } from '../progress.ts';
import type { Runtime } from '../runtime.ts';
import {
  type CompareResult,
  compareBesideIndexes,
  compareRowCounts,
  digestRestoredBeside,
} from '../verify/compare.ts';
import { type RestoreResult, restoreToStaging } from '../verify/restore.ts';
import { requireGlobals } from '../verify/roles.ts';

export interface RestoreOutcome extends Omit<RestoreResult, 'digested'> {
  backupId: string;
  compare: CompareResult;
  /** Wall time of the comparison on the target (counts, and content unless countsOnly). */
  compareSeconds: number;
  /** The rows were read beside pg_restore's post-data section (COMPARE_BESIDE_INDEXES). */
  comparedBeside?: true;
  /** Why the backup is not verified, when `allowUnverified` let it through. */
  unverified?: string;
  /** `latest` only: the newer backups it passed by, and why. */
  skipped: SkippedBackup[];
}

export async function restoreBackup(
  runtime: Pick<Runtime, 'store' | 'programs' | 'settings' | 'productionConnection'>,
  idOrLatest: string,
  target: PgConnection,
  options: {
    jobs?: number | undefined;
    signal?: AbortSignal | undefined;
    log?: ProgressLog | undefined;
    /** Recreate the night's roles first and keep owners and grants; checked against the manifest. */
    withRoles?: boolean | undefined;
    /** The operator's word that the target is not production, for when the servers cannot tell. */
    targetNotProduction?: boolean | undefined;
    /** Restore a backup that is not verified (the outcome says why it is not). */
    allowUnverified?: boolean | undefined;
    /** Compare row counts only, even where the manifest recorded content checksums. */
    countsOnly?: boolean | undefined;
  } = {},
): Promise<RestoreOutcome> {
  const { backupId, entry, skipped } = await resolveBackup(runtime.store, idOrLatest);
  requireVerified(entry, options.allowUnverified === true);
  const { manifest } = entry;
  // The roles are the server's, kept once a night beside the top-level vault.
  const roles = options.withRoles
    ? await requireGlobals(runtime.store.forScope(undefined), new Date(manifest.createdAt))
    : undefined;
  const jobs = options.jobs ?? runtime.settings.RESTORE_JOBS;
  const restored = await restoreToStaging(manifest, {
    roles,
    store: runtime.store,
    target,
    programs: runtime.programs,
    jobs,
    workDir: runtime.settings.WORK_DIR,
    signal: options.signal,
    log: options.log,
    guard: { production: runtime.productionConnection, targetNotProduction: options.targetNotProduction },
    // With content compared, the v4 digests are read while pg_restore builds indexes and constraints.
    readBeside:
      options.countsOnly !== true && compareBesideIndexes(runtime.settings.COMPARE_BESIDE_INDEXES, jobs)
        ? (restoredDb) => digestRestoredBeside(restoredDb, manifest, jobs)
        : undefined,
  });
  const compareStarted = Date.now();
  const compare = await withSession(target, (session) =>
    compareRowCounts(session, manifest, {
      content: options.countsOnly !== true,
      // As many sessions as pg_restore had: the target took that many a moment ago.
      parallel: { connection: { ...target, database: restored.database }, jobs },
      digested: restored.digested,
    }),
  );
  const compareSeconds = (Date.now() - compareStarted) / 1000;
  // The digests are the comparison's input, not part of the answer (they would only grow it).
  const { digested, ...answer } = restored;
  return {
    backupId,
    ...answer,
    ...(digested ? { comparedBeside: true } : {}),
    compare,
    compareSeconds,
    skipped,
    ...(entry.verified ? {} : { unverified: entry.reason }),
  };
}
