/**
 * The counting session under a held table lock: it locks every table first (as pg_dump does), waits
 * at most the lock wait, and names the table and the session holding it. (pg_dump's side, through the
 * whole pipeline: faults-database.test.ts.)
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { TableLockedError } from '../../lib/errors.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { countRowsInSnapshot } from '../../lib/pg/row-counts.ts';
import { openSession, type Session } from '../../lib/pg/session.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

let dir: string;
let server: PostgresServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'table-locks-'));
  await chmod(dir, 0o755);
  server = await startPostgresServer({ dataDir: join(dir, 'data') });
  const setup = new pg.Client({ connectionString: server.url() });
  await setup.connect();
  await setup.query(
    'CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Big Orders" AS SELECT generate_series(1, 5) AS id',
  );
  await setup.end();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function withExportedSnapshot<T>(
  run: (snapshotId: string, counter: Session) => Promise<T>,
): Promise<T> {
  const connection = parseConnectionUrl(server.url(), 'test');
  const holder = await openSession(connection);
  const counter = await openSession(connection);
  try {
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await holder.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    return await run(rows[0]?.id ?? '', counter);
  } finally {
    await counter.end();
    await holder.end();
  }
}

describe('countRowsInSnapshot() and table locks', () => {
  it('gives up after the lock wait with TableLockedError naming the table and the holding session', async () => {
    const locker = new pg.Client({ connectionString: server.url(), application_name: 'vacuum-full-job' });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE "Sales"."Big Orders" IN ACCESS EXCLUSIVE MODE');
    try {
      const started = Date.now();
      const error = await withExportedSnapshot((id, counter) =>
        countRowsInSnapshot(counter, id, { lockWaitSeconds: 1 }).then(
          () => undefined,
          (e: unknown) => e,
        ),
      );

      expect(error).toBeInstanceOf(TableLockedError);
      expect((error as Error).message).toMatch(
        /^counting rows waited 1 s for a table lock and gave up: "Sales"\."Big Orders" is locked \(ACCESS EXCLUSIVE\) by pid \d+ \(application 'vacuum-full-job', idle in transaction, transaction open \d+ s\)$/,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });
});
