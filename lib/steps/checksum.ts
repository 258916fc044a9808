/** The Checksum state (backup and drill): re-hash the stored dump and read its archive. */
import { recordCheck } from '../backup/checks.ts';
import { forDatabase } from '../backup/databases.ts';
import { assertArchiveIntact, verifyArchive } from '../commands/verify-archive.ts';
import { ArchiveUnreadableError } from '../errors.ts';
import type { StepContext } from '../lambda/handler.ts';
import { backupIdEventSchema, parseInput } from './input.ts';

export async function checksumStep(event: unknown, { runtime: stage, signal, logger }: StepContext) {
  const { backupId, target } = parseInput(backupIdEventSchema, event, 'Checksum step event');
  const runtime = forDatabase(stage, target);
  const verification = await verifyArchive(runtime, backupId, signal, logger).catch(async (error) => {
    if (error instanceof ArchiveUnreadableError) {
      await recordCheck(runtime.store, backupId, { kind: 'checksum', passed: false, reason: error.message });
    }
    throw error;
  });
  // Recorded against the backup (lib/backup/checks.ts): a mismatch takes it out of "latest".
  await recordCheck(runtime.store, backupId, {
    kind: 'checksum',
    passed: verification.status === 'match',
    reason:
      verification.status === 'match'
        ? `SHA-256 ${verification.actual.sha256} matches`
        : `stored dump has SHA-256 ${verification.actual.sha256} (${verification.actual.bytes} bytes), the manifest ${verification.expected.sha256} (${verification.expected.bytes} bytes)`,
  });
  assertArchiveIntact(verification);
  // The manifest stays in the bucket: step outputs carry figures, not the per-table list.
  const { manifest: _manifest, ...result } = verification;
  return result;
}
