/**
 * Several databases in one stage, end to end: one PostgreSQL server holding a tenant's databases, the
 * real nightly and backup state machines (a Map of nested executions), real scratch servers and the
 * local S3 API. The stage connects as the databases' owner, never a superuser, as on Render.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest, readVerification } from '../../lib/backup/catalog.ts';
import { listDatabases } from '../../lib/backup/databases.ts';
import { type GlobalsRecord, globalsKeys } from '../../lib/backup/globals.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { newestDrillEvidence } from '../../lib/drill/evidence.ts';
import { createLogger } from '../../lib/logging.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { readLocalExecutions } from '../../lib/report/executions.ts';
import { publishStatus } from '../../lib/report/publish-status.ts';
import { statusKeys } from '../../lib/report/render.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { retentionStep } from '../../lib/steps/retention.ts';
import { keys } from '../../lib/storage/keys.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { runCli } from '../support/cli-run.ts';
import { alerts, answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let server: PostgresServer;
let ownerUrl: (database: string) => string;

async function asSuperuser(database: string, ...statements: string[]) {
  await withSession(parseConnectionUrl(server.url(database), 'setup'), async (session) => {
    for (const statement of statements) await session.query(statement);
  });
}

async function asOwner(database: string, ...statements: string[]) {
  await withSession(parseConnectionUrl(ownerUrl(database), 'setup'), async (session) => {
    for (const statement of statements) await session.query(statement);
  });
}

beforeAll(async () => {
  fixture = await startPipelineFixture();
  server = await startPostgresServer({ dataDir: join(fixture.stateDir, 'pg', 'tenant') });
  await asSuperuser(
    'postgres',
    "CREATE ROLE tenant LOGIN PASSWORD 'tenant-password' NOSUPERUSER NOCREATEDB NOCREATEROLE",
    'CREATE DATABASE app OWNER tenant',
    'CREATE DATABASE queue OWNER tenant',
    'CREATE DATABASE analytics OWNER tenant',
    // A database of someone else's that the tenant may not even connect to.
    'CREATE DATABASE private',
    'REVOKE CONNECT ON DATABASE private FROM PUBLIC',
  );
  const url = new URL(server.url('postgres'));
  url.username = 'tenant';
  url.password = 'tenant-password';
  ownerUrl = (database) => {
    const copy = new URL(url);
    copy.pathname = `/${database}`;
    return copy.toString();
  };
  await asOwner(
    'app',
    'CREATE TABLE orders (id bigint PRIMARY KEY, total numeric)',
    'INSERT INTO orders SELECT i, i * 1.5 FROM generate_series(1, 500) i',
  );
  await asOwner(
    'queue',
    'CREATE TABLE jobs (id bigint PRIMARY KEY, payload jsonb)',
    `INSERT INTO jobs SELECT i, jsonb_build_object('n', i) FROM generate_series(1, 300) i`,
  );
  await asOwner('analytics', 'CREATE TABLE hits AS SELECT i AS id FROM generate_series(1, 50) i');
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await fixture?.stop();
});

/** The backup executions a nightly run started, in the order of their database's name. */
async function childExecutions(since: string) {
  return (await readLocalExecutions(fixture.stateDir))
    .filter((e) => e.stateMachine === 'backup' && e.startedAt >= since)
    .sort((a, b) =>
      String((a.input as { database?: string }).database).localeCompare(
        String((b.input as { database?: string }).database),
      ),
    );
}

describe('a stage with several databases', () => {
  it('backs up each listed database in its own execution and vault; a missing one fails alone, by name', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('app'),
      DATABASES: 'queue,app,missing',
      DATABASE_CONCURRENCY: '1',
    });

    const run = await fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('DatabaseNotFoundError');
    expect(run.error?.cause).toMatch(
      /^1 of 3 database\(s\) failed: missing \(DatabaseNotFoundError: .*missing/,
    );
    const conclusion = run.states.find((s) => s.name === 'Conclude')?.output as {
      conclusion: { databases: { database: string; status: string }[] };
    };
    expect(conclusion.conclusion.databases.map((d) => [d.database, d.status])).toEqual([
      ['app', 'verified'],
      ['missing', 'failed'],
      ['queue', 'verified'],
    ]);

    // The URL's database keeps the top-level vault; queue has its own; each holds its own rows.
    const [app] = await listBackups(store);
    const [queue] = await listBackups(store.forScope('queue'));
    expect(app?.verified).toBe(true);
    expect(queue?.verified).toBe(true);
    expect(await listBackups(store.forScope('missing'))).toEqual([]);
    const appManifest = await readManifest(store, app?.backupId ?? '');
    const queueManifest = await readManifest(store.forScope('queue'), queue?.backupId ?? '');
    expect([appManifest.source.database, appManifest.tables.map((t) => [t.table, t.rows])]).toEqual([
      'app',
      [['orders', 500]],
    ]);
    expect([queueManifest.source.database, queueManifest.tables.map((t) => [t.table, t.rows])]).toEqual([
      'queue',
      [['jobs', 300]],
    ]);
    expect(await store.databaseScopes()).toEqual(['queue']);
    // Verified with the night's roles: replayed on the scratch server, owners and grants compared.
    const appVerification = await readVerification(store, app?.backupId ?? '');
    expect(appVerification).toMatchObject({ roles: { ownership: 'match' } });
    // One at a time, as configured: the three backup executions never overlap.
    const children = await childExecutions(run.startedAt);
    expect(children.map((c) => c.input)).toEqual([
      { trigger: 'schedule', database: 'app' },
      { trigger: 'schedule', database: 'missing' },
      { trigger: 'schedule', database: 'queue' },
    ]);
    for (const [earlier, later] of [
      [children[0], children[1]],
      [children[1], children[2]],
    ]) {
      expect(Date.parse(later?.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(earlier?.stoppedAt ?? ''));
    }

    // The server's roles, once for the night, read by an owner without superuser: no password, and a
    // record that names the roles and the SQL's checksum.
    const records = (await store.list('globals/')).filter((o) => o.key.endsWith('.json'));
    expect(records).toHaveLength(1);
    const record = JSON.parse(await store.getText(records[0]?.key ?? '')) as GlobalsRecord;
    const sql = await store.getText(globalsKeys(record.id).sql);
    expect(record.roles).toEqual(expect.arrayContaining(['tenant']));
    expect(sql).toMatch(/^CREATE ROLE tenant;$/m);
    expect(sql).toMatch(/^ALTER ROLE tenant WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN/m);
    expect(sql).not.toMatch(/PASSWORD '/);
    expect(record.sha256).toBe(createHash('sha256').update(sql).digest('hex'));
    expect(JSON.stringify(record)).not.toContain('ALTER ROLE');

    // The status report speaks for every database: each vault's own report, and the stage-wide one.
    const executions = await readLocalExecutions(fixture.stateDir);
    const publish = (now = new Date()) =>
      publishStatus(store, {
        now,
        rpoHours: 24,
        rtoHours: 2,
        stage: 'test',
        executions,
        log: () => undefined,
      });
    const published = await publish();
    expect(published.databases.map((d) => [d.database, d.vault, d.state])).toEqual([
      ['app', 'top-level', expect.any(String)],
      ['queue', 'queue', 'ok'],
    ]);
    expect(published.metrics.BackupAgeHours).toBeLessThan(1);
    const queueStatus = JSON.parse(await store.forScope('queue').getText(statusKeys.json)) as {
      newestVerified: { backupId: string };
      databases: { database: string }[];
    };
    expect(queueStatus.newestVerified.backupId).toBe(queue?.backupId);
    expect(queueStatus.databases.map((d) => d.database)).toEqual(['queue']);
    // One database without a verified backup, its first backup minutes old (a database added tonight):
    // named, but the stage stays green and the age metric counts it from that backup, never missing.
    // (Before, the stage turned red and the metric went missing: missing data = breaching, a page.)
    await store.forScope('queue').delete(keys.verification(queue?.backupId ?? ''));
    const pending = await publish();
    expect(pending.state).toBe('ok');
    expect(pending.summary).toContain('Database queue: no verified backup yet (its first backup is ');
    expect(pending.metrics.BackupAgeHours).toBeLessThan(1);
    // Still unverified once that backup is older than the RPO: the stage turns red, the alarm's metric
    // passes its threshold.
    const red = await publish(new Date(Date.now() + 30 * 3_600_000));
    expect(red.state).toBe('no-verified-backup');
    expect(red.withinRpo).toBe(false);
    expect(red.summary).toContain('Database queue: NO VERIFIED BACKUP (its first backup is 30');
    expect(red.metrics.BackupAgeHours).toBeGreaterThan(26);
    expect(await store.getText(statusKeys.badge)).toContain('no verified backup');
    expect(await store.getText(statusKeys.markdown)).toMatch(
      /\| queue \| no-verified-backup \| none \| - \|/,
    );
    expect(await store.getText(statusKeys.html)).toContain('<table class="databases">');

    // The daily retention pass works through every vault.
    const retention = await retentionStep(
      {},
      {
        runtime: createRuntime(readRuntimeSettings(settings)),
        signal: new AbortController().signal,
        logger: createLogger(() => undefined),
      },
    );
    expect(retention).toMatchObject({
      vault: 'top-level',
      backups: 1,
      databases: [
        { vault: 'top-level', backups: 1 },
        { vault: 'queue', backups: 1 },
      ],
    });

    // One alert, from the missing database's own execution, naming it; no password anywhere.
    const sent = alerts().filter((a) => a.subject.includes('FAILED'));
    expect(sent).toHaveLength(1);
    expect(sent[0]?.message).toContain('"database":"missing"');
    expect(sent[0]?.message).toContain('Error: DatabaseNotFoundError');
    expect(JSON.stringify(run)).not.toContain('tenant-password');
    expect(JSON.stringify(alerts())).not.toContain('tenant-password');
  });

  it('backs up every database the owner may connect to, minus the excluded, and finds a new one the next night', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('app'),
      DATABASES: 'all',
      EXCLUDE_DATABASES: 'analytics,postgres',
      // Written for app, and saying so (a stage with several databases must): the others get the
      // built-in check.
      DRILL_SANITY_CHECKS: JSON.stringify([
        { name: 'all orders restored', database: 'app', sql: 'SELECT count(*) FROM orders', atLeast: 500 },
      ]),
    });

    const first = await fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });

    expect(first.status).toBe('SUCCEEDED');
    const listed = first.states.find((s) => s.name === 'ListDatabases')?.output as {
      list: { databases: { database: string }[] };
    };
    // private refuses the tenant's connections; analytics and postgres are excluded.
    expect(listed.list.databases.map((d) => d.database)).toEqual(['app', 'queue']);
    expect((await listBackups(store)).filter((b) => b.verified)).toHaveLength(1);
    expect((await listBackups(store.forScope('queue'))).filter((b) => b.verified)).toHaveLength(1);
    // Two at a time by default: both executions ran side by side.
    const [app, queue] = await childExecutions(first.startedAt);
    expect(Date.parse(queue?.startedAt ?? '')).toBeLessThan(Date.parse(app?.stoppedAt ?? ''));

    // The quarterly drills: every database with backups, each drilled in its own execution, its
    // evidence in its own vault.
    const drills = await fixture.run(settings, { machine: 'drills', input: { trigger: 'schedule' } });
    expect([drills.status, drills.error]).toEqual(['SUCCEEDED', undefined]);
    const concluded = drills.states.find((s) => s.name === 'Conclude')?.output as {
      conclusion: { databases: { database: string; status: string }[] };
    };
    expect(concluded.conclusion.databases.map((d) => [d.database, d.status])).toEqual([
      ['app', 'verified'],
      ['queue', 'verified'],
    ]);
    const checksOf = async (vault: typeof store) => {
      const evidence = await newestDrillEvidence(vault);
      expect(evidence?.passed).toBe(true);
      expect(evidence?.backup.backupId).toBe((await listBackups(vault))[0]?.backupId);
      return JSON.stringify(evidence);
    };
    expect(await checksOf(store)).toContain('all orders restored');
    expect(await checksOf(store.forScope('queue'))).not.toContain('all orders restored');

    // A database created since is in the next night's list.
    await asSuperuser('postgres', 'CREATE DATABASE later OWNER tenant');
    const next = await withSession(parseConnectionUrl(ownerUrl('app'), 'test'), (session) =>
      listDatabases(session, 'app', readRuntimeSettings(settings)),
    );
    expect(next.map((d) => [d.database, d.scope])).toEqual([
      ['app', null],
      ['later', 'later'],
      ['queue', 'queue'],
    ]);
  });
});

describe('backupctl with several databases', () => {
  const savedEnv = { ...process.env };
  afterAll(() => {
    process.env = savedEnv;
  });

  const cli = (...argv: string[]) => runCli(argv);

  it('backs up every database with --all-databases and reads one vault with --database', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'several-cli-'));
    await chmod(stateDir, 0o755);
    process.env.BACKUP_LOCAL_STATE_DIR = stateDir;
    process.env.DATABASE_URL = ownerUrl('app');
    process.env.DATABASES = 'app,queue';
    try {
      const backup = await cli('backup', '--all-databases');
      expect(backup.code).toBe(exitCodes.ok);
      expect(backup.stdout).toMatch(/ListDatabases .* app, queue; 2 at a time/);
      expect(backup.stdout).toMatch(/^app: \S+ verified$/m);
      expect(backup.stdout).toMatch(/^queue: \S+ verified$/m);

      const queue = await cli('list', '--database', 'queue', '--json');
      expect(queue.code).toBe(exitCodes.ok);
      expect(JSON.parse(queue.stdout)).toEqual([expect.objectContaining({ verified: true })]);
      const app = await cli('status', '--database', 'app', '--json');
      expect(JSON.parse(app.stdout)).toMatchObject({ state: 'ok', withinRpo: true });
      const stage = await cli('status');
      expect(stage.stdout).toMatch(/^ {2}databases {5}app ok \([\d.]+ h\), queue ok \([\d.]+ h\)$/m);

      const typo = await cli('list', '--database', 'qeue');
      expect(typo.code).toBe(exitCodes.usage);
      expect(typo.stderr).toContain(
        'no backups of database "qeue" in this bucket; it holds backups of app, queue',
      );

      const one = await cli('backup', '--database', 'queue', '--json');
      expect(one.code).toBe(exitCodes.ok);
      expect(JSON.parse((await cli('list', '--database', 'queue', '--json')).stdout)).toHaveLength(2);
      expect((await cli('backup', '--database', 'x', '--all-databases')).code).toBe(exitCodes.usage);

      // A restore of one database's backup, into a new database of another server: never onto the
      // production server itself, whichever database of it is named.
      await asSuperuser('postgres', 'CREATE DATABASE queue_copy OWNER tenant');
      await asOwner('queue_copy', optInStatement('queue_copy'));
      const refused = await cli(
        'restore',
        'latest',
        '--database',
        'queue',
        '--target-url',
        ownerUrl('queue_copy'),
      );
      expect(refused.stderr).toMatch(
        /ProductionTargetError: refusing to restore into .*queue_copy: it is the production server/,
      );
      const elsewhere = fixture.environment.production;
      if (!elsewhere) throw new Error('the fixture started no production server');
      await fixture.productionSql('CREATE DATABASE queue_copy');
      await fixture.sqlOn('queue_copy', optInStatement('queue_copy'));
      const restore = await cli(
        'restore',
        'latest',
        '--database',
        'queue',
        '--target-url',
        elsewhere.url('queue_copy'),
      );
      expect(restore.stderr).toBe('');
      expect(restore.code).toBe(exitCodes.ok);
      expect(restore.stdout).toMatch(/restored into queue_copy .* row counts match \(1 tables, 300 rows\)/);

      const drills = await cli('drill', '--all-databases');
      expect(drills.code).toBe(exitCodes.ok);
      expect(drills.stdout).toMatch(/^app: drill passed \(backup \S+\)$/m);
      expect(drills.stdout).toMatch(/^queue: drill passed \(backup \S+\)$/m);
      const queueDrill = await cli('drill', '--database', 'queue');
      expect(queueDrill.code).toBe(exitCodes.ok);
      expect(queueDrill.stdout).toMatch(/Drill passed\. Evidence: drills\/\S+/);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
