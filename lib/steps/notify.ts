/**
 * The Notify state: record the verification beside the manifest (where it was restored, what was
 * proved), tag the dump verified, publish the success summary (to the summary topic and Slack, never
 * the alert topic). Runs only after Verify matched. It does not ping the heartbeat: the nightly run
 * does, once for all its databases (lib/steps/heartbeat.ts).
 */
import { z } from 'zod';
import { readManifest } from '../backup/catalog.ts';
import { type CurrentVerification, proofLabelOf } from '../backup/manifest.ts';
import { defineStep } from '../lambda/step.ts';
import { successSubject, successText } from '../notify/messages.ts';
import { publish, sentSchema } from '../notify/publish.ts';
import { backupIdSchema } from '../schemas.ts';
import { keys } from '../storage/keys.ts';
import { checksumOutputSchema } from './checksum.ts';
import { dumpOutputSchema } from './dump.ts';
import { databaseTargetSchema, executionIdField } from './input.ts';
import { verifyOutputSchema } from './verify.ts';

/** Notify runs only after Verify matched; anything else here is a wiring fault. */
export const notifyEventSchema = z.strictObject({
  backupId: backupIdSchema,
  target: databaseTargetSchema.optional(),
  executionId: executionIdField,
  // Handed on by the state machine; Notify reads the manifest instead, so a field these lack never
  // keeps a verified backup from being marked verified.
  dump: dumpOutputSchema.partial(),
  checksum: checksumOutputSchema.partial(),
  verify: verifyOutputSchema
    .pick({
      target: true,
      serverVersion: true,
      downloadSeconds: true,
      restoreSeconds: true,
      compareSeconds: true,
      benignMessages: true,
      roles: true,
    })
    .extend({
      roles: verifyOutputSchema.shape.roles.unwrap().partial({ skipped: true }).optional(),
      compare: verifyOutputSchema.shape.compare.extend({ status: z.literal('match') }),
    }),
});

export const notifiedSchema = z.object({
  backupId: z.string(),
  verified: z.literal(true),
  notified: sentSchema,
});

export const notifyStep = defineStep({
  event: 'Notify step event',
  input: notifyEventSchema,
  output: notifiedSchema,
  scope: (event) => event.target,
  run: async ({ backupId, executionId, verify }, { runtime }) => {
    const manifest = await readManifest(runtime.store, backupId);
    const verification: CurrentVerification = {
      verificationVersion: 2,
      backupId,
      verifiedAt: runtime.now().toISOString(),
      sha256: manifest.dump.sha256,
      bytes: manifest.dump.bytes,
      // Both majors side by side: a scratch server newer than production is said, not implied.
      sourceServerVersion: manifest.source.serverVersion,
      restoreTarget: { kind: verify.target, serverVersion: verify.serverVersion },
      proof: verify.compare.proof,
      proofLabel: proofLabelOf(verify.compare.proof, manifest),
      ...(verify.roles
        ? { roles: { globalsId: verify.roles.globalsId, ownership: verify.roles.ownership } }
        : {}),
      downloadSeconds: verify.downloadSeconds,
      restoreSeconds: verify.restoreSeconds,
      compareSeconds: verify.compareSeconds,
      tablesCompared: verify.compare.tablesCompared,
      rowsCompared: verify.compare.rowsCompared,
      benignRestoreMessages: verify.benignMessages,
      ...(executionId ? { executionId } : {}),
    };
    await runtime.store.putJson(keys.verification(backupId), verification);
    await runtime.store.setTags(keys.dump(backupId), { 'backup-id': backupId, verified: 'true' });
    const summary = {
      backupId,
      database: manifest.source.database,
      bytes: manifest.dump.bytes,
      databaseSizeBytes: manifest.source.databaseSizeBytes,
      sha256: manifest.dump.sha256,
      dumpSeconds: manifest.timings.dumpSeconds,
      restoreSeconds: verification.restoreSeconds,
      tablesVerified: verification.tablesCompared,
      rowsVerified: verification.rowsCompared,
      compression: manifest.compression,
    };
    const channels = await runtime.channels('summary');
    const sent = await publish(
      { subject: successSubject(summary), text: successText(summary), details: { kind: 'summary' } },
      channels,
    );
    return { backupId, verified: true as const, notified: sent };
  },
});
