/**
 * The nightly run's Globals state: the server's roles and tablespaces (lib/backup/globals.ts), once per
 * night for every database of the server. Its failure is alerted and fails the night at the end, but
 * never keeps the databases from being backed up.
 */
import { z } from 'zod';
import { dumpGlobals } from '../backup/globals.ts';
import type { StepContext } from '../lambda/handler.ts';
import { parseInput } from './input.ts';

const globalsEventSchema = z.strictObject({ executionId: z.string().max(2048).optional() });

export async function globalsStep(event: unknown, { runtime }: StepContext) {
  const { executionId } = parseInput(globalsEventSchema, event, 'Globals step event');
  const record = await dumpGlobals({
    store: runtime.store,
    connection: await runtime.productionConnection(),
    programs: runtime.programs,
    owner: executionId,
    now: runtime.now,
  });
  const { roles, skipped, ...figures } = record;
  return { ...figures, roles: roles.length, skipped: skipped.length };
}
