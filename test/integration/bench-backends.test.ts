/**
 * The benchmark's production-cost reading (bench/backends.ts): the CPU of each backend goes to whoever
 * opened it, by its application_name, and the table blocks read are the ones the scenario's scans read.
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { BackendMonitor, benchPgDumpAppName } from '../../bench/backends.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

let dir: string;
let server: PostgresServer;
let monitor: BackendMonitor;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-backends-'));
  await chmod(dir, 0o755);
  const dataDir = join(dir, 'data');
  server = await startPostgresServer({ dataDir });
  await withSession(parseConnectionUrl(server.url(), 'test'), async (session) => {
    await session.query(
      'CREATE TABLE scanned AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g',
    );
  });
  const postmasterPid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  monitor = await BackendMonitor.open(server.url(), postmasterPid);
}, 120_000);

afterAll(async () => {
  await monitor?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A session named like pg_dump's or the product's, busy for a while, then gone. */
async function busySession(applicationName: string, sql: string): Promise<void> {
  const { host, port, user, password, database } = parseConnectionUrl(server.url(), 'test');
  const client = new pg.Client({ host, port, user, password, database, application_name: applicationName });
  await client.connect();
  try {
    await client.query(sql);
    // Alive long enough to be sampled and named, however loaded the machine is.
    await client.query('SELECT pg_sleep(1)');
  } finally {
    await client.end();
  }
}

describe('BackendMonitor', () => {
  it("gives each backend's CPU to pg_dump or the product by name, and counts the blocks a scan read", async () => {
    const stop = await monitor.watch();
    await busySession(benchPgDumpAppName, 'SELECT count(*) FROM generate_series(1, 3000000)');
    await busySession('verified-pg-backups', 'SELECT count(*) FROM generate_series(1, 3000000)');
    await busySession('verified-pg-backups', 'SELECT count(*) FROM scanned');
    const usage = await stop();

    const size = await withSession(parseConnectionUrl(server.url(), 'test'), async (session) => {
      const { rows } = await session.query<{ bytes: string }>(
        "SELECT pg_relation_size('scanned')::text AS bytes",
      );
      return Number(rows[0]?.bytes);
    });
    expect(usage.backends.pgDump).toBe(1);
    expect(usage.backends.product).toBe(2);
    expect(usage.cpuSeconds.pgDump).toBeGreaterThan(0);
    expect(usage.cpuSeconds.product).toBeGreaterThan(0);
    expect(usage.tableBytes).toBe(size);
  }, 120_000);
});
