/**
 * The SelectBackup state of the drill: the newest verified backup (lib/backup/catalog.ts,
 * vaultFreshness: the reading status and the age alarm share), or the id given; mints the drill id.
 */
import {
  noVerifiedBackupText,
  readCatalog,
  readManifest,
  resolveBackupId,
  vaultFreshness,
} from '../backup/catalog.ts';
import { vaultOf } from '../backup/databases.ts';
import { drillInputSchema, selectEventSchema, selectedSchema } from '../drill/input.ts';
import { BackupNotFoundError } from '../errors.ts';
import { defineStep } from '../lambda/step.ts';
import { backupIdTime, newBackupId } from '../storage/keys.ts';
import { parseInput } from './input.ts';

export const selectBackupStep = defineStep({
  event: 'SelectBackup step event',
  input: selectEventSchema,
  output: selectedSchema,
  run: async ({ execution, startedAt }, { runtime }) => {
    const input = parseInput(drillInputSchema, execution, 'drill execution input');
    const started = startedAt ? new Date(startedAt) : new Date();
    // A named database's vault, found from the bucket (the drill never connects to production).
    const store = input.database === undefined ? runtime.store : await vaultOf(runtime.store, input.database);
    let backupId: string;
    if (input.backupId === 'latest') {
      const freshness = vaultFreshness(await readCatalog(store), started, runtime.settings.RPO_HOURS);
      if (!freshness.entry) {
        const which = input.database ? `database ${input.database}` : 'the database';
        throw new BackupNotFoundError(
          `there is no verified backup to drill with: ${which} has no verified backup yet (${noVerifiedBackupText(freshness)})`,
        );
      }
      backupId = freshness.entry.backupId;
    } else {
      backupId = await resolveBackupId(store, input.backupId);
    }
    const database = input.database ?? (await readManifest(store, backupId)).source.database;
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
      target: { database, scope: store.scope ?? null },
    };
  },
});
