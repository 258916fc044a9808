/**
 * Row-level security must never shrink a count silently: our sessions run with row_security=off, as
 * pg_dump does, so a policy that would hide rows from the backup role is an error, not a smaller number.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { countRows, listTables } from '../../lib/pg/row-counts.ts';
import { withSession } from '../../lib/pg/session.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

let dir: string;
let server: PostgresServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rls-'));
  await chmod(dir, 0o755);
  server = await startPostgresServer({ dataDir: join(dir, 'pg') });
  await withSession(parseConnectionUrl(server.url('postgres'), 'owner'), async (session) => {
    await session.query(`CREATE ROLE reader LOGIN PASSWORD 'reader-pw'`);
    await session.query('CREATE TABLE public.tenant_rows (tenant int)');
    await session.query('INSERT INTO public.tenant_rows SELECT g % 3 FROM generate_series(1, 30) g');
    await session.query('CREATE TABLE public.plain_rows AS SELECT generate_series(1, 7) AS n');
    await session.query('ALTER TABLE public.tenant_rows ENABLE ROW LEVEL SECURITY');
    await session.query('CREATE POLICY only_tenant_1 ON public.tenant_rows USING (tenant = 1)');
    await session.query('GRANT SELECT ON public.tenant_rows, public.plain_rows TO reader');
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('row-level security', () => {
  it('makes counting a policy-filtered table as a non-owner fail instead of undercounting', async () => {
    const url = server.url('postgres').replace(/\/\/[^@]*@/, '//reader:reader-pw@');
    await withSession(parseConnectionUrl(url, 'reader'), async (session) => {
      const tables = (await listTables(session)).filter((t) => t.schema === 'public');
      const plain = tables.filter((t) => t.table === 'plain_rows');
      expect(await countRows(session, plain)).toEqual([{ schema: 'public', table: 'plain_rows', rows: 7 }]);
      const filtered = tables.filter((t) => t.table === 'tenant_rows');
      await expect(countRows(session, filtered)).rejects.toThrow(/row-level security/);
    });
  });

  it('counts every row for the table owner, whom the policy does not apply to', async () => {
    await withSession(parseConnectionUrl(server.url('postgres'), 'owner'), async (session) => {
      const tables = (await listTables(session)).filter((t) => t.table === 'tenant_rows');
      expect(await countRows(session, tables)).toEqual([
        { schema: 'public', table: 'tenant_rows', rows: 30 },
      ]);
    });
  });
});
