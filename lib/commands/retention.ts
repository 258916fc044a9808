/**
 * Use case: the retention pass (lib/backup/retention.ts decides). Marks what may go with the tag the
 * lifecycle rule filters on (`expirable=true`, on the dump, its manifest and its verification record),
 * and takes the tag off anything a rule keeps again (a policy that grew, a newer backup that failed).
 * Tags are merged, never replaced: `verified` and `backup-id` stay. Without `apply` it only reports.
 */
import { type CatalogEntry, type DamagedObject, readCatalog } from '../backup/catalog.ts';
import { globalsIdOf, globalsPrefix } from '../backup/globals.ts';
import {
  type GlobalsDecision,
  planGlobalsRetention,
  planRetention,
  type RetentionDecision,
  type RetentionPolicy,
} from '../backup/retention.ts';
import type { BackupStore } from '../storage/backup-store.ts';

export const expirableTag = 'expirable';

export interface RetentionOutcome {
  decisions: RetentionDecision[];
  /** Objects tagged expirable by this pass, and objects whose tag it removed. */
  marked: string[];
  unmarked: string[];
  /** Objects that cannot be parsed or contradict their key: neither counted nor tagged, only listed. */
  damaged: DamagedObject[];
  /** The backups the policy keeps: what the globals' pass keeps the roles of. */
  kept: Pick<CatalogEntry, 'backupId' | 'createdAt' | 'globalsId'>[];
}

export async function applyRetention(
  store: BackupStore,
  options: { now: Date; policy: RetentionPolicy; apply: boolean },
): Promise<RetentionOutcome> {
  // Judged by the catalog: a damaged or re-failed backup is never "the newest verified".
  const catalog = await readCatalog(store);
  const objects = new Map(catalog.backups.map((entry) => [entry.backupId, entry.objects]));
  const decisions = planRetention(catalog.backups, options.now, options.policy);
  const keeps = new Set(decisions.filter((d) => d.keep).map((d) => d.backupId));
  const outcome: RetentionOutcome = {
    decisions,
    marked: [],
    unmarked: [],
    damaged: catalog.damaged,
    kept: catalog.backups
      .filter((entry) => keeps.has(entry.backupId))
      .map(({ backupId, createdAt, globalsId }) => ({ backupId, createdAt, globalsId })),
  };
  if (!options.apply) return outcome;
  for (const decision of decisions) {
    await markObjects(store, objects.get(decision.backupId) ?? [], decision.keep, outcome);
  }
  return outcome;
}

/** Tags `keys` expirable, or takes the tag off when they are kept again; merged, never replaced. */
async function markObjects(
  store: BackupStore,
  keys: readonly string[],
  keep: boolean,
  outcome: { marked: string[]; unmarked: string[] },
): Promise<void> {
  for (const key of keys) {
    const tags = await store.getTags(key);
    const marked = tags[expirableTag] === 'true';
    if (!keep && !marked) {
      await store.setTags(key, { ...tags, [expirableTag]: 'true' });
      outcome.marked.push(key);
    } else if (keep && marked) {
      const { [expirableTag]: _dropped, ...rest } = tags;
      await store.setTags(key, rest);
      outcome.unmarked.push(key);
    }
  }
}

export interface GlobalsRetentionOutcome {
  decisions: GlobalsDecision[];
  marked: string[];
  unmarked: string[];
}

/**
 * The globals' pass (lib/backup/retention.ts, planGlobalsRetention), after every vault's: `kept` is
 * every vault's kept backups. `store` is the bucket's top level, where globals/ is.
 */
export async function applyGlobalsRetention(
  store: BackupStore,
  options: { now: Date; apply: boolean; kept: RetentionOutcome['kept']; policy: RetentionPolicy },
): Promise<GlobalsRetentionOutcome> {
  const objects = new Map<string, string[]>();
  for (const object of await store.list(globalsPrefix)) {
    const id = globalsIdOf(object.key);
    if (id !== undefined) objects.set(id, [...(objects.get(id) ?? []), object.key]);
  }
  const decisions = planGlobalsRetention(
    [...objects.keys()],
    options.kept,
    options.now,
    options.policy.dailyDays,
  );
  const outcome: GlobalsRetentionOutcome = { decisions, marked: [], unmarked: [] };
  if (!options.apply) return outcome;
  for (const decision of decisions) {
    await markObjects(store, objects.get(decision.id) ?? [], decision.keep, outcome);
  }
  return outcome;
}
