/**
 * Use case: prove a stored backup intact and readable, without restoring it. One pass over the stored
 * dump: SHA-256 and size against the manifest, and the same bytes through `pg_restore --list`. The
 * Checksum step and `backupctl verify` both call this; the result is data, and a mismatch becomes
 * ChecksumMismatchError only where the caller decides so (`assertArchiveIntact`).
 */
import { readManifest } from '../backup/catalog.ts';
import type { Manifest } from '../backup/manifest.ts';
import { ChecksumMismatchError } from '../errors.ts';
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
