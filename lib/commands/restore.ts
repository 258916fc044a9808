/**
 * Use case: restore a backup into a database someone names (`backupctl restore --target-url`), then
 * count every table of the manifest there. The target must not be production and must have opted in
 * (lib/verify/restore-target-guard.ts); the dump is re-hashed while it downloads. The comparison is
 * data: the caller decides what a mismatch means (the CLI exits 3).
 */
import { readManifest, resolveBackupId } from '../backup/catalog.ts';
import type { PgConnection } from '../pg/connection.ts';
import { withSession } from '../pg/session.ts';
import type { ProgressLog } from '../progress.ts';
import type { Runtime } from '../runtime.ts';
import { type CompareResult, compareRowCounts } from '../verify/compare.ts';
import { type RestoreResult, restoreToStaging } from '../verify/restore.ts';
import { requireGlobals } from '../verify/roles.ts';

export interface RestoreOutcome extends RestoreResult {
  backupId: string;
  compare: CompareResult;
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
  } = {},
): Promise<RestoreOutcome> {
  const backupId = await resolveBackupId(runtime.store, idOrLatest);
  const manifest = await readManifest(runtime.store, backupId);
  // The roles are the server's, kept once a night beside the top-level vault.
  const roles = options.withRoles
    ? await requireGlobals(runtime.store.forScope(undefined), new Date(manifest.createdAt))
    : undefined;
  const restored = await restoreToStaging(manifest, {
    roles,
    store: runtime.store,
    target,
    programs: runtime.programs,
    jobs: options.jobs ?? runtime.settings.RESTORE_JOBS,
    workDir: runtime.settings.WORK_DIR,
    signal: options.signal,
    log: options.log,
    guard: { production: runtime.productionConnection, targetNotProduction: options.targetNotProduction },
  });
  const compare = await withSession(target, (session) => compareRowCounts(session, manifest));
  return { backupId, ...restored, compare };
}
