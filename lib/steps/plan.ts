/**
 * The Plan state, first of the backup: checks the execution input, reads the production database's
 * size and the newest backup's throughput, and decides where the dump runs (lib/backup/plan.ts) and
 * where Verify runs (VERIFY_VENUE). The decision and its reason stay in the execution history.
 */
import { z } from 'zod';
import { newestManifest } from '../backup/catalog.ts';
import { forDatabase, resolveDatabase } from '../backup/databases.ts';
import { planDump, venues } from '../backup/plan.ts';
import { placeDatabase } from '../backup/vault.ts';
import { defineStep } from '../lambda/step.ts';
import { readServerIdentity, withSession } from '../pg/session.ts';
import { databaseTargetSchema, dumpEventSchema, executionInputSchema, parseInput } from './input.ts';

export const planOutputSchema = z.object({
  dump: z.enum(venues),
  verify: z.enum(venues),
  databaseBytes: z.number(),
  bytesPerSecond: z.number(),
  throughputFrom: z.string(),
  estimatedDumpSeconds: z.number(),
  lambdaBudgetSeconds: z.number(),
  reason: z.string(),
  /** Which database, and its vault: every later step of the backup gets it as `target`. */
  target: databaseTargetSchema,
});

export const planStep = defineStep({
  event: 'Plan step event',
  input: dumpEventSchema,
  output: planOutputSchema,
  run: async ({ execution }, { runtime: stage }) => {
    const input = parseInput(executionInputSchema, execution, 'execution input');
    // Which database, and its vault: every later step gets this target from the plan. The connection
    // (its TLS settled once) is the URL's, pointed at that database.
    const connection = await stage.productionConnection();
    // The URL's database keeps the top-level vault only while it is its own (lib/backup/vault.ts).
    const target = await placeDatabase(stage.store, resolveDatabase(connection.database, input.database));
    const runtime = forDatabase(stage, target);
    const identity = await withSession({ ...connection, database: target.database }, readServerIdentity);
    const manifest = await newestManifest(runtime.store);
    return { ...planDump(identity.databaseSizeBytes, runtime.settings, manifest), target };
  },
});
