/**
 * The retention function (daily): marks the backups the policy lets go as expirable, the only thing
 * the bucket's lifecycle rule deletes, and never the newest verified backup (lib/backup/retention.ts),
 * in every database's vault.
 */
import { newestVerifiedOf } from '../backup/catalog.ts';
import { applyRetention } from '../commands/retention.ts';
import type { StepContext } from '../lambda/handler.ts';

export async function retentionStep(_event: unknown, { runtime }: StepContext) {
  const { settings, store } = runtime;
  const policy = {
    keepLastVerified: settings.RETENTION_KEEP_LAST_VERIFIED,
    dailyDays: settings.RETENTION_DAILY_DAYS,
    weeklyWeeks: settings.RETENTION_WEEKLY_WEEKS,
    monthlyMonths: settings.RETENTION_MONTHLY_MONTHS,
  };
  // Every database's vault on its own: each keeps its own newest verified backup and ladder.
  const vaults = [store, ...(await store.databaseScopes()).map((scope) => store.forScope(scope))];
  const databases = [];
  for (const vault of vaults) {
    const outcome = await applyRetention(vault, { now: new Date(), apply: true, policy });
    const kept = outcome.decisions.filter((d) => d.keep);
    databases.push({
      vault: vault.scope ?? 'top-level',
      backups: outcome.decisions.length,
      kept: kept.length,
      expirable: outcome.decisions.length - kept.length,
      marked: outcome.marked.length,
      unmarked: outcome.unmarked.length,
      damaged: outcome.damaged.length,
      newestVerified: newestVerifiedOf(outcome.decisions)?.backupId ?? 'none',
    });
  }
  const [top] = databases;
  return { ...top, ...(databases.length > 1 ? { databases } : {}) };
}
