/**
 * The bundled client programs against real servers of every major the product meets in tests.
 */

import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildPgClient } from '../../layers/pg-client/builder.ts';
import { PgClientVersionError } from '../../lib/errors.ts';
import { clientForServer, type PgBundle, resolvePgBundle } from '../../lib/pg/client.ts';
import { type PgConnection, parseConnectionUrl, withDatabase } from '../../lib/pg/connection.ts';
import { type PgProcessResult, runPgProcess } from '../../lib/pg/process.ts';
import { classifyRestoreOutput } from '../../lib/verify/restore-messages.ts';
import { localMajors, type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

const seed = `
  CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, created timestamptz DEFAULT now());
  CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2));
  CREATE INDEX orders_customer ON orders (customer_id);
  CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 500;
  INSERT INTO customers (name) SELECT 'customer ' || i FROM generate_series(1, 300) i;
  INSERT INTO orders (customer_id, total) SELECT 1 + i % 300, (i * 7) % 1000 FROM generate_series(1, 2500) i;
`;
const countRows = `SELECT (SELECT count(*) FROM customers) || ',' || (SELECT count(*) FROM orders)`;

/**
 * pg_restore 17+ always sends `SET transaction_timeout = 0`, which servers before 17 reject (once per
 * connection, so -j repeats it); it counts that as an ignored error and exits 1. The restore is complete
 * otherwise. Its output is read as the product reads it (lib/verify/restore-messages.ts): with -j two
 * workers can interleave their prefixes on one line, which a line-by-line equality check misreads.
 */
function expectCleanRestore(result: PgProcessResult, serverMajor: number) {
  if (serverMajor >= 17) {
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    return;
  }
  expect(result.exitCode).toBe(1);
  const messages = classifyRestoreOutput(result.stderr);
  expect(messages.benign.length).toBeGreaterThan(0);
  expect(messages.benign.filter((message) => !/"transaction_timeout"/.test(message))).toEqual([]);
  expect(messages.fatal).toEqual([]);
  expect(messages.unexplained ?? []).toEqual([]);
}

let workDir: string;
let bundle: PgBundle;
const servers = new Map<number, PostgresServer>();

async function psql(connection: PgConnection, sql: string): Promise<string> {
  const result = await runPgProcess(bundle, 'psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], {
    connection,
  });
  if (result.exitCode !== 0) throw new Error(`psql failed: ${result.stderr}`);
  return result.stdout.trim();
}

beforeAll(async () => {
  await buildPgClient();
  bundle = await resolvePgBundle();
  workDir = await mkdtemp(join(tmpdir(), 'pg-client-test-'));
  // The servers run as the postgres user when the tests run as root.
  await chmod(workDir, 0o755);
  await Promise.all(
    localMajors.map(async (major) => {
      servers.set(major, await startPostgresServer({ major, dataDir: join(workDir, `pg${major}`) }));
    }),
  );
}, 180_000);

afterAll(async () => {
  await Promise.all([...servers.values()].map((server) => server.stop()));
  await rm(workDir, { recursive: true, force: true });
});

describe.each(localMajors)('the bundled client against PostgreSQL %i', (major) => {
  let connection: PgConnection;

  beforeAll(async () => {
    const server = servers.get(major);
    if (!server) throw new Error(`no server for ${major}`);
    connection = parseConnectionUrl(server.url(), 'test server');
    await psql(connection, 'CREATE DATABASE shop');
    await psql(withDatabase(connection, 'shop'), seed);
  });

  it('runs with only the connection variables, whatever the parent process has set', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      PGPASSWORD: 'wrong',
      PGHOST: 'nowhere.invalid',
      LD_LIBRARY_PATH: '/nonexistent',
    });
    try {
      const result = await runPgProcess(bundle, 'psql', ['-X', '-At', '-c', 'SHOW server_version_num'], {
        connection,
      });

      expect(result).toMatchObject({ exitCode: 0, stderr: '' });
      expect(Math.floor(Number(result.stdout) / 10000)).toBe(major);
      expect((await clientForServer(Number(result.stdout))).major).toBeGreaterThanOrEqual(major);
    } finally {
      process.env = saved;
    }
  });

  it('restores a custom-format dump into fresh databases, serially and with -j 2, with equal row counts', async () => {
    // Prepare
    const shop = withDatabase(connection, 'shop');
    const dumpFile = join(workDir, `shop-${major}.dump`);
    const dump = await runPgProcess(bundle, 'pg_dump', ['-Fc', '-f', dumpFile], { connection: shop });
    expect(dump).toMatchObject({ exitCode: 0, stderr: '' });
    await psql(connection, 'CREATE DATABASE restored_serial');
    await psql(connection, 'CREATE DATABASE restored_parallel');

    // Act
    const serial = await runPgProcess(
      bundle,
      'pg_restore',
      ['--no-owner', '-d', 'restored_serial', dumpFile],
      {
        connection,
      },
    );
    const parallel = await runPgProcess(
      bundle,
      'pg_restore',
      ['--no-owner', '-j', '2', '-d', 'restored_parallel', dumpFile],
      { connection },
    );

    // Assess
    expectCleanRestore(serial, major);
    expectCleanRestore(parallel, major);
    const expected = await psql(shop, countRows);
    expect(expected).toBe('300,2500');
    expect(await psql(withDatabase(connection, 'restored_serial'), countRows)).toBe(expected);
    expect(await psql(withDatabase(connection, 'restored_parallel'), countRows)).toBe(expected);
  });

  it('dumps the whole cluster with pg_dumpall, which starts the bundled pg_dump for each database', async () => {
    const result = await runPgProcess(bundle, 'pg_dumpall', ['--no-role-passwords'], { connection });

    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    expect(result.stdout).toContain('\\connect shop');
    expect(result.stdout).toContain('COPY public.orders (id, customer_id, total) FROM stdin;');
  });
});

describe('a server newer than every bundle', () => {
  it('is refused with PgClientVersionError before anything is dumped', async () => {
    // Prepare: the real PG18 server, and only a 17 client on offer.
    const server = servers.get(18);
    if (!server) throw new Error('no PG18 server');
    const connection = parseConnectionUrl(server.url(), 'test server');
    const serverVersionNum = Number(await psql(connection, 'SHOW server_version_num'));
    const olderClient: PgBundle = { ...bundle, major: 17, version: '17.12' };

    // Act
    const error = await clientForServer(serverVersionNum, { bundles: [olderClient] }).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(PgClientVersionError);
    expect((error as Error).message).toMatch(
      /PostgreSQL 18\.\d+, newer than every available client \(17\.12/,
    );
    expect((error as Error).message).toContain('npm run build:pg-client -- --major 18');
  });
});
