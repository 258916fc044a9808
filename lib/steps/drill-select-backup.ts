/** The SelectBackup state of the drill: the newest verified backup, or the id given; mints the drill id. */
import { newestVerifiedBackup, resolveBackupId } from '../backup/catalog.ts';
import { drillInputSchema, selectEventSchema } from '../drill/input.ts';
import { BackupNotFoundError } from '../errors.ts';
import type { StepContext } from '../lambda/handler.ts';
import { backupIdTime, newBackupId } from '../storage/keys.ts';
import { parseInput } from './input.ts';

export async function selectBackupStep(event: unknown, { runtime }: StepContext) {
  const { execution, startedAt } = parseInput(selectEventSchema, event, 'SelectBackup step event');
  const input = parseInput(drillInputSchema, execution, 'drill execution input');
  const started = startedAt ? new Date(startedAt) : new Date();
  const backupId =
    input.backupId === 'latest'
      ? (await newestVerifiedBackup(runtime.store))?.backupId
      : await resolveBackupId(runtime.store, input.backupId);
  if (!backupId) throw new BackupNotFoundError('there is no verified backup to drill with');
  const drillId = newBackupId(started);
  return {
    drillId,
    backupId,
    backupCreatedAt: backupIdTime(backupId).toISOString(),
    startedAt: started.toISOString(),
    trigger: input.trigger,
    ...(input.reason ? { reason: input.reason } : {}),
    /** Where RestoreAndCheck runs its scratch server: the stage's verification venue. */
    venue: runtime.settings.VERIFY_VENUE,
  };
}
