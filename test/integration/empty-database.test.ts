/**
 * No false alarms from empty databases: with `databases.backup: all` the server's `postgres`
 * maintenance database (empty on most servers) is backed up beside the application's, so an empty
 * database must back up, verify (zero tables restored and compared is a match) and drill green, and
 * the drill's built-in check must say it was empty instead of paging. The stage connects as the
 * databases' owner, never a superuser; `postgres` is not even the owner's.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest, readVerification } from '../../lib/backup/catalog.ts';
import { newestDrillEvidence } from '../../lib/drill/evidence.ts';
import { builtInSanityChecks, runSanityChecks } from '../../lib/drill/sanity.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import {
  type LocalMajor,
  type PostgresServer,
  startPostgresServer,
} from '../../tools/local/postgres-server.ts';
import { runCli } from '../support/cli-run.ts';
import { alerts, answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { sql, urlAs } from '../support/sql.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let server: PostgresServer;
const ownerUrl = (database: string) => urlAs(server, 'owner', 'owner-password', database);

beforeAll(async () => {
  fixture = await startPipelineFixture();
  server = await startPostgresServer({ dataDir: join(fixture.stateDir, 'pg', 'owner') });
  await sql(
    server.url('postgres'),
    "CREATE ROLE owner LOGIN PASSWORD 'owner-password' NOSUPERUSER NOCREATEDB NOCREATEROLE",
    'CREATE DATABASE app OWNER owner',
    'CREATE DATABASE blank OWNER owner',
  );
  // The application's database has no `orders`: the local sample shop's checks are not its checks.
  await sql(
    ownerUrl('app'),
    'CREATE TABLE items (id bigint PRIMARY KEY, name text)',
    "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 40) i",
  );
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await fixture?.stop();
});

describe('an empty database', () => {
  it('backs up, verifies and drills green with `all`, the built-in check saying it was empty', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('app'),
      DATABASES: 'all',
    });

    const night = await fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });

    expect([night.status, night.error]).toEqual(['SUCCEEDED', undefined]);
    const concluded = night.states.find((s) => s.name === 'Conclude')?.output as {
      conclusion: { databases: { database: string; status: string }[] };
    };
    expect(concluded.conclusion.databases.map((d) => [d.database, d.status])).toEqual([
      ['app', 'verified'],
      ['blank', 'verified'],
      ['postgres', 'verified'],
    ]);
    for (const database of ['blank', 'postgres']) {
      const vault = store.forScope(database);
      const [backup] = await listBackups(vault);
      expect(backup?.verified).toBe(true);
      const manifest = await readManifest(vault, backup?.backupId ?? '');
      expect([manifest.source.database, manifest.tables]).toEqual([database, []]);
      // Zero tables restored and compared with zero listed: a match (a verification record), not an error.
      expect(await readVerification(vault, backup?.backupId ?? '')).toMatchObject({
        tablesCompared: 0,
        rowsCompared: 0,
        roles: { ownership: 'match' },
      });
    }

    const drills = await fixture.run(settings, { machine: 'drills', input: { trigger: 'schedule' } });

    expect([drills.status, drills.error]).toEqual(['SUCCEEDED', undefined]);
    const drilled = drills.states.find((s) => s.name === 'Conclude')?.output as {
      conclusion: { databases: { database: string; status: string }[] };
    };
    expect(drilled.conclusion.databases.map((d) => [d.database, d.status])).toEqual([
      ['app', 'verified'],
      ['blank', 'verified'],
      ['postgres', 'verified'],
    ]);
    for (const database of ['blank', 'postgres']) {
      const evidence = await newestDrillEvidence(store.forScope(database));
      expect(evidence).toMatchObject({ passed: true, failedChecks: [], backup: { database } });
      expect(evidence?.sanity).toEqual([
        expect.objectContaining({ name: 'restored database is empty, as its manifest lists no tables' }),
      ]);
      expect(evidence?.sanity[0]).toMatchObject({ value: 0, expectation: '= 0', passed: true });
    }
    // The application's database gets the built-in check with its own count, not the sample shop's.
    const app = await newestDrillEvidence(store);
    expect(app).toMatchObject({ passed: true, backup: { database: 'app' } });
    expect(app?.sanity).toEqual([
      expect.objectContaining({
        name: 'restored database has the 1 table its manifest lists',
        value: 1,
        passed: true,
      }),
    ]);
    expect(alerts().filter((a) => a.subject.includes('FAILED'))).toEqual([]);
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });
});

describe('an empty database on older majors', () => {
  // 13: `public` belongs to the bootstrap superuser; 15: to pg_database_owner. The owner is neither.
  it.each([13, 15] as LocalMajor[])(
    'backs up, verifies and drills green on PostgreSQL %i with `all`',
    async (major) => {
      const older = await startPostgresServer({
        major,
        dataDir: join(fixture.stateDir, 'pg', `owner-${major}`),
      });
      try {
        await sql(
          older.url('postgres'),
          "CREATE ROLE owner LOGIN PASSWORD 'owner-password' NOSUPERUSER NOCREATEDB NOCREATEROLE",
          'CREATE DATABASE blank OWNER owner',
        );
        const { settings, store } = await fixture.freshBucket({
          PRODUCTION_DATABASE_URL: urlAs(older, 'owner', 'owner-password', 'blank'),
          DATABASES: 'all',
        });

        const night = await fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });
        const drills = await fixture.run(settings, { machine: 'drills', input: { trigger: 'schedule' } });

        expect([night.status, night.error, drills.status, drills.error]).toEqual([
          'SUCCEEDED',
          undefined,
          'SUCCEEDED',
          undefined,
        ]);
        for (const vault of [store, store.forScope('postgres')]) {
          const evidence = await newestDrillEvidence(vault);
          expect(evidence).toMatchObject({
            passed: true,
            backup: { sourceServerVersion: expect.stringMatching(new RegExp(`^${major}\\.`)) },
            restoreTarget: { serverVersion: expect.stringMatching(new RegExp(`^${major}\\.`)) },
          });
          expect(evidence?.sanity.map((check) => [check.name, check.passed])).toEqual([
            ['restored database is empty, as its manifest lists no tables', true],
          ]);
        }
        expect(alerts().filter((a) => a.subject.includes('FAILED'))).toEqual([]);
      } finally {
        await older.stop();
      }
    },
  );
});

describe('configured sanity checks', () => {
  const allItems = { name: 'all items restored', sql: 'SELECT count(*) FROM items', equals: 40 };

  it('run only on the database they name; one that names none where several are backed up is refused', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('app'),
      DATABASES: 'app,blank',
      DRILL_SANITY_CHECKS: JSON.stringify([{ ...allItems, database: 'app' }]),
    });
    const night = await fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });
    expect([night.status, night.error]).toEqual(['SUCCEEDED', undefined]);

    const drills = await fixture.run(settings, { machine: 'drills', input: { trigger: 'schedule' } });

    expect([drills.status, drills.error]).toEqual(['SUCCEEDED', undefined]);
    expect((await newestDrillEvidence(store))?.sanity).toEqual([
      expect.objectContaining({ name: 'all items restored', value: 40, passed: true }),
    ]);
    // `blank` has no `items`: the check is not its check, so it gets the built-in one.
    expect((await newestDrillEvidence(store.forScope('blank')))?.sanity).toEqual([
      expect.objectContaining({
        name: 'restored database is empty, as its manifest lists no tables',
        passed: true,
      }),
    ]);

    // Which of the two would a check without `database` be for? Refused before anything is restored.
    const ambiguous = await fixture.run(
      { ...settings, DRILL_SANITY_CHECKS: JSON.stringify([allItems]) },
      { machine: 'drill', input: { trigger: 'manual', database: 'blank' } },
    );
    expect(ambiguous.error?.name).toBe('ConfigurationError');
    expect(ambiguous.error?.cause).toContain(
      'DRILL_SANITY_CHECKS[0].database is missing: sanity check \\"all items restored\\" must name the database it checks, as this stage backs up several (app, blank)',
    );
    expect(ambiguous.states.some((s) => s.name === 'RecordEvidence')).toBe(false);
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });
});

describe('backupctl drill in local mode', () => {
  const savedEnv = { ...process.env };
  afterAll(() => {
    process.env = savedEnv;
  });

  it("does not apply the sample shop's checks to another database's backup in the local bucket", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'empty-cli-'));
    await chmod(stateDir, 0o755);
    process.env.BACKUP_LOCAL_STATE_DIR = stateDir;
    process.env.BACKUP_SAMPLE_SCALE = '0.02';
    try {
      process.env.DATABASE_URL = ownerUrl('app');
      expect((await runCli(['backup'])).code).toBe(exitCodes.ok);

      // Without DATABASE_URL the local defaults are the sample shop's; the bucket holds app.
      delete process.env.DATABASE_URL;
      const drill = await runCli(['drill']);

      expect([drill.code, drill.stderr]).toEqual([exitCodes.ok, '']);
      expect(drill.stdout).toMatch(/RestoreAndCheck .* sanity 1\/1 passed/);
      expect(drill.stdout).toMatch(/Drill passed\. Evidence: drills\/\S+/);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

describe('the built-in sanity check', () => {
  const run = (database: string, tables: number) =>
    withSession(parseConnectionUrl(ownerUrl(database), 'test'), (session) =>
      runSanityChecks(session, builtInSanityChecks(tables)),
    );

  it('fails a database whose manifest lists tables when none were restored', async () => {
    const [result] = await run('blank', 1);
    expect(result).toMatchObject({
      name: 'restored database has the 1 table its manifest lists',
      value: 0,
      passed: false,
    });
  });

  it('fails a database whose manifest lists none when tables appeared, and passes the right count', async () => {
    expect((await run('app', 0))[0]).toMatchObject({ value: 1, passed: false });
    expect((await run('app', 1))[0]).toMatchObject({ value: 1, passed: true });
    expect((await run('postgres', 0))[0]).toMatchObject({ value: 0, passed: true });
  });
});
