/**
 * The nightly run's Globals state: the server's roles and tablespaces (lib/backup/globals.ts), once per
 * night for every database of the server. Its failure is alerted and fails the night at the end, but
 * never keeps the databases from being backed up.
 */
import { z } from 'zod';
import { dumpGlobals } from '../backup/globals.ts';
import { defineStep } from '../lambda/step.ts';
import { executionIdField } from './input.ts';

const globalsEventSchema = z.strictObject({ executionId: executionIdField });

/** The globals record's figures: the role names stay in the bucket, their count travels. */
export const globalsOutputSchema = z.object({
  globalsVersion: z.literal(1),
  id: z.string(),
  createdAt: z.string(),
  serverVersion: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  roles: z.number(),
  skipped: z.number(),
});

export const globalsStep = defineStep({
  event: 'Globals step event',
  input: globalsEventSchema,
  output: globalsOutputSchema,
  run: async ({ executionId }, { runtime }) => {
    const record = await dumpGlobals({
      store: runtime.store,
      connection: await runtime.productionConnection(),
      programs: runtime.programs,
      owner: executionId,
      now: runtime.now,
    });
    const { roles, skipped, ...figures } = record;
    return { ...figures, roles: roles.length, skipped: skipped.length };
  },
});
