/**
 * The quarterly drills' first state: every database with backups in the bucket (the top-level vault's
 * and each db=<name> vault), each to be drilled in a drill execution of its own. Read from the bucket
 * alone: a drill never connects to production. A database still awaiting its first verified backup
 * (added lately, lib/backup/catalog.ts vaultFreshness) is listed apart and not drilled: there is
 * nothing to drill yet, and a failed drill would page for a database that is new, not broken. One
 * unverified for longer than the RPO is drilled, and its drill fails naming why. It also says whether
 * Render's newest export is drilled after them (when Render is configured).
 */
import { z } from 'zod';
import { newestManifest, readCatalog, vaultFreshness } from '../backup/catalog.ts';
import { drillInputSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { defineStep } from '../lambda/step.ts';
import { executionIdField, parseInput } from './input.ts';

const listVaultsEventSchema = z.strictObject({ execution: z.unknown(), executionId: executionIdField });

/**
 * Whether the drills also drill Render's newest export (the RenderDrill state on the worker), and why
 * not when they do not: the execution's history says so.
 */
function renderDrillPlan(settings: StepContext['runtime']['settings']): { drill: boolean; reason: string } {
  if (!settings.RENDER_POSTGRES_ID) {
    return {
      drill: false,
      reason: 'skipped: Render is not configured (stage config render.postgresId / RENDER_POSTGRES_ID)',
    };
  }
  return {
    drill: true,
    reason: `Render Postgres ${settings.RENDER_POSTGRES_ID}: its newest export is drilled`,
  };
}

/** The drills' execution input: why, and by whom; each drill's own input names its database. */
export const drillsInputSchema = drillInputSchema.pick({ trigger: true, reason: true });

/** The Map's items: each the input of one drill execution (statemachines/drill.asl.json). */
export const vaultListSchema = z.object({
  trigger: drillInputSchema.shape.trigger.unwrap(),
  /** Whether Render's newest export is drilled after them, and why (not). */
  render: z.object({ drill: z.boolean(), reason: z.string() }),
  concurrency: z.number().int().min(1),
  databases: z.array(drillsInputSchema.extend({ database: z.string() })),
  /** Databases with backups but none verified yet, within the RPO: not drilled this time. */
  awaitingFirstVerifiedBackup: z.array(z.string()),
});

export const listVaultsStep = defineStep({
  event: 'ListVaults step event',
  input: listVaultsEventSchema,
  output: vaultListSchema,
  run: async ({ execution }, { runtime }) => {
    const input = parseInput(drillsInputSchema, execution, 'drills execution input');
    const { store, settings } = runtime;
    const vaults: { database: string; store: typeof store }[] = [];
    const newest = await newestManifest(store);
    if (newest) vaults.push({ database: newest.source.database, store });
    for (const scope of await store.databaseScopes())
      vaults.push({ database: scope, store: store.forScope(scope) });
    const now = runtime.now();
    const databases: string[] = [];
    const awaitingFirstVerifiedBackup: string[] = [];
    for (const vault of vaults) {
      const freshness = vaultFreshness(await readCatalog(vault.store), now, settings.RPO_HOURS);
      (freshness.awaitingFirst ? awaitingFirstVerifiedBackup : databases).push(vault.database);
    }
    return {
      trigger: input.trigger,
      render: renderDrillPlan(settings),
      concurrency: settings.DATABASE_CONCURRENCY,
      databases: databases.map((database) => ({ ...input, database })),
      awaitingFirstVerifiedBackup,
    };
  },
});
