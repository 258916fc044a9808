/**
 * The restore state machine's Restore step, which runs on the worker (`backupctl restore --stage`):
 * resolve the backup, read the target's URL from the secret the execution names and settle its TLS mode
 * once (lib/pg/tls.ts: node-postgres and pg_restore use the same), then the same restore as the local
 * CLI (lib/commands/restore.ts): the production guard and the target's opt-in first, the dump's SHA-256
 * checked before any statement reaches the target, pg_restore -j, and every table compared there like
 * Verify (content checksums unless countsOnly). A difference fails with RowCountMismatchError or
 * ContentMismatchError; an unverified backup without allowUnverified with BackupUnverifiedError.
 */
import { z } from 'zod';
import { vaultOf } from '../backup/databases.ts';
import { restoreBackup } from '../commands/restore.ts';
import { defineStep } from '../lambda/step.ts';
import { parseConnectionUrl } from '../pg/connection.ts';
import { connectionUrlFromSecret } from '../secrets.ts';
import { assertRestoreMatches } from '../verify/compare.ts';
import { cloudRestoreEventSchema, cloudRestoreInputSchema, parseInput } from './input.ts';
import { compareFiguresSchema, rolesOutcomeSchema } from './verify.ts';

export const restoredTargetSchema = z.object({
  backupId: z.string(),
  database: z.string(),
  serverVersion: z.string(),
  downloadSeconds: z.number(),
  restoreSeconds: z.number(),
  benignMessages: z.array(z.string()),
  roles: rolesOutcomeSchema.optional(),
  compare: compareFiguresSchema,
  /** Why the backup is not verified, when allowUnverified let it through. */
  unverified: z.string().optional(),
  /** `latest` only: the newer backups it passed by, and why (the first ten). */
  skipped: z.array(z.object({ backupId: z.string(), reason: z.string() })).optional(),
});

export const restoreStep = defineStep({
  event: 'Restore step event',
  input: cloudRestoreEventSchema,
  output: restoredTargetSchema,
  run: async ({ execution }, { runtime, signal, logger }) => {
    const input = parseInput(cloudRestoreInputSchema, execution, 'restore execution input');
    const label = 'targetSecret';
    const url = connectionUrlFromSecret(await runtime.secretByReference(input.targetSecret, label), label);
    const target = await runtime.negotiateTls(parseConnectionUrl(url, label));
    // A named database's vault, found from the bucket; the roles stay the server's (top level).
    const vault = input.database === undefined ? runtime.store : await vaultOf(runtime.store, input.database);
    const outcome = await restoreBackup({ ...runtime, store: vault }, input.backupId, target, {
      jobs: input.jobs,
      signal,
      log: logger,
      withRoles: input.withRoles,
      targetNotProduction: input.targetNotProduction,
      allowUnverified: input.allowUnverified,
      countsOnly: input.countsOnly,
    });
    assertRestoreMatches(outcome.compare, outcome.backupId, `the target database ${outcome.database}`);
    return {
      backupId: outcome.backupId,
      database: outcome.database,
      serverVersion: outcome.stagingServerVersion,
      downloadSeconds: outcome.downloadSeconds,
      restoreSeconds: outcome.restoreSeconds,
      benignMessages: outcome.benignMessages,
      ...(outcome.roles ? { roles: outcome.roles } : {}),
      compare: {
        status: outcome.compare.status,
        proof: outcome.compare.proof,
        tablesCompared: outcome.compare.tablesCompared,
        rowsCompared: outcome.compare.rowsCompared,
      },
      ...(outcome.unverified ? { unverified: outcome.unverified } : {}),
      ...(outcome.skipped.length ? { skipped: outcome.skipped.slice(0, 10) } : {}),
    };
  },
});
