/**
 * Use case: the retention pass (lib/backup/retention.ts decides). Marks what may go with the tag the
 * lifecycle rule filters on (`expirable=true`, on the dump, its manifest and its verification record),
 * and takes the tag off anything a rule keeps again (a policy that grew, a newer backup that failed).
 * Tags are merged, never replaced: `verified` and `backup-id` stay. Without `apply` it only reports.
 */
import { type DamagedObject, readCatalog } from '../backup/catalog.ts';
import { planRetention, type RetentionDecision, type RetentionPolicy } from '../backup/retention.ts';
import type { BackupStore } from '../storage/backup-store.ts';

export const expirableTag = 'expirable';

export interface RetentionOutcome {
  decisions: RetentionDecision[];
  /** Objects tagged expirable by this pass, and objects whose tag it removed. */
  marked: string[];
  unmarked: string[];
  /** Objects that cannot be parsed or contradict their key: neither counted nor tagged, only listed. */
  damaged: DamagedObject[];
}

export async function applyRetention(
  store: BackupStore,
  options: { now: Date; policy: RetentionPolicy; apply: boolean },
): Promise<RetentionOutcome> {
  // Judged by the catalog: a damaged or re-failed backup is never "the newest verified".
  const catalog = await readCatalog(store);
  const objects = new Map(catalog.backups.map((entry) => [entry.backupId, entry.objects]));
  const decisions = planRetention(catalog.backups, options.now, options.policy);
  const outcome: RetentionOutcome = { decisions, marked: [], unmarked: [], damaged: catalog.damaged };
  if (!options.apply) return outcome;
  for (const decision of decisions) {
    for (const key of objects.get(decision.backupId) ?? []) {
      const tags = await store.getTags(key);
      const marked = tags[expirableTag] === 'true';
      if (!decision.keep && !marked) {
        await store.setTags(key, { ...tags, [expirableTag]: 'true' });
        outcome.marked.push(key);
      } else if (decision.keep && marked) {
        const { [expirableTag]: _dropped, ...rest } = tags;
        await store.setTags(key, rest);
        outcome.unmarked.push(key);
      }
    }
  }
  return outcome;
}
