import { drillBackupEventSchema } from '../drill/input.ts';
import { parseSanityChecks, runSanityChecks } from '../drill/sanity.ts';
import type { StepContext } from '../lambda/handler.ts';
import { withDatabase } from '../pg/connection.ts';
import { withSession } from '../pg/session.ts';
import { parseInput } from './input.ts';

const seconds = (since: number) => (Date.now() - since) / 1000;

export async function sanityChecksStep(event: unknown, { runtime }: StepContext) {
  const { drillDatabase } = parseInput(drillBackupEventSchema, event, 'SanityChecks step event');
  const checks = parseSanityChecks(runtime.settings.DRILL_SANITY_CHECKS);
  const started = Date.now();
  const results = await withSession(
    withDatabase(await runtime.stagingConnection(), drillDatabase),
    (session) => runSanityChecks(session, checks),
  );
  return { checks: results, sanitySeconds: seconds(started) };
}
