/**
 * The scenario end to end, through the CLI and the local worker: production run by a role
 * without superuser that cannot read pg_control_system() (revoked, as a provider may), opted in as a
 * restore target (a switch-over that skipped removing it), and a restore whose target names production
 * `localhost` where the backup recorded `127.0.0.1`. The old guard compared the two spellings, took the
 * unreadable identifiers for "different" and restored over production, losing the rows written since
 * the backup. Now production, asked live, recognises the target's session and the restore is refused
 * before a statement reaches it; and the nightly dump refuses to run while production is opted in.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { runCli } from '../support/cli-run.ts';

let stateDir: string;
let production: PostgresServer;
const savedEnv = { ...process.env };

function ownerUrl(host: string): string {
  const url = new URL(production.url('shop'));
  url.hostname = host;
  url.username = 'app_owner';
  url.password = 'owner-secret';
  return url.toString();
}

async function sql(url: string, statement: string): Promise<Record<string, unknown>[]> {
  return withSession(
    parseConnectionUrl(url, 'test'),
    async (session) => (await session.query(statement)).rows,
  );
}
const orders = async () =>
  Number((await sql(ownerUrl('127.0.0.1'), 'SELECT count(*) AS n FROM orders'))[0]?.n);

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'over-production-'));
  await chmod(stateDir, 0o755);
  production = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'production') });
  // Revoked in template1 before the database exists: function grants live in each database's catalog.
  await sql(production.url('template1'), 'REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC');
  await sql(production.url('postgres'), "CREATE ROLE app_owner LOGIN PASSWORD 'owner-secret' NOSUPERUSER");
  await sql(production.url('postgres'), 'CREATE DATABASE shop OWNER app_owner');
  await sql(ownerUrl('127.0.0.1'), 'CREATE TABLE orders (id bigint PRIMARY KEY, total numeric)');
  await sql(ownerUrl('127.0.0.1'), 'INSERT INTO orders SELECT i, i FROM generate_series(1, 1000) i');
  process.env.BACKUP_LOCAL_STATE_DIR = join(stateDir, 'local');
  process.env.DATABASE_URL = ownerUrl('127.0.0.1');
}, 120_000);

afterAll(async () => {
  process.env = savedEnv;
  await production?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe('a restore whose target names production another way', () => {
  it('is refused before anything reaches production; the rows written since the backup stay', async () => {
    const night = await runCli(['backup']);
    expect(night.stderr).toBe('');
    expect(night.code).toBe(exitCodes.ok);
    await sql(ownerUrl('127.0.0.1'), 'INSERT INTO orders SELECT i, i FROM generate_series(1001, 1500) i');
    await sql(ownerUrl('127.0.0.1'), optInStatement('shop'));

    const restore = await runCli(['restore', 'latest', '--target-url', ownerUrl('localhost')]);

    expect(restore.code).not.toBe(exitCodes.ok);
    expect(restore.stderr).toMatch(
      /ProductionTargetError: refusing to restore into app_owner@localhost:\d+\/shop: it is the production server \(production sees the target session/,
    );
    expect(restore.stderr).not.toContain('owner-secret');
    expect(await orders()).toBe(1500);

    // The override is for servers that cannot be told apart; it never beats evidence.
    const insisted = await runCli([
      'restore',
      'latest',
      '--target-url',
      ownerUrl('localhost'),
      '--target-not-production',
    ]);
    expect(insisted.stderr).toMatch(/ProductionTargetError: .*it is the production server/);
    expect(await orders()).toBe(1500);
  });

  it('the nightly dump refuses while production carries the opt-in, and says how to remove it', async () => {
    await sql(ownerUrl('127.0.0.1'), optInStatement('shop'));
    const night = await runCli(['backup']);
    expect(night.code).not.toBe(exitCodes.ok);
    expect(`${night.stdout}\n${night.stderr}`).toMatch(
      /ProductionOptedInError: production database shop is opted in as a restore target.*COMMENT ON DATABASE "shop" IS NULL/,
    );

    await sql(ownerUrl('127.0.0.1'), 'COMMENT ON DATABASE shop IS NULL');
    expect((await runCli(['backup'])).code).toBe(exitCodes.ok);
  });
});
