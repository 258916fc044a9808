/**
 * The retention function (daily): marks the backups the policy lets go as expirable, the only thing
 * the bucket's lifecycle rule deletes, and never the newest verified backup (lib/backup/retention.ts),
 * in every database's vault; then the nights' globals/ that no kept backup of any vault needs.
 */
import { z } from 'zod';
import { newestVerifiedOf } from '../backup/catalog.ts';
import { applyGlobalsRetention, applyRetention, type RetentionOutcome } from '../commands/retention.ts';
import { defineStep } from '../lambda/step.ts';

/** What one vault's pass decided (counts; the decisions themselves are the backups' tags). */
const vaultRetentionSchema = z.object({
  vault: z.string(),
  backups: z.number(),
  kept: z.number(),
  expirable: z.number(),
  marked: z.number(),
  unmarked: z.number(),
  damaged: z.number(),
  newestVerified: z.string(),
});

/** The top-level vault's figures first (as before several databases), then every vault's. */
export const retentionOutputSchema = vaultRetentionSchema.partial().extend({
  databases: z.array(vaultRetentionSchema).optional(),
  globals: z.object({ records: z.number(), kept: z.number(), marked: z.number(), unmarked: z.number() }),
});

export const retentionStep = defineStep({
  event: 'retention event',
  // Started by its daily schedule, whose event says nothing the pass needs.
  input: z.unknown(),
  output: retentionOutputSchema,
  run: async (_event, { runtime }) => {
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
  },
});
