/**
 * The Notify state: record the verification beside the manifest (where it was restored, what was
 * proved), tag the dump verified, publish the success summary (to the summary topic and Slack, never
 * the alert topic). Runs only after Verify matched. It does not ping the heartbeat: the nightly run
 * does, once for all its databases (lib/steps/heartbeat.ts).
 */
import { readManifest } from '../backup/catalog.ts';
import { forDatabase } from '../backup/databases.ts';
import { type CurrentVerification, proofLabelOf } from '../backup/manifest.ts';
import type { StepContext } from '../lambda/handler.ts';
import { successSubject, successText } from '../notify/messages.ts';
import { publish } from '../notify/publish.ts';
import { keys } from '../storage/keys.ts';
import { notifyEventSchema, parseInput } from './input.ts';

export async function notifyStep(event: unknown, { runtime: stage }: StepContext) {
  const { backupId, executionId, verify, target } = parseInput(notifyEventSchema, event, 'Notify step event');
  const runtime = forDatabase(stage, target);
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
  return { backupId, verified: true, notified: sent };
}
