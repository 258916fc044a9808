/**
 * The RestoreToStaging state: guard, download and pg_restore into the staging database. Takes the
 * staging lease (lib/verify/staging-lease.ts); CompareRowCounts gives it back.
 */
import { readManifest } from '../backup/catalog.ts';
import type { StepContext } from '../lambda/handler.ts';
import { restoreToStaging } from '../verify/restore.ts';
import { parseInput, restoreEventSchema } from './input.ts';

export async function restoreStep(event: unknown, { runtime, signal }: StepContext) {
  const { backupId, executionId } = parseInput(restoreEventSchema, event, 'RestoreToStaging step event');
  const manifest = await readManifest(runtime.store, backupId);
  return restoreToStaging(manifest, {
    store: runtime.store,
    target: await runtime.stagingConnection(),
    programs: runtime.programs,
    jobs: runtime.settings.RESTORE_JOBS,
    workDir: runtime.settings.WORK_DIR,
    signal,
    lease: { owner: backupId, executionId },
  });
}
