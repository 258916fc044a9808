/** The drill's Compare state. Returns the comparison as data: a mismatch is recorded in the evidence, then fails the drill. */
import { readManifest } from '../backup/catalog.ts';
import { drillBackupEventSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { withDatabase } from '../pg/connection.ts';
import { withSession } from '../pg/session.ts';
import { compareRowCounts } from '../verify/compare.ts';
import { parseInput } from './input.ts';

const seconds = (since: number) => (Date.now() - since) / 1000;

export async function drillCompareStep(event: unknown, { runtime }: StepContext) {
  const { backupId, drillDatabase } = parseInput(drillBackupEventSchema, event, 'Compare step event');
  const manifest = await readManifest(runtime.store, backupId);
  const started = Date.now();
  const result = await withSession(
    withDatabase(await runtime.stagingConnection(), drillDatabase),
    (session) => compareRowCounts(session, manifest),
  );
  return { ...result, compareSeconds: seconds(started) };
}
