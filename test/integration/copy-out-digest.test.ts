/**
 * COPY TO STDOUT hashed off the connection's socket (lib/pg/copy-out-digest.ts), against the same rows
 * hashed the plain way (the COPY text gathered whole, then `CopyRowDigest`): many rows over many
 * socket reads, a row larger than any read, a table without columns, no rows, notices sent between
 * the rows, an error before and in the middle of the copy (named, and the session still usable).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type PgConnection, parseConnectionUrl } from '../../lib/pg/connection.ts';
import { digestCopyOut } from '../../lib/pg/copy-out-digest.ts';
import { CopyRowDigest } from '../../lib/pg/copy-row-hash.ts';
import { type Session, withSession } from '../../lib/pg/session.ts';
import {
  type LocalMajor,
  type PostgresServer,
  startPostgresServer,
} from '../../tools/local/postgres-server.ts';

/** The rows of `query` (one text column: each row as COPY writes it, for these simple values). */
async function plainDigest(session: Session, query: string) {
  const { rows } = await session.query<{ line: string }>(`SELECT line FROM (${query}) AS q(line)`);
  const digest = new CopyRowDigest();
  digest.update(Buffer.from(rows.map((row) => `${row.line}\n`).join('')));
  return digest.finish();
}

describe.each([13, 18] as LocalMajor[])('on PostgreSQL %i', (major) => {
  let server: PostgresServer;
  let dataDir: string;
  let db: PgConnection;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), `copy-out-${major}-`));
    server = await startPostgresServer({ major, dataDir: join(dataDir, 'pg') });
    db = parseConnectionUrl(server.url(), 'admin');
    await withSession(db, async (session) => {
      await session.query(
        'CREATE TABLE lines AS SELECT i AS id, md5(i::text) AS h FROM generate_series(1, 200000) i',
      );
      // 3 rows of 2 MiB and more between small ones: larger than any socket read.
      await session.query(
        'CREATE TABLE wide AS SELECT CASE WHEN i % 4 = 0 THEN repeat(md5(i::text), 70000 + i) ELSE i::text END AS line FROM generate_series(1, 13) i',
      );
      await session.query('CREATE TABLE no_columns ()');
      await session.query('INSERT INTO no_columns SELECT FROM generate_series(1, 1000)');
      await session.query('CREATE TABLE empty (line text)');
      await session.query(`CREATE FUNCTION noisy(i int) RETURNS text LANGUAGE plpgsql AS $$
        BEGIN
          IF i % 1000 = 0 THEN RAISE NOTICE 'row %', i; END IF;
          RETURN i::text;
        END $$`);
    });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['many rows', 'lines', "SELECT id::text || E'\\t' || h FROM lines"],
    ['rows larger than a socket read', 'wide', 'SELECT line FROM wide'],
  ])(
    'gives %s the plain digest',
    async (_what, table, query) => {
      await withSession(db, async (session) => {
        const copied = await digestCopyOut(session, `COPY ${table} TO STDOUT`);
        expect(copied).toEqual(await plainDigest(session, query));
        expect(copied.complete).toBe(true);
      });
    },
    60_000,
  );

  it('counts the empty lines of a table without columns, and nothing of a table without rows', async () => {
    await withSession(db, async (session) => {
      const blank = new CopyRowDigest();
      blank.update(Buffer.from('\n'.repeat(1000)));
      expect(await digestCopyOut(session, 'COPY no_columns TO STDOUT')).toEqual(blank.finish());
      expect(await digestCopyOut(session, 'COPY empty TO STDOUT')).toEqual({
        rows: 0,
        checksum: '0',
        complete: true,
      });
    });
  });

  it('passes over notices the server sends between the rows', async () => {
    await withSession(db, async (session) => {
      const notices: string[] = [];
      session.on('notice', (notice) => notices.push(notice.message ?? ''));
      const copied = await digestCopyOut(
        session,
        'COPY (SELECT noisy(i) FROM generate_series(1, 20000) i) TO STDOUT',
      );
      expect(copied).toEqual(await plainDigest(session, 'SELECT i::text FROM generate_series(1, 20000) i'));
      expect(copied.rows).toBe(20000);
    });
  });

  it('names an error before the copy and one in its middle, and the session goes on', async () => {
    await withSession(db, async (session) => {
      await expect(digestCopyOut(session, 'COPY not_there TO STDOUT')).rejects.toThrow(
        /relation "not_there" does not exist/,
      );
      await expect(
        digestCopyOut(
          session,
          'COPY (SELECT CASE WHEN i = 150000 THEN 1 / (i - i) ELSE i END FROM generate_series(1, 200000) i) TO STDOUT',
        ),
      ).rejects.toThrow(/division by zero/);
      const { rows } = await session.query<{ n: number }>('SELECT 41 + 1 AS n');
      expect(rows).toEqual([{ n: 42 }]);
      expect(await digestCopyOut(session, 'COPY lines TO STDOUT')).toMatchObject({ rows: 200000 });
    });
  }, 60_000);
});
