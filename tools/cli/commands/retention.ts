/**
 * `backupctl retention`: what the daily retention pass keeps and why, and what it lets the lifecycle
 * rule expire; read-only (the pass itself runs on the stage, or `--apply` locally and on a stage).
 */
import { applyRetention } from '../../../lib/commands/retention.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';

export async function retentionCommand({ place, values, out, deps }: CommandContext): Promise<number> {
  return withTarget(place, deps, async ({ runtime: { store, settings } }) => {
    const outcome = await applyRetention(store, {
      now: new Date(),
      apply: values.apply === true,
      // A stage's policy is its config's, as its retention function gets it.
      policy:
        place.kind === 'stage'
          ? {
              ...place.settings.config.retention,
              dailyDays:
                place.settings.config.retention.dailyDays ?? place.settings.config.bucket.retentionDays,
            }
          : {
              keepLastVerified: settings.RETENTION_KEEP_LAST_VERIFIED,
              dailyDays: settings.RETENTION_DAILY_DAYS,
              weeklyWeeks: settings.RETENTION_WEEKLY_WEEKS,
              monthlyMonths: settings.RETENTION_MONTHLY_MONTHS,
            },
    });
    const lines = outcome.decisions.map(
      (d) => `${d.backupId}  ${d.keep ? 'keep  ' : 'EXPIRE'}  ${d.reasons.join('; ')}`,
    );
    lines.push(...outcome.damaged.map((d) => `DAMAGED  ${d.key}: ${d.reason} (neither counted nor marked)`));
    const expiring = outcome.decisions.filter((d) => !d.keep).length;
    lines.push(
      values.apply === true
        ? `Marked ${outcome.marked.length} objects expirable, unmarked ${outcome.unmarked.length}.`
        : `${expiring} of ${outcome.decisions.length} backups may expire (nothing changed; --apply marks them).`,
    );
    out.print(lines.join('\n'), outcome);
    return exitCodes.ok;
  });
}
