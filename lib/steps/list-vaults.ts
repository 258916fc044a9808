/**
 * The quarterly drills' first state: every database with backups in the bucket (the top-level vault's
 * and each db=<name> vault), each to be drilled in a drill execution of its own. Read from the bucket
 * alone: a drill never connects to production.
 */
import { z } from 'zod';
import { newestManifest } from '../backup/catalog.ts';
import { drillInputSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { executionIdField, parseInput } from './input.ts';

const listVaultsEventSchema = z.strictObject({ execution: z.unknown(), executionId: executionIdField });

export async function listVaultsStep(event: unknown, { runtime }: StepContext) {
  const { execution } = parseInput(listVaultsEventSchema, event, 'ListVaults step event');
  const input = parseInput(
    drillInputSchema.pick({ trigger: true, reason: true }),
    execution,
    'drills execution input',
  );
  const databases: string[] = [];
  const newest = await newestManifest(runtime.store);
  if (newest) databases.push(newest.source.database);
  databases.push(...(await runtime.store.databaseScopes()));
  return {
    trigger: input.trigger,
    concurrency: runtime.settings.DATABASE_CONCURRENCY,
    databases: databases.map((database) => ({ ...input, database })),
  };
}
