/**
 * The Verify state: restore the backup where the stage says (a scratch server of our own by default,
 * or the standing staging database) and compare every table of the manifest there: its count, and its
 * content where the dump recorded checksums and PROOF_LEVEL asks for them. A difference fails with
 * RowCountMismatchError or ContentMismatchError carrying the diff; the scratch server is gone either way.
 */
import { z } from 'zod';
import { readManifest } from '../backup/catalog.ts';
import { proofLevels } from '../backup/manifest.ts';
import { verifyBackup } from '../commands/verify-backup.ts';
import { defineStep } from '../lambda/step.ts';
import { assertRestoreMatches } from '../verify/compare.ts';
import { restoreEventSchema } from './input.ts';

/** The night's roles replayed, and owners and grants checked (lib/verify/roles.ts RolesOutcome). */
export const rolesOutcomeSchema = z.object({
  globalsId: z.string(),
  skipped: z.array(z.string()),
  ownership: z.enum(['match', 'not recorded']),
});

/** The comparison's figures: the per-table differences fail the step before it answers. */
export const compareFiguresSchema = z.object({
  status: z.enum(['match', 'mismatch']),
  /** Absent in the output of a Verify deployed before content checksums: it compared counts. */
  proof: z.enum(proofLevels).default('counts'),
  tablesCompared: z.number(),
  rowsCompared: z.number(),
});

export const verifyOutputSchema = z.object({
  backupId: z.string(),
  /** Where the backup was restored: a scratch server of ours, or the standing staging database. */
  target: z.enum(['scratch', 'staging']),
  serverVersion: z.string(),
  serverStartSeconds: z.number().optional(),
  serverStopSeconds: z.number().optional(),
  downloadSeconds: z.number(),
  restoreSeconds: z.number(),
  compareSeconds: z.number(),
  benignMessages: z.array(z.string()),
  /** Where the night's roles were kept: replayed, and owners and grants checked. */
  roles: rolesOutcomeSchema.optional(),
  compare: compareFiguresSchema,
});

export const verifyStep = defineStep({
  event: 'Verify step event',
  input: restoreEventSchema,
  output: verifyOutputSchema,
  scope: (event) => event.target,
  run: async ({ backupId, executionId }, { runtime, signal, logger }) => {
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
  },
});
