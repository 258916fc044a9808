/**
 * Use case: prove a stored backup intact and readable, without restoring it. One pass over the stored
 * dump: SHA-256 and size against the manifest, and the same bytes through `pg_restore --list`. The
 * Checksum step and `backupctl verify` both call this; the result is data, and a mismatch becomes
 * ChecksumMismatchError only where the caller decides so (`assertArchiveIntact`).
 */
import { readManifest } from '../backup/catalog.ts';
import { type CheckKind, recordCheck } from '../backup/checks.ts';
import type { Manifest } from '../backup/manifest.ts';
import { ArchiveUnreadableError, ChecksumMismatchError } from '../errors.ts';
import type { ProgressLog } from '../progress.ts';
import type { Runtime } from '../runtime.ts';
import { keys } from '../storage/keys.ts';
import { type ChecksumResult, verifyStoredChecksum } from '../verify/checksum.ts';

export interface ArchiveVerification extends ChecksumResult {
  backupId: string;
  manifest: Manifest;
}

export async function verifyArchive(
  runtime: Pick<Runtime, 'store' | 'programs'>,
  backupId: string,
  signal?: AbortSignal,
  /** Where the pass's progress goes (the step's log, a terminal's progress line). */
  log?: ProgressLog,
): Promise<ArchiveVerification> {
  const manifest = await readManifest(runtime.store, backupId);
  // The archive was written by the bundle of manifest.client.bundleMajor; that client reads it.
  const bundle = await runtime.programs.clientForServer(manifest.client.bundleMajor * 10_000);
  const result = await verifyStoredChecksum(
    runtime.store,
    keys.dump(backupId),
    manifest.dump,
    { bundle, start: runtime.programs.start },
    signal,
    log,
  );
  return { backupId, manifest, ...result };
}

/**
 * `verifyArchive`, its verdict recorded against the backup as a check of `kind` (lib/backup/checks.ts):
 * a mismatch or an unreadable archive takes the backup out of "latest" and turns the status red; a pass
 * clears an earlier failure of that kind. Faults of the machinery (the store unreachable) record nothing.
 */
export async function verifyArchiveAndRecord(
  runtime: Pick<Runtime, 'store' | 'programs'>,
  backupId: string,
  kind: CheckKind,
  signal?: AbortSignal,
  log?: ProgressLog,
): Promise<ArchiveVerification> {
  const verification = await verifyArchive(runtime, backupId, signal, log).catch(async (error) => {
    if (error instanceof ArchiveUnreadableError) {
      await recordCheck(runtime.store, backupId, { kind, passed: false, reason: error.message });
    }
    throw error;
  });
  const { status, expected, actual } = verification;
  await recordCheck(runtime.store, backupId, {
    kind,
    passed: status === 'match',
    reason:
      status === 'match'
        ? `SHA-256 ${actual.sha256} matches`
        : `stored dump has SHA-256 ${actual.sha256} (${actual.bytes} bytes), the manifest ${expected.sha256} (${expected.bytes} bytes)`,
  });
  return verification;
}

export function assertArchiveIntact(verification: ArchiveVerification): void {
  if (verification.status === 'match') return;
  const { backupId, expected, actual } = verification;
  throw new ChecksumMismatchError(
    `stored dump of ${backupId} does not match its manifest: expected sha256 ${expected.sha256} (${expected.bytes} bytes), got ${actual.sha256} (${actual.bytes} bytes)`,
    {
      details: { status: verification.status, expected, actual, archiveEntries: verification.archiveEntries },
    },
  );
}
