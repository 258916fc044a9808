/**
 * The Verify state: restore the backup where the stage says (a scratch server of our own by default,
 * or the standing staging database) and count every table of the manifest there. A difference fails
 * with RowCountMismatchError carrying the diff; the scratch server is gone either way.
 */
import { readManifest } from '../backup/catalog.ts';
import { verifyBackup } from '../commands/verify-backup.ts';
import type { StepContext } from '../lambda/handler.ts';
import { assertCountsMatch } from '../verify/compare.ts';
import { parseInput, restoreEventSchema } from './input.ts';

export async function verifyStep(event: unknown, { runtime, signal }: StepContext) {
  const { backupId, executionId } = parseInput(restoreEventSchema, event, 'Verify step event');
  const manifest = await readManifest(runtime.store, backupId);
  const outcome = await verifyBackup(runtime, manifest, { signal, lease: { owner: backupId, executionId } });
  assertCountsMatch(
    outcome.compare,
    backupId,
    outcome.target === 'scratch' ? `the scratch server (PostgreSQL ${outcome.serverVersion})` : 'staging',
  );
  const { checks: _checks, compare, ...figures } = outcome;
  return {
    ...figures,
    compare: {
      status: compare.status,
      tablesCompared: compare.tablesCompared,
      rowsCompared: compare.rowsCompared,
    },
  };
}
