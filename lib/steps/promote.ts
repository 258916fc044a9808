/** The Promote state: move a finished dump and its manifest from incoming/ into backups/. */
import { forDatabase } from '../backup/databases.ts';
import { promoteToVault } from '../backup/promote.ts';
import type { StepContext } from '../lambda/handler.ts';
import { backupIdEventSchema, parseInput } from './input.ts';

export async function promoteStep(event: unknown, { runtime }: StepContext) {
  const { backupId, target } = parseInput(backupIdEventSchema, event, 'Promote step event');
  return promoteToVault(backupId, forDatabase(runtime, target).store);
}
