/**
 * `backupctl check` on real servers: the local setup passes every check; a production database whose
 * backup role (a non-superuser, as on Render) cannot read a table and a sequence, and would see only
 * some rows of a table under row-level security, fails the privileges check with the tables named and
 * the fix; `--send-test-alert` delivers a message to Slack (a real HTTPS receiver).
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { runCli } from '../support/cli-run.ts';
import { type HttpsReceiver, startHttpsReceiver } from '../support/https-receiver.ts';
import { json, startRenderApi } from '../support/render-api.ts';

let stateDir: string;
let production: PostgresServer;
let receiver: HttpsReceiver;
const savedEnv = { ...process.env };

const run = (...argv: string[]) => runCli(argv);

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'backupctl-check-'));
  await chmod(stateDir, 0o755);
  process.env.BACKUP_LOCAL_STATE_DIR = stateDir;
  process.env.BACKUP_SAMPLE_SCALE = '0.01';
  receiver = await startHttpsReceiver();
  production = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'render-like') });
  const admin = (database: string) => parseConnectionUrl(production.url(database), 'admin');
  await withSession(admin('postgres'), async (session) => {
    await session.query("CREATE ROLE app_owner LOGIN PASSWORD 'owner-pw'");
    await session.query("CREATE ROLE backup_reader LOGIN PASSWORD 'reader-pw' NOSUPERUSER NOBYPASSRLS");
    await session.query('CREATE DATABASE app OWNER app_owner');
  });
  const owner = new URL(production.url('app'));
  owner.username = 'app_owner';
  owner.password = 'owner-pw';
  await withSession(admin('app'), (session) => session.query('GRANT ALL ON SCHEMA public TO app_owner'));
  await withSession(parseConnectionUrl(owner.toString(), 'owner'), async (session) => {
    for (const statement of [
      'CREATE TABLE open_orders (id int)',
      'CREATE TABLE payroll (id int)',
      'CREATE SEQUENCE invoice_numbers',
      'CREATE TABLE tenant_rows (tenant text)',
      'ALTER TABLE tenant_rows ENABLE ROW LEVEL SECURITY',
      'CREATE POLICY own_tenant ON tenant_rows USING (tenant = current_user)',
      'GRANT USAGE ON SCHEMA public TO backup_reader',
      'GRANT SELECT ON open_orders, tenant_rows TO backup_reader',
    ]) {
      await session.query(statement);
    }
  });
}, 120_000);

afterAll(async () => {
  process.env = savedEnv;
  await production?.stop();
  await receiver?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe('backupctl check', () => {
  it('passes every check on the local setup and sends a test alert only when asked', async () => {
    process.env.SLACK_WEBHOOK_URL = receiver.url('/services/T0/B0/CANARYcheck');
    const result = await run('check', '--send-test-alert');

    expect(result.code).toBe(exitCodes.ok);
    for (const name of [
      'production',
      'privileges',
      'opt-in',
      'client',
      'scratch',
      'venues',
      'bucket',
      'alerts',
    ]) {
      expect(result.stdout).toMatch(new RegExp(`^✔ ${name} `, 'm'));
    }
    expect(result.stdout).toContain('Every check passed.');
    expect(receiver.requests).toHaveLength(1);
    expect(JSON.parse(receiver.requests[0]?.body ?? '{}').text).toContain('test alert from backupctl check');
    expect(result.stdout).not.toContain('CANARY');

    receiver.requests.length = 0;
    const quiet = await run('check');
    expect(quiet.stdout).toMatch(/^– alerts +add --send-test-alert/m);
    expect(receiver.requests).toEqual([]);
    delete process.env.SLACK_WEBHOOK_URL;
  });

  it('fails the test alert when no channel would carry it, naming the settings, and sends nothing', async () => {
    for (const name of ['SLACK_WEBHOOK_URL', 'ALERT_WEBHOOK_URL', 'ALERT_TOPIC_ARN'])
      delete process.env[name];
    const result = await run('check', '--send-test-alert', '--json');

    expect(result.code).toBe(exitCodes.failed);
    const report = JSON.parse(result.stdout) as {
      checks: { name: string; status: string; detail: string; fix?: string }[];
    };
    const alerts = report.checks.find((c) => c.name === 'alerts');
    expect(alerts).toMatchObject({ status: 'fail', detail: expect.stringContaining('no alert channel') });
    expect(alerts?.fix).toContain('SLACK_WEBHOOK_URL');
    expect(receiver.requests).toEqual([]);
  });

  it('fails the privileges check for a role that cannot read everything, naming the tables and the fix', async () => {
    const reader = new URL(production.url('app'));
    reader.username = 'backup_reader';
    reader.password = 'reader-pw';
    process.env.DATABASE_URL = reader.toString();
    try {
      const result = await run('check', '--json');

      expect(result.code).toBe(exitCodes.failed);
      const report = JSON.parse(result.stdout) as {
        passed: boolean;
        checks: { name: string; status: string; detail: string; fix?: string }[];
      };
      expect(report.passed).toBe(false);
      const privileges = report.checks.find((c) => c.name === 'privileges');
      expect(privileges).toMatchObject({
        status: 'fail',
        detail:
          'not readable: "public"."invoice_numbers", "public"."payroll"; row security would hide rows: "public"."tenant_rows"',
      });
      expect(privileges?.fix).toContain('GRANT SELECT ON <table> TO "backup_reader"');
      expect(report.checks.find((c) => c.name === 'production')).toMatchObject({ status: 'pass' });
      expect(result.stdout).not.toContain('reader-pw');
    } finally {
      delete process.env.DATABASE_URL;
    }
  });

  it('fails the opt-in check while production carries the restore-target opt-in, saying how to remove it', async () => {
    const owner = new URL(production.url('app'));
    owner.username = 'app_owner';
    owner.password = 'owner-pw';
    const asOwner = (statement: string) =>
      withSession(parseConnectionUrl(owner.toString(), 'owner'), (session) => session.query(statement));
    process.env.DATABASE_URL = owner.toString();
    try {
      await asOwner("COMMENT ON DATABASE app IS 'verified-pg-backups:restore-target'");
      const result = await run('check');
      expect(result.code).toBe(exitCodes.failed);
      expect(result.stdout).toMatch(
        /^✘ opt-in +ProductionOptedInError: production database app is opted in as a restore target.*COMMENT ON DATABASE "app" IS NULL; the nightly Dump step refuses/m,
      );

      // A comment that only mentions the marker opts nothing in.
      await asOwner(
        "COMMENT ON DATABASE app IS 'This is NOT a verified-pg-backups:restore-target, never restore here.'",
      );
      expect((await run('check')).stdout).toMatch(/^✔ opt-in +production does not carry/m);
    } finally {
      await asOwner('COMMENT ON DATABASE app IS NULL');
      delete process.env.DATABASE_URL;
    }
  });

  it('says what the Render API key sees, fails a short window, and exits 2 naming the setting for a refused key', async () => {
    const day = 86_400_000;
    const key = 'rnd_CANARYcheckKey42';
    const render = await startRenderApi({
      apiKey: key,
      postgresId: 'dpg-check0001',
      instance: { name: 'shop-db', plan: 'pro_4gb', version: '16' },
      recovery: json(200, {
        recoveryStatus: 'AVAILABLE',
        startsAt: new Date(Date.now() - 7.5 * day).toISOString(),
      }),
      exports: json(200, [
        {
          id: 'exp-1',
          createdAt: new Date(Date.now() - 2 * 3_600_000).toISOString(),
          url: 'https://exports.example/x?sig=CANARYlink',
        },
      ]),
      faults: [],
    });
    Object.assign(process.env, {
      RENDER_POSTGRES_ID: 'dpg-check0001',
      RENDER_API_KEY: key,
      RENDER_API_URL: render.baseUrl,
    });
    try {
      const good = await run('check');
      expect(good.code).toBe(exitCodes.ok);
      expect(good.stdout).toMatch(
        /^✔ render +the API key reads dpg-check0001 \(plan pro_4gb, PostgreSQL 16\); point-in-time recovery AVAILABLE, 7\.5 days \(plan needs 7\); newest export 2 h old \(limit 26 h\)$/m,
      );

      render.reset({
        recovery: json(200, {
          recoveryStatus: 'AVAILABLE',
          startsAt: new Date(Date.now() - 3 * day).toISOString(),
        }),
      });
      const hobby = await run('check');
      expect(hobby.code).toBe(exitCodes.failed);
      expect(hobby.stdout).toMatch(
        /^✘ render +.*ProviderRecoveryWindowError: Render keeps 3 days; the plan needs 7/m,
      );
      expect(hobby.stdout).toMatch(
        /fix: move the Render workspace to a plan that keeps render\.minRecoveryDays/,
      );

      render.reset({ apiKey: 'rnd_another' });
      const refused = await run('check');
      expect(refused.code).toBe(exitCodes.usage);
      expect(refused.stdout).toMatch(
        /^✘ render +ConfigurationError: Render API .* answered 401 .*RENDER_API_KEY/m,
      );
      for (const output of [good, hobby, refused]) {
        expect(output.stdout + output.stderr).not.toContain('CANARY');
      }
    } finally {
      for (const name of ['RENDER_POSTGRES_ID', 'RENDER_API_KEY', 'RENDER_API_URL']) delete process.env[name];
      await render.stop();
    }
  });

  it('names an unreachable production with the fix and skips what needs it', async () => {
    process.env.DATABASE_URL = 'postgresql://nobody:pw@127.0.0.1:1/none';
    try {
      const result = await run('check');
      expect(result.code).toBe(exitCodes.failed);
      expect(result.stdout).toMatch(
        /^✘ production +DatabaseUnreachableError: .*\n +fix: check the host, port/m,
      );
      expect(result.stdout).toMatch(/^– privileges +production is not reachable/m);
      expect(result.stdout).not.toContain(':pw@');
    } finally {
      delete process.env.DATABASE_URL;
    }
  });
});
