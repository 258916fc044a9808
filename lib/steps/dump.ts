/** The Dump state: pg_dump in an exported snapshot, streamed through SHA-256 into incoming/. */
import { z } from 'zod';
import { dumpToStore } from '../backup/dump.ts';
import { proofLevels } from '../backup/manifest.ts';
import { defineStep } from '../lambda/step.ts';
import { dumpEventSchema, executionInputSchema, parseInput } from './input.ts';

/** What the dump stored (lib/backup/dump.ts DumpResult): the manifest with the per-table list stays in S3. */
export const dumpOutputSchema = z.object({
  backupId: z.string(),
  dumpKey: z.string(),
  manifestKey: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  tables: z.number(),
  rows: z.number(),
  dumpSeconds: z.number(),
  compression: z.string(),
  serverVersion: z.string(),
  warnings: z.number(),
  abortedStaleUploads: z.number(),
  rewriteRetries: z.number(),
  proof: z.enum(proofLevels),
});

export const dumpStep = defineStep({
  event: 'Dump step event',
  input: dumpEventSchema,
  output: dumpOutputSchema,
  scope: (event) => event.target,
  run: async ({ execution, executionId }, { runtime, signal, logger }) => {
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
        proof: runtime.settings.PROOF_LEVEL,
        checksumSource: runtime.settings.CHECKSUM_SOURCE,
        signal,
        log: logger,
        now: runtime.now,
      },
    );
  },
});
