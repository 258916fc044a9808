/**
 * Production with roles and grants on every major a user can have, end to end: each major's
 * production is owned by a role without superuser and has a second role holding table, sequence and
 * schema grants, default privileges, a row-level-security policy and a trusted contrib extension. The
 * nightly run (globals + every database, what the schedule runs) must verify with those roles on the
 * scratch server it picks, and `restore --with-roles` onto a fresh server of the same major, as an admin
 * without superuser, must reproduce owners and grants, read back from the catalog; a restore drill of
 * the night's backup must pass on a scratch server of production's major, roles replayed; and the
 * by-hand restore `download` prints must work into a new server of that major as its words say. The
 * owners' check must still catch a real difference on every major: a grant taken away on the restored
 * side.
 *
 * Then production 15 onto PostgreSQL 18 (a scratch server configured newer, a new server of a newer
 * major): PostgreSQL 17 added the MAINTAIN privilege, which is no difference in meaning.
 *
 * The majors run one after the other (the CLI runs in this process with its environment); each major's
 * servers stop when it is done, except production 15, which the cross-major test reuses.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readManifest, readVerification, resolveBackupId } from '../../lib/backup/catalog.ts';
import { parseEvidence } from '../../lib/drill/evidence.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { compareOwnership, readOwnership } from '../../lib/pg/ownership.ts';
import { availableServerBundles } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { classifyRestoreOutput } from '../../lib/verify/restore-messages.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { startLocalEnvironment } from '../../tools/local/environment.ts';
import {
  type LocalMajor,
  localMajors,
  type PostgresServer,
  startPostgresServer,
} from '../../tools/local/postgres-server.ts';
import { type CliRun, runCli } from '../support/cli-run.ts';
import { sql, urlAs } from '../support/sql.ts';

let stateDir: string;
const savedEnv = { ...process.env };
const running = new Set<PostgresServer>();
let production15: PostgresServer | undefined;

const cli = (...argv: string[]) => runCli(argv);

/** Exit 0 and nothing on stderr; else the run's own output is the failure: the error is in it. */
function expectSucceeded(run: CliRun): void {
  if (run.code !== exitCodes.ok || run.stderr !== '') {
    throw new Error(`backupctl exited with ${run.code}:\n${run.stderr}\n${run.stdout}`);
  }
}

async function start(name: string, major: LocalMajor): Promise<PostgresServer> {
  const server = await startPostgresServer({ major, dataDir: join(stateDir, 'pg', name) });
  running.add(server);
  return server;
}

async function stop(server: PostgresServer): Promise<void> {
  running.delete(server);
  await server.stop();
}

/** Production as a provider hands it over: `app_owner` owns `shop` and is no superuser. */
async function seedProduction(server: PostgresServer): Promise<void> {
  await sql(
    server.url('postgres'),
    "CREATE ROLE app_owner LOGIN PASSWORD 'owner-secret' NOSUPERUSER",
    'CREATE ROLE reporting NOLOGIN',
    'CREATE DATABASE shop OWNER app_owner',
  );
  // Everything else as the owner, as the application's migrations would.
  await sql(
    urlAs(server, 'app_owner', 'owner-secret', 'shop'),
    // citext is a trusted contrib extension: a database owner may create it without superuser.
    'CREATE EXTENSION citext',
    'CREATE SCHEMA sales',
    'CREATE TABLE sales.customers (id bigserial PRIMARY KEY, email citext UNIQUE, region text NOT NULL)',
    "INSERT INTO sales.customers (email, region) SELECT 'c' || i || '@example.com', CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 40) i",
    'ALTER TABLE sales.customers ENABLE ROW LEVEL SECURITY',
    "CREATE POLICY eu_only ON sales.customers FOR SELECT TO reporting USING (region = 'eu')",
    'GRANT USAGE ON SCHEMA sales TO reporting',
    'GRANT SELECT ON sales.customers TO reporting',
    'GRANT USAGE, SELECT ON SEQUENCE sales.customers_id_seq TO reporting',
    'ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT SELECT ON TABLES TO reporting',
    // Created after the default privileges: reporting may read it through them.
    'CREATE TABLE sales.orders (id bigserial PRIMARY KEY, customer bigint REFERENCES sales.customers, total numeric)',
    'INSERT INTO sales.orders (customer, total) SELECT 1 + i % 40, i FROM generate_series(1, 100) i',
  );
}

/** A new server as a managed provider hands it over: `admin` may create roles and databases only. */
async function newServerWithAdmin(server: PostgresServer): Promise<string> {
  await sql(
    server.url('postgres'),
    "CREATE ROLE admin LOGIN PASSWORD 'admin-secret' NOSUPERUSER CREATEROLE CREATEDB",
    'CREATE DATABASE restored OWNER admin',
  );
  const url = urlAs(server, 'admin', 'admin-secret', 'restored');
  await sql(url, optInStatement('restored'));
  return url;
}

/** Owners, grants, default privileges, policies and extensions as the catalog has them. */
const catalogSql = [
  `SELECT n.nspname || '.' || c.relname AS relation, c.relkind::text AS kind,
          pg_get_userbyid(c.relowner) AS owner, c.relacl::text AS acl, c.relrowsecurity AS rls
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'sales' AND c.relkind IN ('r', 'S') ORDER BY 1`,
  `SELECT pg_get_userbyid(nspowner) AS owner, nspacl::text AS acl FROM pg_namespace WHERE nspname = 'sales'`,
  `SELECT pg_get_userbyid(d.defaclrole) AS role, n.nspname AS schema, d.defaclobjtype::text AS type,
          d.defaclacl::text AS acl
     FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace ORDER BY 1, 2, 3`,
  'SELECT tablename, policyname, roles::text AS roles, qual FROM pg_policies ORDER BY 1, 2',
  `SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1`,
];

/**
 * Runs the bundled pg_restore line `download` printed, from a shell, with its placeholder URL replaced
 * by `url`: its exit code and stderr.
 */
async function restoreAsPrinted(
  downloadOutput: string,
  url: string,
): Promise<{ code: number; stderr: string }> {
  const printed = downloadOutput.split('\n').find((line) => /ld-linux-.* --library-path /.test(line));
  expect(printed).toMatch(/ld-linux-.* --library-path .*\/bin\/pg_restore --no-owner /);
  const command = (printed ?? '').trim().replace('postgresql://USER@HOST:5432/DB', url);
  return promisify(execFile)('/bin/sh', ['-c', command]).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (error: { code?: number; stderr?: string }) => ({ code: error.code ?? -1, stderr: error.stderr ?? '' }),
  );
}

/**
 * What pg_restore said besides the transaction_timeout refusal `download` calls harmless, read as the
 * product reads it (its --jobs workers interleave their lines): errors, and lines no error explains.
 */
function unexplained(stderr: string): string[] {
  const messages = classifyRestoreOutput(stderr);
  expect(messages.benign.length).toBeGreaterThan(0);
  return [
    ...messages.benign.filter((message) => !/"transaction_timeout"/.test(message)),
    ...messages.fatal,
    ...(messages.unexplained ?? []),
  ];
}

/** Reads the bucket the CLI's local runs wrote to (the URL's database's vault). */
async function withLocalStore<T>(read: (store: BackupStore) => Promise<T>): Promise<T> {
  const environment = await startLocalEnvironment({ env: process.env, need: { production: false } });
  try {
    const { BACKUP_BUCKET: bucket = '', AWS_ENDPOINT_URL_S3: endpoint } = environment.settings;
    return await read(new BackupStore({ client: createS3Client({ endpoint }), bucket }));
  } finally {
    await environment.stop();
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'roles-majors-'));
  await chmod(stateDir, 0o755);
});

afterAll(async () => {
  process.env = savedEnv;
  await Promise.all([...running].map((server) => server.stop()));
  await rm(stateDir, { recursive: true, force: true });
});

/** The nightly run for production's `shop` and every other database app_owner may connect to. */
async function nightly(production: PostgresServer, name: string, env: Record<string, string> = {}) {
  process.env = {
    ...savedEnv,
    BACKUP_LOCAL_STATE_DIR: join(stateDir, 'local', name),
    DATABASE_URL: urlAs(production, 'app_owner', 'owner-secret', 'shop'),
    ...env,
  };
  return cli('backup', '--all-databases');
}

describe.each(localMajors)('production on PostgreSQL %i with roles and grants', (major) => {
  it('verifies every night with its roles and restores them onto a new server of its major', async () => {
    const production = await start(`production-${major}`, major);
    const fresh = await start(`fresh-${major}`, major);
    try {
      await seedProduction(production);
      const restoredUrl = await newServerWithAdmin(fresh);

      const night = await nightly(production, String(major));
      expectSucceeded(night);
      expect(night.stdout).toMatch(/Globals .* \d+ roles, 0 skipped/);

      const restore = await cli('restore', 'latest', '--target-url', restoredUrl, '--with-roles');
      expectSucceeded(restore);
      expect(restore.stdout).toMatch(/owners and grants match/);
      expect(`${night.stdout}${restore.stdout}`).not.toMatch(/admin-secret|owner-secret/);
      if (major < 15) {
        // Before 15 `public` belongs to the bootstrap superuser: a second restore (after a failed one, or
        // a rehearsal) cannot drop it as the admin, and empties it of what the first one put there.
        const again = await cli('restore', 'latest', '--target-url', restoredUrl, '--with-roles');
        expectSucceeded(again);
        expect(again.stdout).toMatch(/owners and grants match/);
      }

      // Checked in the catalog: the new server holds what production holds, to the letter.
      const ownerUrl = urlAs(production, 'app_owner', 'owner-secret', 'shop');
      const [want, got] = await Promise.all([sql(ownerUrl, ...catalogSql), sql(restoredUrl, ...catalogSql)]);
      expect(got).toEqual(want);
      const [relations, schema, defaults, policies, extensions] = got;
      expect(relations).toEqual([
        expect.objectContaining({ relation: 'sales.customers', owner: 'app_owner', rls: true }),
        expect.objectContaining({ relation: 'sales.customers_id_seq', owner: 'app_owner' }),
        expect.objectContaining({ relation: 'sales.orders', owner: 'app_owner', rls: false }),
        expect.objectContaining({ relation: 'sales.orders_id_seq', owner: 'app_owner' }),
      ]);
      expect(relations?.[0]?.acl).toContain('reporting=r/app_owner');
      expect(relations?.[1]?.acl).toContain('reporting=rU/app_owner');
      expect(relations?.[2]?.acl).toContain('reporting=r/app_owner');
      expect(schema).toEqual([{ owner: 'app_owner', acl: expect.stringContaining('reporting=U/app_owner') }]);
      expect(defaults).toEqual([
        { role: 'app_owner', schema: 'sales', type: 'r', acl: '{reporting=r/app_owner}' },
      ]);
      expect(policies).toEqual([
        {
          tablename: 'customers',
          policyname: 'eu_only',
          roles: '{reporting}',
          qual: "(region = 'eu'::text)",
        },
      ]);
      expect(extensions).toEqual([{ extname: 'citext' }]);

      // The verification record says the roles were replayed and matched, and on which server.
      const { verification, source } = await withLocalStore(async (store) => {
        const id = await resolveBackupId(store, 'latest');
        return {
          verification: await readVerification(store, id),
          source: (await readManifest(store, id)).source.serverVersionNum,
        };
      });
      // On a scratch server of production's own major (13, 14 and 16 from the npm builds,
      // docs/pg-client.md), and the record names both.
      const scratchMajor = major;
      expect(verification).toMatchObject({
        roles: { ownership: 'match' },
        sourceServerVersion: expect.stringMatching(new RegExp(`^${major}\\.`)),
        restoreTarget: {
          kind: 'scratch',
          serverVersion: expect.stringMatching(new RegExp(`^${scratchMajor}\\.`)),
        },
      });

      // A restore drill of that backup passes on a fresh scratch server of production's major, the roles
      // replayed there (an owners' or grants' difference fails it), and its evidence names both majors.
      const nightGlobals =
        verification && 'roles' in verification ? verification.roles?.globalsId : undefined;
      expect(nightGlobals).toEqual(expect.any(String));
      const drill = await cli('drill', '--reason', `majors matrix ${major}`);
      expectSucceeded(drill);
      const evidenceKey = /Evidence: (drills\/\S+\.json)/.exec(drill.stdout)?.[1] ?? '';
      const { evidence, markdown } = await withLocalStore(async (store) => ({
        evidence: parseEvidence(await store.getText(evidenceKey), evidenceKey),
        markdown: await store.getText(evidenceKey.replace(/\.json$/, '.md')),
      }));
      expect(evidence).toMatchObject({
        passed: true,
        failedChecks: [],
        // The same night's roles as the nightly verification replayed.
        roles: { globalsId: nightGlobals, ownership: 'match' },
        backup: { database: 'shop', sourceServerVersion: expect.stringMatching(new RegExp(`^${major}\\.`)) },
        restoreTarget: { kind: 'scratch', serverVersion: expect.stringMatching(new RegExp(`^${major}\\.`)) },
        compare: { status: 'match', proof: 'checksums', differences: [] },
      });
      expect(markdown).toContain(
        `| roles | replayed from \`${evidence.roles?.globalsId}\`; owners and grants match the backup |`,
      );
      expect(markdown).toMatch(
        new RegExp(`\\| restored onto \\| a fresh scratch server, PostgreSQL ${major}\\.`),
      );

      // By hand, as download says, into an empty database of a new server of production's major: the
      // pg_restore it names is the archive's pg_dump major (not production's), the bundled one it offers
      // reads that archive and runs as printed, and before 17 the one error it calls harmless is the only
      // one.
      const download = await cli('download', 'latest', '--out', join(stateDir, `by-hand-${major}`));
      expectSucceeded(download);
      const archiveMajor = (
        await withLocalStore(async (store) => readManifest(store, await resolveBackupId(store, 'latest')))
      ).client.bundleMajor;
      expect(download.stdout).toContain(
        `with pg_restore ${archiveMajor} or newer (pg_dump ${archiveMajor} wrote it; an older pg_restore cannot read it)`,
      );
      const bundledMajor = Number(/bundled pg_restore (\d+)\./.exec(download.stdout)?.[1]);
      expect(bundledMajor).toBeGreaterThanOrEqual(archiveMajor);
      await sql(fresh.url('postgres'), 'CREATE DATABASE by_hand');
      const byHand = await restoreAsPrinted(download.stdout, fresh.url('by_hand'));
      if (major < 17) {
        expect(download.stdout).toMatch(/older than PostgreSQL 17, .*"transaction_timeout".* exits 1/);
        expect(byHand.code).toBe(1);
        expect(unexplained(byHand.stderr)).toEqual([]);
      } else {
        expect(download.stdout).not.toMatch(/transaction_timeout/);
        expect(byHand).toEqual({ code: 0, stderr: '' });
      }
      expect(
        await sql(
          fresh.url('by_hand'),
          'SELECT count(*)::int AS n FROM sales.customers',
          'SELECT count(*)::int AS n FROM sales.orders',
        ),
      ).toEqual([[{ n: 40 }], [{ n: 100 }]]);

      // A real difference still fails: grants taken away on the restored side are named, one each.
      const recorded = await withSession(parseConnectionUrl(ownerUrl, 'production'), readOwnership);
      const compare = async () =>
        compareOwnership(
          recorded,
          await withSession(parseConnectionUrl(restoredUrl, 'restored'), readOwnership),
          { source, target: major * 10_000 },
        );
      expect(await compare()).toEqual([]);
      await sql(
        fresh.url('restored'),
        'REVOKE SELECT ON sales.orders FROM reporting',
        'REVOKE USAGE ON SEQUENCE sales.customers_id_seq FROM reporting',
      );
      expect(await compare()).toEqual([
        expect.stringMatching(/^sales\.customers_id_seq: grants .*, expected .*reporting=rU\/app_owner/),
        expect.stringMatching(/^sales\.orders: grants .*, expected .*reporting=r\/app_owner/),
      ]);
    } finally {
      await stop(fresh);
      if (major === 15) production15 = production;
      else await stop(production);
    }
  }, 300_000);
});

describe('production on PostgreSQL 15, a newer major where configured', () => {
  it('verifies on a PostgreSQL 18 scratch server and restores with roles onto a new PostgreSQL 18 server', async () => {
    let production = production15;
    if (!production) {
      production = await start('production-15', 15);
      await seedProduction(production);
    }
    const server18 = (await availableServerBundles()).find((bundle) => bundle.major === 18);
    if (!server18) throw new Error('no PostgreSQL 18 server bundle: run `npm run build:pg-server -- 18`');
    const fresh = await start('fresh-18-for-15', 18);
    try {
      const restoredUrl = await newServerWithAdmin(fresh);
      const night = await nightly(production, '15-on-18', { PG_SERVER_DIR: server18.dir });
      expectSucceeded(night);
      const verification = await withLocalStore(async (store) =>
        readVerification(store, await resolveBackupId(store, 'latest')),
      );
      expect(verification).toMatchObject({
        roles: { ownership: 'match' },
        sourceServerVersion: expect.stringMatching(/^15\./),
        restoreTarget: { kind: 'scratch', serverVersion: expect.stringMatching(/^18\./) },
      });

      const restore = await cli('restore', 'latest', '--target-url', restoredUrl, '--with-roles');
      expectSucceeded(restore);
      expect(restore.stdout).toMatch(/owners and grants match/);

      // By hand, as download says: the archive is pg_dump 18's, so pg_restore 18, never "15 or newer";
      // the bundled pg_restore it offers runs as printed, from a shell.
      const download = await cli('download', 'latest', '--out', join(stateDir, 'by-hand'));
      expectSucceeded(download);
      expect(download.stdout).toMatch(/with pg_restore 18 or newer \(pg_dump 18 wrote it/);
      expect(download.stdout).not.toMatch(/pg_restore 15/);
      const bundled = download.stdout.trim().split('\n').at(-1)?.trim() ?? '';
      expect(bundled).toMatch(/ld-linux-.* --library-path .*\/bin\/pg_restore --no-owner /);
      await sql(fresh.url('postgres'), 'CREATE DATABASE by_hand');
      await promisify(execFile)('/bin/sh', [
        '-c',
        bundled.replace('postgresql://USER@HOST:5432/DB', fresh.url('by_hand')),
      ]);
      const [[counted]] = (await sql(
        fresh.url('by_hand'),
        'SELECT count(*)::int AS n FROM sales.orders',
      )) as [[{ n: number }]];
      expect(counted?.n).toBe(100);

      // What 17 added is not a difference; what was taken away is.
      const ownerUrl = urlAs(production, 'app_owner', 'owner-secret', 'shop');
      const recorded = await withSession(parseConnectionUrl(ownerUrl, 'production'), readOwnership);
      await sql(fresh.url('restored'), 'REVOKE SELECT ON sales.customers FROM reporting');
      const differences = compareOwnership(
        recorded,
        await withSession(parseConnectionUrl(restoredUrl, 'restored'), readOwnership),
        { source: 150000, target: 180000 },
      );
      expect(differences).toEqual([
        expect.stringMatching(/^sales\.customers: grants .*, expected .*reporting=r\/app_owner/),
      ]);
    } finally {
      await stop(fresh);
      await stop(production);
    }
  }, 300_000);
});
