/**
 * The retention function (daily): marks the backups the policy lets go as expirable, the only thing
 * the bucket's lifecycle rule deletes, and never the newest verified backup (lib/backup/retention.ts).
 */
import { applyRetention } from '../commands/retention.ts';
import type { StepContext } from '../lambda/handler.ts';

export async function retentionStep(_event: unknown, { runtime }: StepContext) {
  const { settings } = runtime;
  const outcome = await applyRetention(runtime.store, {
    now: new Date(),
    apply: true,
    policy: {
      keepLastVerified: settings.RETENTION_KEEP_LAST_VERIFIED,
      dailyDays: settings.RETENTION_DAILY_DAYS,
      weeklyWeeks: settings.RETENTION_WEEKLY_WEEKS,
      monthlyMonths: settings.RETENTION_MONTHLY_MONTHS,
    },
  });
  const kept = outcome.decisions.filter((d) => d.keep);
  return {
    backups: outcome.decisions.length,
    kept: kept.length,
    expirable: outcome.decisions.length - kept.length,
    marked: outcome.marked.length,
    unmarked: outcome.unmarked.length,
    newestVerified: outcome.decisions.find((d) => d.verified)?.backupId ?? 'none',
  };
}
