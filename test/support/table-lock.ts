/**
 * A session that keeps a table of the fixture's production database in ACCESS EXCLUSIVE mode, as a
 * migration or VACUUM FULL at 02:00 would, until `release` rolls its transaction back.
 */
import pg from 'pg';
import type { PipelineFixture } from './pipeline-fixture.ts';

export async function holdTableLock(
  fixture: PipelineFixture,
  table: string,
  applicationName = 'nightly-migration',
): Promise<{ release: () => Promise<void> }> {
  const holder = new pg.Client({
    connectionString: fixture.environment.settings.PRODUCTION_DATABASE_URL,
    application_name: applicationName,
  });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    release: async () => {
      await holder.query('ROLLBACK');
      await holder.end();
    },
  };
}

/** The backup state machine run while `table` is held locked; the lock goes whatever happens. */
export async function runWhileLocked(
  fixture: PipelineFixture,
  table: string,
  settings: Record<string, string>,
): ReturnType<PipelineFixture['run']> {
  const lock = await holdTableLock(fixture, table);
  try {
    return await fixture.run(settings);
  } finally {
    await lock.release();
  }
}
