/** The drill's Restore state: the backup restored into the drill database, download and restore timed. */
import { readManifest } from '../backup/catalog.ts';
import { drillBackupEventSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { withDatabase } from '../pg/connection.ts';
import { restoreToStaging } from '../verify/restore.ts';
import { parseInput } from './input.ts';

export async function drillRestoreStep(event: unknown, { runtime, signal }: StepContext) {
  const { backupId, drillDatabase } = parseInput(drillBackupEventSchema, event, 'Restore step event');
  const manifest = await readManifest(runtime.store, backupId);
  return restoreToStaging(manifest, {
    store: runtime.store,
    target: withDatabase(await runtime.stagingConnection(), drillDatabase),
    programs: runtime.programs,
    jobs: runtime.settings.RESTORE_JOBS,
    workDir: runtime.settings.WORK_DIR,
    signal,
  });
}
