/** The Promote state: move a finished dump and its manifest from incoming/ into backups/. */
import { z } from 'zod';
import { promoteToVault } from '../backup/promote.ts';
import { defineStep } from '../lambda/step.ts';
import { backupIdEventSchema } from './input.ts';

export const promoteOutputSchema = z.object({
  backupId: z.string(),
  dumpKey: z.string(),
  manifestKey: z.string(),
  bytes: z.number(),
});

export const promoteStep = defineStep({
  event: 'Promote step event',
  input: backupIdEventSchema,
  output: promoteOutputSchema,
  scope: (event) => event.target,
  run: ({ backupId }, { runtime }) => promoteToVault(backupId, runtime.store),
});
