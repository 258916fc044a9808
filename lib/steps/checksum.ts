/** The Checksum state (backup and drill): re-hash the stored dump and read its archive. */
import { forDatabase } from '../backup/databases.ts';
import { assertArchiveIntact, verifyArchiveAndRecord } from '../commands/verify-archive.ts';
import type { StepContext } from '../lambda/handler.ts';
import { backupIdEventSchema, parseInput } from './input.ts';

export async function checksumStep(event: unknown, { runtime: stage, signal, logger }: StepContext) {
  const { backupId, target } = parseInput(backupIdEventSchema, event, 'Checksum step event');
  const runtime = forDatabase(stage, target);
  // Recorded against the backup (lib/backup/checks.ts): a mismatch takes it out of "latest".
  const verification = await verifyArchiveAndRecord(runtime, backupId, 'checksum', signal, logger);
  assertArchiveIntact(verification);
  // The manifest stays in the bucket: step outputs carry figures, not the per-table list. `bytes`: the
  // whole stored dump was read to hash it (the step's StepBytes metric, lib/lambda/handler.ts).
  const { manifest, ...result } = verification;
  return { ...result, bytes: manifest.dump.bytes };
}
