/**
 * The nightly run's first state: which databases of the production server to back up tonight
 * (DATABASES: the connection URL's, a list, or every database the role may connect to, minus
 * EXCLUDE_DATABASES; lib/backup/databases.ts), and how many at a time (DATABASE_CONCURRENCY). In the
 * `all` mode a database created since yesterday is in tonight's list.
 */

import { z } from 'zod';
import { listDatabases } from '../backup/databases.ts';
import { defineStep } from '../lambda/step.ts';
import { withSession } from '../pg/session.ts';
import { executionIdField, executionInputSchema, parseInput } from './input.ts';

const nightlyEventSchema = z.strictObject({ execution: z.unknown(), executionId: executionIdField });

/** The night's executions without a database: each of the Map's items names its own. */
export const nightlyInputSchema = executionInputSchema.omit({ database: true });

/** The Map's items: each the input of one backup execution (statemachines/backup.asl.json). */
export const databaseListSchema = z.object({
  trigger: executionInputSchema.shape.trigger.unwrap(),
  concurrency: z.number().int().min(1),
  databases: z.array(executionInputSchema.required({ database: true })),
});

export const listDatabasesStep = defineStep({
  event: 'ListDatabases step event',
  input: nightlyEventSchema,
  output: databaseListSchema,
  run: async ({ execution }, { runtime }) => {
    const input = parseInput(nightlyInputSchema, execution, 'execution input');
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
  },
});
