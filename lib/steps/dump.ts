/** The Dump state: pg_dump in an exported snapshot, streamed through SHA-256 into incoming/. */
import { forDatabase } from '../backup/databases.ts';
import { dumpToStore } from '../backup/dump.ts';
import type { StepContext } from '../lambda/handler.ts';
import { dumpEventSchema, executionInputSchema, parseInput } from './input.ts';

export async function dumpStep(event: unknown, { runtime: stage, signal, logger }: StepContext) {
  const { execution, executionId, target } = parseInput(dumpEventSchema, event, 'Dump step event');
  const runtime = forDatabase(stage, target);
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
}
