/**
 * The whole server onto a new one: the nightly run keeps the roles (pg_dumpall --globals-only, as the
 * database owner, never a superuser), and `backupctl restore --with-roles` recreates them on a fresh
 * server before restoring with owners and grants, as its admin user (CREATEROLE, not superuser, as a
 * managed provider gives). Checked in the catalog: owners, grants, memberships, default privileges.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { runCli } from '../support/cli-run.ts';
import { sql, urlAs } from '../support/sql.ts';

let stateDir: string;
let production: PostgresServer;
let fresh: PostgresServer;
const savedEnv = { ...process.env };

const cli = (...argv: string[]) => runCli(argv);

/**
 * A new server as a managed provider hands it over: `admin` may create roles and databases but is no
 * superuser, and owns `databases`, each opted in as a restore target. `before` runs first, as the
 * server's superuser (someone else's roles).
 */
async function newServerWithAdmin(server: PostgresServer, databases: string[], before: string[] = []) {
  await sql(
    server.url('postgres'),
    ...before,
    "CREATE ROLE admin LOGIN PASSWORD 'admin-secret' NOSUPERUSER CREATEROLE CREATEDB",
    ...databases.map((database) => `CREATE DATABASE ${database} OWNER admin`),
  );
  for (const database of databases) {
    await sql(urlAs(server, 'admin', 'admin-secret', database), optInStatement(database));
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'roles-'));
  await chmod(stateDir, 0o755);
  production = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'production') });
  fresh = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'fresh') });
  // Production as a provider sets it up: the owner role runs the app's database; more roles beside it.
  await sql(
    production.url('postgres'),
    "CREATE ROLE app_owner LOGIN PASSWORD 'owner-secret' NOSUPERUSER CREATEROLE",
    'CREATE ROLE reader NOLOGIN',
    'CREATE ROLE writer NOLOGIN',
    'GRANT reader TO writer',
    "ALTER ROLE reader SET statement_timeout = '5s'",
    'CREATE DATABASE shop OWNER app_owner',
  );
  await sql(
    production.url('shop'),
    'CREATE SCHEMA sales AUTHORIZATION app_owner',
    'CREATE TABLE sales.orders (id bigint PRIMARY KEY, total numeric)',
    'ALTER TABLE sales.orders OWNER TO app_owner',
    'INSERT INTO sales.orders SELECT i, i FROM generate_series(1, 100) i',
    'CREATE TABLE public.audit (id bigint, note text)',
    'ALTER TABLE public.audit OWNER TO writer',
    'GRANT SELECT ON public.audit TO app_owner',
    'GRANT SELECT ON sales.orders TO reader',
    'GRANT INSERT, UPDATE ON sales.orders TO writer',
    'GRANT USAGE ON SCHEMA sales TO reader',
    'ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA sales GRANT SELECT ON TABLES TO reader',
  );
  // The new server: an admin user that may create roles and databases, but is no superuser.
  await newServerWithAdmin(fresh, ['restored', 'plain']);
  process.env.BACKUP_LOCAL_STATE_DIR = join(stateDir, 'local');
  process.env.DATABASE_URL = urlAs(production, 'app_owner', 'owner-secret', 'shop');
}, 120_000);

afterAll(async () => {
  process.env = savedEnv;
  await fresh?.stop();
  await production?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

const ownersSql = `
  SELECT n.nspname || '.' || c.relname AS relation, pg_get_userbyid(c.relowner) AS owner, c.relacl::text AS acl
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relname IN ('orders', 'audit') ORDER BY 1`;

describe('restore onto a new server with roles', () => {
  it('recreates the roles without passwords, then restores with the owners and grants of production', async () => {
    const night = await cli('backup', '--all-databases');
    expect(night.code).toBe(exitCodes.ok);
    expect(night.stdout).toMatch(/Globals .* \d+ roles, 0 skipped/);

    const restore = await cli(
      'restore',
      'latest',
      '--target-url',
      urlAs(fresh, 'admin', 'admin-secret', 'restored'),
      '--with-roles',
    );
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(exitCodes.ok);
    expect(restore.stdout).toMatch(/owners and grants match/);
    // What an admin without superuser may not do is said, not hidden: the superuser role's attributes.
    expect(restore.stdout).toMatch(
      /the target refused \d+ statement\(s\): .*permission denied to alter role/,
    );
    // ... naming the role and the kind of statement (its attributes, never a password or a value).
    expect(restore.stdout).toMatch(
      /the target refused \d+ statement\(s\): (.* \| )?ALTER ROLE postgres WITH SUPERUSER[A-Z ]*: permission denied to alter role/,
    );
    expect(`${restore.stdout}${restore.stderr}`).not.toMatch(/admin-secret|owner-secret/);

    const [relations, roles, members, defaults] = await sql(
      urlAs(fresh, 'admin', 'admin-secret', 'restored'),
      ownersSql,
      `SELECT rolname, rolcanlogin, rolpassword IS NULL AS no_password, rolconfig::text AS config
         FROM pg_authid WHERE rolname IN ('app_owner', 'reader', 'writer') ORDER BY 1`.replace(
        'pg_authid',
        'pg_roles',
      ),
      `SELECT pg_get_userbyid(roleid) AS role, pg_get_userbyid(member) AS member
         FROM pg_auth_members WHERE pg_get_userbyid(roleid) = 'reader' AND pg_get_userbyid(member) = 'writer'`,
      `SELECT pg_get_userbyid(defaclrole) AS role, defaclacl::text AS acl FROM pg_default_acl`,
    );
    expect(relations).toEqual([
      { relation: 'public.audit', owner: 'writer', acl: expect.stringContaining('app_owner=r/writer') },
      { relation: 'sales.orders', owner: 'app_owner', acl: expect.stringContaining('reader=r/app_owner') },
    ]);
    expect(relations?.[1]?.acl).toContain('writer=aw/app_owner');
    expect(roles?.map((r) => [r.rolname, r.rolcanlogin])).toEqual([
      ['app_owner', true],
      ['reader', false],
      ['writer', false],
    ]);
    expect(roles?.find((r) => r.rolname === 'reader')?.config).toContain('statement_timeout=5s');
    expect(members).toHaveLength(1);
    expect(defaults).toEqual([{ role: 'app_owner', acl: expect.stringContaining('reader=r/app_owner') }]);
    // No password came along: the restored login role cannot log in until someone sets one.
    await expect(sql(urlAs(fresh, 'app_owner', 'owner-secret', 'restored'), 'SELECT 1')).rejects.toThrow();
  });

  it('names the owners and grants the target could not reproduce, exit 3', async () => {
    // Another new server where someone else made `writer` already: its admin may not act for it.
    const other = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'other') });
    try {
      await newServerWithAdmin(other, ['restored'], ['CREATE ROLE writer NOLOGIN']);

      const restore = await cli(
        'restore',
        'latest',
        '--target-url',
        urlAs(other, 'admin', 'admin-secret', 'restored'),
        '--with-roles',
      );

      expect(restore.code).toBe(exitCodes.verificationFailed);
      expect(restore.stderr).toMatch(
        /OwnershipMismatchError: \d+ owner or grant difference\(s\) in the target database restored .*public\.audit: owner admin, expected writer/,
      );
      expect(restore.stderr).toMatch(/public\.audit could not be given to writer: /);
      expect(restore.stderr).not.toMatch(/admin-secret/);
    } finally {
      await other.stop();
    }
  });

  it('without --with-roles restores as before: everything owned by the target user, no grants', async () => {
    const restore = await cli(
      'restore',
      'latest',
      '--target-url',
      urlAs(fresh, 'admin', 'admin-secret', 'plain'),
    );
    expect(restore.code).toBe(exitCodes.ok);
    const [relations, schema] = await sql(
      urlAs(fresh, 'admin', 'admin-secret', 'plain'),
      ownersSql,
      "SELECT pg_get_userbyid(nspowner) AS owner, nspacl::text AS acl FROM pg_namespace WHERE nspname = 'public'",
    );
    expect(relations?.map((r) => [r.relation, r.owner, r.acl])).toEqual([
      ['public.audit', 'admin', null],
      ['sales.orders', 'admin', null],
    ]);
    // The emptied database's public schema is a new database's again: everyone may use it.
    expect(schema).toEqual([
      { owner: 'pg_database_owner', acl: '{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}' },
    ]);
  });
});
