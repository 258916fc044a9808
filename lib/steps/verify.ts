/**
 * The Verify state: restore the backup where the stage says (a scratch server of our own by default,
 * or the standing staging database) and compare every table of the manifest there: its count, and its
 * content where the dump recorded checksums and PROOF_LEVEL asks for them. A difference fails with
 * RowCountMismatchError or ContentMismatchError carrying the diff; the scratch server is gone either way.
 */
import { readManifest } from '../backup/catalog.ts';
import { forDatabase } from '../backup/databases.ts';
import { verifyBackup } from '../commands/verify-backup.ts';
import type { StepContext } from '../lambda/handler.ts';
import { assertRestoreMatches } from '../verify/compare.ts';
import { parseInput, restoreEventSchema } from './input.ts';

export async function verifyStep(event: unknown, { runtime: stage, signal, logger }: StepContext) {
  const { backupId, executionId, target } = parseInput(restoreEventSchema, event, 'Verify step event');
  const runtime = forDatabase(stage, target);
  const manifest = await readManifest(runtime.store, backupId);
  const outcome = await verifyBackup(runtime, manifest, {
    signal,
    log: logger,
    lease: { owner: backupId, executionId },
    content: runtime.settings.PROOF_LEVEL === 'checksums',
  });
  assertRestoreMatches(
    outcome.compare,
    backupId,
    outcome.target === 'scratch' ? `the scratch server (PostgreSQL ${outcome.serverVersion})` : 'staging',
  );
  const { checks: _checks, compare, ...figures } = outcome;
  return {
    ...figures,
    compare: {
      status: compare.status,
      proof: compare.proof,
      tablesCompared: compare.tablesCompared,
      rowsCompared: compare.rowsCompared,
    },
  };
}
