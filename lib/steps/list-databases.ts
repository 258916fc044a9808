/**
 * The nightly run's first state: which databases of the production server to back up tonight
 * (DATABASES: the connection URL's, a list, or every database the role may connect to, minus
 * EXCLUDE_DATABASES; lib/backup/databases.ts), and how many at a time (DATABASE_CONCURRENCY). In the
 * `all` mode a database created since yesterday is in tonight's list.
 */

import { z } from 'zod';
import { listDatabases } from '../backup/databases.ts';
import type { StepContext } from '../lambda/handler.ts';
import { withSession } from '../pg/session.ts';
import { executionIdField, executionInputSchema, parseInput } from './input.ts';

const nightlyEventSchema = z.strictObject({ execution: z.unknown(), executionId: executionIdField });

export async function listDatabasesStep(event: unknown, { runtime }: StepContext) {
  const { execution } = parseInput(nightlyEventSchema, event, 'ListDatabases step event');
  const input = parseInput(executionInputSchema.omit({ database: true }), execution, 'execution input');
  const connection = await runtime.productionConnection();
  const targets = await withSession(connection, (session) =>
    listDatabases(session, connection.database, runtime.settings),
  );
  return {
    trigger: input.trigger,
    concurrency: runtime.settings.DATABASE_CONCURRENCY,
    databases: targets.map((target) => ({
      ...input,
      database: target.database,
    })),
  };
}
