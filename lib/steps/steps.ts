/**
 * The six steps of the backup state machine, as plain functions of (event, runtime, signal). The Lambda
 * handlers in functions/ and the local runner call exactly these.
 */

import { readManifest } from '../backup/catalog.ts';
import { dumpToStore } from '../backup/dump.ts';
import type { Verification } from '../backup/manifest.ts';
import { promoteToVault } from '../backup/promote.ts';
import { ChecksumMismatchError, RowCountMismatchError } from '../errors.ts';
import { successSubject, successText } from '../notify/messages.ts';
import { publish } from '../notify/publish.ts';
import { withSession } from '../pg/session.ts';
import type { Runtime } from '../runtime.ts';
import { keys } from '../storage/keys.ts';
import { verifyStoredChecksum } from '../verify/checksum.ts';
import { compareRowCounts, qualified } from '../verify/compare.ts';
import { restoreToStaging } from '../verify/restore.ts';
import { confirmStagingLease, releaseStagingLease } from '../verify/staging-lease.ts';
import {
  backupIdEventSchema,
  dumpEventSchema,
  executionInputSchema,
  notifyEventSchema,
  parseInput,
  restoreEventSchema,
} from './input.ts';

export async function dumpStep(event: unknown, runtime: Runtime, signal?: AbortSignal) {
  const { execution, executionId } = parseInput(dumpEventSchema, event, 'Dump step event');
  const input = parseInput(executionInputSchema, execution, 'execution input');
  return dumpToStore(
    {
      compression: input.compression ?? runtime.settings.DUMP_COMPRESSION,
      trigger: input.trigger,
      reason: input.reason,
      owner: executionId,
    },
    {
      store: runtime.store,
      connection: await runtime.productionConnection(),
      programs: runtime.programs,
      lockWaitSeconds: runtime.settings.DUMP_LOCK_WAIT_SECONDS,
      ...(signal ? { signal } : {}),
    },
  );
}

export async function uploadStep(event: unknown, runtime: Runtime) {
  const { backupId } = parseInput(backupIdEventSchema, event, 'Upload step event');
  return promoteToVault(backupId, runtime.store);
}

export async function checksumStep(event: unknown, runtime: Runtime) {
  const { backupId } = parseInput(backupIdEventSchema, event, 'Checksum step event');
  const manifest = await readManifest(runtime.store, backupId);
  const bundle = await runtime.programs.clientForServer(manifest.client.bundleMajor * 10_000);
  const result = await verifyStoredChecksum(runtime.store, keys.dump(backupId), manifest.dump, {
    bundle,
    spawn: (b, program, args, options) => runtime.programs.spawn(b, program, args, options),
  });
  if (result.status === 'mismatch') {
    throw new ChecksumMismatchError(
      `stored dump of ${backupId} does not match its manifest: expected sha256 ${result.expected.sha256} (${result.expected.bytes} bytes), got ${result.actual.sha256} (${result.actual.bytes} bytes)`,
      { details: { ...result } },
    );
  }
  return { backupId, ...result };
}

/** Takes the staging lease (lib/verify/staging-lease.ts); CompareRowCounts gives it back. */
export async function restoreStep(event: unknown, runtime: Runtime, signal?: AbortSignal) {
  const { backupId, executionId } = parseInput(restoreEventSchema, event, 'RestoreToStaging step event');
  const manifest = await readManifest(runtime.store, backupId);
  return restoreToStaging(manifest, {
    store: runtime.store,
    target: await runtime.stagingConnection(),
    programs: runtime.programs,
    jobs: runtime.settings.RESTORE_JOBS,
    workDir: runtime.settings.WORK_DIR,
    signal,
    lease: { owner: backupId, executionId },
  });
}

export async function compareStep(event: unknown, runtime: Runtime) {
  const { backupId } = parseInput(backupIdEventSchema, event, 'CompareRowCounts step event');
  const manifest = await readManifest(runtime.store, backupId);
  const result = await withSession(await runtime.stagingConnection(), async (session) => {
    // Staging must still hold this backup's restore: no other execution took the lease meanwhile.
    await confirmStagingLease(session, { owner: backupId });
    const compared = await compareRowCounts(session, manifest);
    // The verdict is in (a mismatch travels in the error): staging is free for the next execution.
    // On any other failure the lease stays for this step's retry, and expires if none comes.
    await releaseStagingLease(session, backupId);
    return compared;
  });
  if (result.status === 'mismatch') {
    const diff = [
      ...result.tables.slice(0, 5).map((t) => `${qualified(t)}: expected ${t.expected}, found ${t.actual}`),
      ...result.missing.slice(0, 5).map((name) => `${name}: missing`),
      ...result.extra.slice(0, 5).map((name) => `${name}: not in the backup`),
    ];
    throw new RowCountMismatchError(
      `row counts in staging differ from the manifest of ${backupId} (${result.tables.length} differ, ${result.missing.length} missing, ${result.extra.length} extra): ${diff.join('; ')}`,
      { details: { ...result } },
    );
  }
  return { backupId, ...result };
}

export async function notifyStep(event: unknown, runtime: Runtime) {
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
