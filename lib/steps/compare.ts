/**
 * The CompareRowCounts state: every table of the manifest counted in staging; a difference fails with
 * RowCountMismatchError carrying the diff. Gives the staging lease back once the verdict is in.
 */
import { readManifest } from '../backup/catalog.ts';
import { RowCountMismatchError } from '../errors.ts';
import type { StepContext } from '../lambda/handler.ts';
import { withSession } from '../pg/session.ts';
import { compareRowCounts, qualified } from '../verify/compare.ts';
import { confirmStagingLease, releaseStagingLease } from '../verify/staging-lease.ts';
import { backupIdEventSchema, parseInput } from './input.ts';

export async function compareStep(event: unknown, { runtime }: StepContext) {
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
