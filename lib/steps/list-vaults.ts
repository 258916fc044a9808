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

export async function listVaultsStep(event: unknown, { runtime }: StepContext) {
  const { execution } = parseInput(listVaultsEventSchema, event, 'ListVaults step event');
  const input = parseInput(
    drillInputSchema.pick({ trigger: true, reason: true }),
    execution,
    'drills execution input',
  );
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
}
