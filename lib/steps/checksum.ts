/** The Checksum state (backup and drill): re-hash the stored dump and read its archive. */
import { z } from 'zod';
import { assertArchiveIntact, verifyArchiveAndRecord } from '../commands/verify-archive.ts';
import { defineStep } from '../lambda/step.ts';
import { backupIdEventSchema } from './input.ts';

const digestSchema = z.object({ sha256: z.string(), bytes: z.number() });

export const checksumOutputSchema = z.object({
  backupId: z.string(),
  status: z.enum(['match', 'mismatch']),
  expected: digestSchema,
  actual: digestSchema,
  /** Entries in the archive's table of contents (pg_restore --list). */
  archiveEntries: z.number(),
  /** Wall time of the download, hash and listing: part of a drill's RTO. */
  seconds: z.number(),
  /** The whole stored dump was read to hash it (the step's StepBytes metric, lib/lambda/handler.ts). */
  bytes: z.number(),
});

export const checksumStep = defineStep({
  event: 'Checksum step event',
  input: backupIdEventSchema,
  output: checksumOutputSchema,
  scope: (event) => event.target,
  run: async ({ backupId }, { runtime, signal, logger }) => {
    // Recorded against the backup (lib/backup/checks.ts): a mismatch takes it out of "latest".
    const verification = await verifyArchiveAndRecord(runtime, backupId, 'checksum', signal, logger);
    assertArchiveIntact(verification);
    // The manifest stays in the bucket: step outputs carry figures, not the per-table list.
    const { manifest, ...result } = verification;
    return { ...result, bytes: manifest.dump.bytes };
  },
});
