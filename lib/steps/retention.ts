/**
 * The retention function (daily): marks the backups the policy lets go as expirable, the only thing
 * the bucket's lifecycle rule deletes, and never the newest verified backup (lib/backup/retention.ts),
 * in every database's vault; then the nights' globals/ that no kept backup of any vault needs.
 */
import { newestVerifiedOf } from '../backup/catalog.ts';
import { applyGlobalsRetention, applyRetention, type RetentionOutcome } from '../commands/retention.ts';
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
  const now = runtime.now();
  const databases = [];
  const keptBackups: RetentionOutcome['kept'] = [];
  for (const vault of vaults) {
    const outcome = await applyRetention(vault, { now, apply: true, policy });
    keptBackups.push(...outcome.kept);
    databases.push({
      vault: vault.scope ?? 'top-level',
      backups: outcome.decisions.length,
      kept: outcome.kept.length,
      expirable: outcome.decisions.length - outcome.kept.length,
      marked: outcome.marked.length,
      unmarked: outcome.unmarked.length,
      damaged: outcome.damaged.length,
      newestVerified: newestVerifiedOf(outcome.decisions)?.backupId ?? 'none',
    });
  }
  // One night's roles serve every database: judged once all vaults' kept backups are known.
  const globals = await applyGlobalsRetention(store.forScope(undefined), {
    now,
    apply: true,
    kept: keptBackups,
    policy,
  });
  const [top] = databases;
  return {
    ...top,
    ...(databases.length > 1 ? { databases } : {}),
    globals: {
      records: globals.decisions.length,
      kept: globals.decisions.filter((d) => d.keep).length,
      marked: globals.marked.length,
      unmarked: globals.unmarked.length,
    },
  };
}
