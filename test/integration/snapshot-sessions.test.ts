/**
 * Tables read on several sessions in one snapshot (lib/pg/snapshot-sessions.ts), as the restored side's
 * comparison reads them: the further sessions really read their share (another backend), they see the
 * caller's snapshot and not a row written after it, the largest table goes first to its own session,
 * and a session the server refuses leaves its share to the others.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type PgConnection, parseConnectionUrl } from '../../lib/pg/connection.ts';
import { quoteIdentifier, type Session, withSession } from '../../lib/pg/session.ts';
import { dealLargestFirst, readTablesInSnapshot } from '../../lib/pg/snapshot-sessions.ts';
import type { TableName } from '../../lib/pg/tables.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

let server: PostgresServer;
let dataDir: string;
let shop: PgConnection;
const tables: TableName[] = ['big', 'mid', 'small', 'tiny'].map((table) => ({ schema: 'public', table }));
const rowsAtStart: Record<string, number> = { big: 20_000, mid: 2_000, small: 200, tiny: 20 };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'snapshot-sessions-'));
  server = await startPostgresServer({ major: 18, dataDir: join(dataDir, 'pg') });
  const admin = parseConnectionUrl(server.url(), 'admin');
  await withSession(admin, (session) => session.query('CREATE DATABASE shop'));
  shop = { ...admin, database: 'shop' };
  await withSession(shop, async (session) => {
    for (const [table, rows] of Object.entries(rowsAtStart)) {
      await session.query(
        `CREATE TABLE ${table} AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, ${rows}) i`,
      );
    }
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

interface Read {
  table: string;
  rows: number;
  pid: number;
}

async function countOn(session: Session, share: TableName[]): Promise<Read[]> {
  const reads: Read[] = [];
  for (const t of share) {
    const { rows } = await session.query<{ n: string; pid: number }>(
      `SELECT count(*) AS n, pg_backend_pid() AS pid FROM ${quoteIdentifier(t.table)}`,
    );
    reads.push({ table: t.table, rows: Number(rows[0]?.n), pid: rows[0]?.pid ?? 0 });
  }
  return reads;
}

describe('readTablesInSnapshot', () => {
  it("reads each share on its own session, all in the caller's snapshot", async () => {
    const reads = await withSession(shop, async (session) => {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows } = await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      let written = false;
      const result = await readTablesInSnapshot(
        session,
        tables,
        { connection: shop, jobs: 3 },
        // Rows committed once the snapshot is taken: no session may see them.
        async () => {
          if (written) return;
          written = true;
          await withSession(shop, async (writer) => {
            for (const table of Object.keys(rowsAtStart)) {
              await writer.query(`INSERT INTO ${table} SELECT 0, 'late' FROM generate_series(1, 7)`);
            }
          });
        },
        countOn,
      );
      await session.query('ROLLBACK');
      return { result, caller: rows[0]?.pid };
    });
    expect(Object.fromEntries(reads.result.map((r) => [r.table, r.rows]))).toEqual(rowsAtStart);
    const byPid = new Map<number, string[]>();
    for (const r of reads.result) byPid.set(r.pid, [...(byPid.get(r.pid) ?? []), r.table]);
    expect(byPid.size).toBe(3);
    expect(byPid.get(reads.caller ?? -1)).toEqual(['big']);
    // The late rows are there for a reader outside the snapshot.
    const now = await withSession(shop, (session) => countOn(session, tables));
    expect(now.map((r) => r.rows)).toEqual(Object.values(rowsAtStart).map((n) => n + 7));
  }, 60_000);

  it('leaves the share of a session the server refuses to the sessions it has', async () => {
    const refused = { ...shop, password: 'not-the-password', user: 'nobody_here' };
    const reads = await withSession(shop, async (session) => {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const result = await readTablesInSnapshot(
        session,
        tables,
        { connection: refused, jobs: 4 },
        async () => undefined,
        countOn,
      );
      await session.query('ROLLBACK');
      return result;
    });
    expect(reads.map((r) => r.table).sort()).toEqual(['big', 'mid', 'small', 'tiny']);
    expect(new Set(reads.map((r) => r.pid)).size).toBe(1);
  }, 60_000);
});

describe('dealLargestFirst', () => {
  it('gives each item, largest first, to the share with the least so far', () => {
    const sizes: Record<string, number> = { a: 10, b: 6, c: 5, d: 4, e: 1 };
    const shares = dealLargestFirst(Object.keys(sizes), 2, (k) => sizes[k] ?? 0);
    expect(shares).toEqual([
      ['a', 'd'],
      ['b', 'c', 'e'],
    ]);
  });
});
