/**
 * The Notify state: record the verification beside the manifest, tag the dump verified, publish the
 * success summary. Runs only after the comparison matched.
 */
import { readManifest } from '../backup/catalog.ts';
import type { Verification } from '../backup/manifest.ts';
import type { StepContext } from '../lambda/handler.ts';
import { successSubject, successText } from '../notify/messages.ts';
import { publish } from '../notify/publish.ts';
import { keys } from '../storage/keys.ts';
import { notifyEventSchema, parseInput } from './input.ts';

export async function notifyStep(event: unknown, { runtime }: StepContext) {
  const { backupId, executionId, restore, compare } = parseInput(
    notifyEventSchema,
    event,
    'Notify step event',
  );
  const manifest = await readManifest(runtime.store, backupId);
  const verification: Verification = {
    verificationVersion: 1,
    backupId,
    verifiedAt: new Date().toISOString(),
    sha256: manifest.dump.sha256,
    bytes: manifest.dump.bytes,
    restoreSeconds: restore.restoreSeconds,
    tablesCompared: compare.tablesCompared,
    rowsCompared: compare.rowsCompared,
    stagingServerVersion: restore.stagingServerVersion,
    benignRestoreMessages: restore.benignMessages,
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
  const sent = await publish(
    { subject: successSubject(summary), text: successText(summary) },
    await runtime.channels(),
  );
  return { backupId, verified: true, notified: sent };
}
