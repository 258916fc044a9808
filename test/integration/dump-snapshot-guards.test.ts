/**
 * What the Dump step must refuse to call a good backup, on a production database owned by a role
 * without superuser, through the real state machine, s3rver and a scratch verification:
 * - a transaction already running `TRUNCATE items; INSERT ...; ALTER TABLE prices ... TYPE bigint`
 *   that commits while the dump waits for its table locks (rewrites are not MVCC-safe: the old
 *   snapshot would read the new, empty files and the counts would agree with the empty dump);
 * - a table the role cannot read (no grant, or a column-level grant only), and a table with FORCE ROW
 *   LEVEL SECURITY hiding rows: named, never-retried errors instead of a "lock" or a retried failure.
 * The race's named error and the privilege guards (table, column grant, sequence, row security, and
 * the fixes they name) run on a production of every major, 13 to 18: one server per major, shared.
 * The race is driven by events: the overlapping transaction commits once a backup session is seen
 * waiting for its lock in pg_locks.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { listBackups, readManifest } from '../../lib/backup/catalog.ts';
import { type DumpResult, dumpToStore } from '../../lib/backup/dump.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import {
  TableLockedError,
  TablePrivilegeError,
  TableRewrittenDuringDumpError,
  TableRowSecurityError,
} from '../../lib/errors.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { rowSecurityFix } from '../../lib/pg/privileges.ts';
import { countRows, listTables } from '../../lib/pg/row-counts.ts';
import { withSession } from '../../lib/pg/session.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import {
  type LocalMajor,
  localMajors,
  type PostgresServer,
  startPostgresServer,
} from '../../tools/local/postgres-server.ts';
import {
  answerAlertsInEachTest,
  expectFailureAlert,
  expectNothingVerifiedOrLeftOver,
} from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { recordReliability, retriesOf } from '../support/reliability-recorder.ts';

answerAlertsInEachTest();

const owner = 'guard_owner';
const password = 'guard-owner-pw';
const itemsAfter = 300;
const pricesRows = 100;
let fixture: PipelineFixture;

/** The fixture's production server (PostgreSQL 18). */
const production = () => {
  if (!fixture.environment.production) throw new Error('the fixture started no production server');
  return fixture.environment.production;
};
/** Production servers of the other majors, started by the first test that needs one, then shared. */
const otherProductions = new Map<LocalMajor, Promise<PostgresServer>>();
const startedServers: PostgresServer[] = [];

/** `database` on a production server as its owner, who is no superuser. */
function ownerUrl(database: string, user = owner, pw = password, server = production()): string {
  const url = new URL(server.url(database));
  url.username = user;
  url.password = pw;
  return url.toString();
}

const as = (url: string, ...statements: string[]) =>
  withSession(parseConnectionUrl(url, 'test'), async (session) => {
    for (const statement of statements) await session.query(statement);
  });

/** The roles every test uses, on `server` as its superuser. */
async function createRoles(server: PostgresServer): Promise<void> {
  await as(
    server.url(),
    `CREATE ROLE ${owner} LOGIN PASSWORD '${password}' NOSUPERUSER NOBYPASSRLS`,
    "CREATE ROLE guard_other LOGIN PASSWORD 'other-pw' NOSUPERUSER",
  );
}

/** A fresh database owned by `owner`, its public schema usable by `owner` and `other`. */
async function ownedDatabase(name: string, server = production()): Promise<void> {
  await as(server.url(), `CREATE DATABASE ${name} OWNER ${owner}`);
  await as(server.url(name), `GRANT ALL ON SCHEMA public TO ${owner}, guard_other`);
}

beforeAll(async () => {
  fixture = await startPipelineFixture();
  await createRoles(production());
}, 240_000);

afterAll(async () => {
  for (const server of startedServers) await server.stop();
  await fixture?.stop();
});

/** A production server of `major` with the roles: the fixture's (18), or one started once for the file. */
function productionOf(major: LocalMajor): Promise<PostgresServer> {
  if (production().major === major) return Promise.resolve(production());
  let started = otherProductions.get(major);
  if (!started) {
    started = (async () => {
      const server = await startPostgresServer({
        major,
        dataDir: join(fixture.stateDir, 'pg', `guards-${major}`),
      });
      startedServers.push(server);
      await createRoles(server);
      return server;
    })();
    otherProductions.set(major, started);
  }
  return started;
}

/** `items` (200 rows) and `prices` (integer prices) in a new database of `owner`. */
async function shopDatabase(name: string, server = production()): Promise<string> {
  await ownedDatabase(name, server);
  const url = ownerUrl(name, owner, password, server);
  await as(
    url,
    'CREATE TABLE items (id int PRIMARY KEY, name text)',
    "INSERT INTO items SELECT g, 'before ' || g FROM generate_series(1, 200) g",
    'CREATE TABLE prices (item int, price int)',
    `INSERT INTO prices SELECT g, g * 10 FROM generate_series(1, ${pricesRows}) g`,
  );
  return url;
}

/**
 * Opens the migration's transaction (its TRUNCATE and rewrite done, not committed) and commits it as
 * soon as a session of the backup waits for a lock on `items`: the dump's snapshot was exported before.
 * `done` resolves once it committed; `stop` ends the watch (and rolls back if it never committed).
 */
async function overlappingMigration(url: string) {
  const migration = new pg.Client({ connectionString: url, application_name: 'rewriting-migration' });
  const watcher = new pg.Client({ connectionString: url });
  await migration.connect();
  await watcher.connect();
  await migration.query('BEGIN');
  await migration.query('TRUNCATE items');
  await migration.query(`INSERT INTO items SELECT g, 'after ' || g FROM generate_series(1, ${itemsAfter}) g`);
  await migration.query('ALTER TABLE prices ALTER COLUMN price TYPE bigint');
  let stopped = false;
  let committed = false;
  const done = (async () => {
    while (!stopped) {
      const { rows } = await watcher.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE NOT l.granted AND l.relation = 'items'::regclass
            AND a.application_name = 'verified-pg-backups'`,
      );
      if ((rows[0]?.n ?? 0) > 0) {
        await migration.query('COMMIT');
        committed = true;
        return;
      }
      // Polls the lock table for the event; the next poll, not a fixed wait, decides.
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  return {
    done,
    committed: () => committed,
    async stop() {
      stopped = true;
      await done.catch(() => undefined);
      if (!committed) await migration.query('ROLLBACK').catch(() => undefined);
      await migration.end();
      await watcher.end();
    },
  };
}

/** The failed step's error message, as the alert carries it. */
function causeOf(execution: Awaited<ReturnType<PipelineFixture['run']>>): string {
  return (JSON.parse(execution.error?.cause ?? '{}') as { errorMessage?: string }).errorMessage ?? '';
}

/** The GRANT statements an error message tells the owner to run. */
function grantsIn(message: string): string[] {
  const grants = message.match(/GRANT SELECT ON [^;]+;/g) ?? [];
  expect(grants.length).toBeGreaterThan(0);
  return grants;
}

describe('the rewrite race', () => {
  it('never verifies a backup whose snapshot reads a table truncated or rewritten while the dump waited', async () => {
    const url = await shopDatabase('race_pipeline');
    const { settings, store } = await fixture.freshBucket({ PRODUCTION_DATABASE_URL: url });
    const migration = await overlappingMigration(url);
    let execution: Awaited<ReturnType<PipelineFixture['run']>>;
    try {
      execution = await fixture.run(settings);
      await migration.done;
    } finally {
      await migration.stop();
    }
    expect(migration.committed()).toBe(true);

    const fault = 'TRUNCATE + ALTER COLUMN TYPE committed while the dump waited for its table locks';
    // Either outcome is honest; a verified backup with `items` empty is not.
    if (execution.status === 'FAILED') {
      expect(execution.error?.name).toBe('TableRewrittenDuringDumpError');
      await expectNothingVerifiedOrLeftOver(store);
      recordReliability({ area: 'database', fault, invariants: ['named error'] });
      return;
    }
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(true);
    const manifest = await readManifest(store, backup?.backupId ?? '');
    const rows = Object.fromEntries(manifest.tables.map((t) => [t.table, t.rows]));
    expect(rows).toMatchObject({ items: itemsAfter, prices: pricesRows });
    const dump = execution.states.find((s) => s.name === 'Dump' && s.status === 'succeeded');
    // The first snapshot saw the rewrite and was dropped; the second read the committed tables.
    expect((dump?.output as { dump?: DumpResult } | undefined)?.dump?.rewriteRetries).toBe(1);
    recordReliability({
      area: 'database',
      fault,
      expectedError: 'TableRewrittenDuringDumpError, or a new snapshot holding every row',
      observed: 'SUCCEEDED',
      retries: retriesOf(execution),
      invariants: [
        'snapshot dropped once (rewriteRetries 1)',
        `verified backup holds every committed row (items ${itemsAfter}, prices ${pricesRows})`,
      ],
    });
  });

  it.each(localMajors)(
    'fails with TableRewrittenDuringDumpError naming the tables when no new snapshot is allowed (PostgreSQL %i)',
    async (major) => {
      const server = await productionOf(major);
      expect(server.major).toBe(major);
      const url = await shopDatabase('race_named', server);
      const { settings, store } = await fixture.freshBucket({ PRODUCTION_DATABASE_URL: url });
      const runtime = createRuntime(readRuntimeSettings(settings));
      const migration = await overlappingMigration(url);
      let outcome: unknown;
      try {
        outcome = await dumpToStore(
          { compression: 'zstd:1', trigger: 'manual' },
          {
            store,
            connection: await runtime.productionConnection(),
            programs: runtime.programs,
            proof: 'checksums',
            rewriteRetryDelaysMs: [],
          },
        ).catch((error: unknown) => error);
        await migration.done;
      } finally {
        await migration.stop();
      }

      expect(outcome).toBeInstanceOf(TableRewrittenDuringDumpError);
      expect((outcome as Error).message).toMatch(
        /^public\.items, public\.prices were rewritten \(TRUNCATE, ALTER TABLE, VACUUM FULL or CLUSTER\) after the dump's snapshot was taken and before its tables were locked \(1 attempt\); a dump would have read them empty or incomplete$/,
      );
      expect(await store.list('')).toEqual([]);
      expect(await store.listIncompleteUploads('')).toEqual([]);
      recordReliability({
        area: 'database',
        fault: `the same race with no new snapshot allowed (dumpToStore, no retry delays), PostgreSQL ${major}`,
        expectedError: 'TableRewrittenDuringDumpError',
        observed: 'dumpToStore threw TableRewrittenDuringDumpError naming public.items, public.prices',
        invariants: ['nothing uploaded', 'no incomplete multipart upload'],
      });
    },
  );
});

describe('a migration arriving once the tables are locked', () => {
  it('waits behind the dump, and pg_dump queued behind it gives up with TableLockedError naming it', async () => {
    // The snapshot's session holds ACCESS SHARE from before pg_dump starts until it exits: an ALTER
    // TABLE asking for ACCESS EXCLUSIVE in between waits, and PostgreSQL queues pg_dump's own LOCK TABLE
    // behind that request. The dump must say so within its lock wait, not hang.
    const url = await shopDatabase('race_queued');
    const { settings, store } = await fixture.freshBucket({ PRODUCTION_DATABASE_URL: url });
    const runtime = createRuntime(readRuntimeSettings(settings));
    const migration = new pg.Client({ connectionString: url, application_name: 'queued-migration' });
    const watcher = new pg.Client({ connectionString: url });
    await migration.connect();
    await watcher.connect();
    const locks = async (granted: boolean, application: string) =>
      (
        await watcher.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.granted = $1 AND l.relation = 'prices'::regclass AND a.application_name = $2`,
          [granted, application],
        )
      ).rows[0]?.n ?? 0;
    const until = async (condition: () => Promise<boolean>) => {
      while (!(await condition())) await new Promise((resolve) => setImmediate(resolve));
    };
    // The migration asks for its lock after the snapshot's session locked the tables and before
    // pg_dump starts: the dump lists the bucket's stale uploads in between, and waits for it there.
    let altered: Promise<unknown> | undefined;
    const migrationQueued = (async () => {
      await until(async () => (await locks(true, 'verified-pg-backups')) > 0);
      altered = migration.query('ALTER TABLE prices ALTER COLUMN price TYPE bigint');
      await until(async () => (await locks(false, 'queued-migration')) > 0);
    })();
    const gated = new (class extends BackupStore {
      override async listIncompleteUploads(prefix: string) {
        await migrationQueued;
        return super.listIncompleteUploads(prefix);
      }
    })({
      client: createS3Client({ endpoint: settings.AWS_ENDPOINT_URL_S3 }),
      bucket: settings.BACKUP_BUCKET ?? '',
    });
    let outcome: unknown;
    let priceType: string | undefined;
    try {
      outcome = await dumpToStore(
        { compression: 'zstd:1', trigger: 'manual' },
        {
          store: gated,
          connection: await runtime.productionConnection(),
          programs: runtime.programs,
          proof: 'counts',
          lockWaitSeconds: 1,
        },
      ).catch((error: unknown) => error);
      await altered;
      priceType = (
        await watcher.query<{ type: string }>(
          "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'prices'::regclass AND attname = 'price'",
        )
      ).rows[0]?.type;
    } finally {
      await altered?.catch(() => undefined);
      await migration.end();
      await watcher.end();
    }

    expect(outcome).toBeInstanceOf(TableLockedError);
    expect((outcome as Error).message).toMatch(
      /^pg_dump waited 1 s for a table lock and gave up: public\.prices is awaited \(ACCESS EXCLUSIVE\) by pid \d+ \(application 'queued-migration', active, transaction open \d+ s\), queued ahead of the dump$/,
    );
    expect(await store.listIncompleteUploads('')).toEqual([]);
    // The migration was delayed by the dump, not lost: it ran once the dump let go.
    expect(priceType).toBe('bigint');
    recordReliability({
      area: 'database',
      fault:
        'an ALTER TABLE asks for ACCESS EXCLUSIVE after the dump locked its tables, before pg_dump locks them',
      expectedError: 'TableLockedError',
      observed: 'dumpToStore threw TableLockedError naming the queued session (lock wait 1 s)',
      invariants: ['no incomplete multipart upload', 'the migration ran once the dump let go'],
    });
  });
});

describe('privileges the backup role lacks', () => {
  it('names a table it cannot read and one with a column-level grant, with the GRANT, without a retry', async () => {
    await ownedDatabase('guard_privileges');
    await as(ownerUrl('guard_privileges'), 'CREATE TABLE open_orders (id int)');
    await as(
      ownerUrl('guard_privileges', 'guard_other', 'other-pw'),
      'CREATE TABLE payroll (id int, amount int)',
      'INSERT INTO payroll VALUES (1, 100)',
      'CREATE TABLE salaries (id int, amount int)',
      `GRANT SELECT (id) ON salaries TO ${owner}`,
    );
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('guard_privileges'),
    });

    const execution = await fixture.run(settings);

    const alert = expectFailureAlert(execution, 'TablePrivilegeError', 'Dump');
    expect(retriesOf(execution).Dump ?? 0).toBe(0);
    expect(causeOf(execution)).toContain(
      `"guard_owner" may not read "public"."payroll", "public"."salaries": as the owner: GRANT SELECT ON "public"."payroll" TO "guard_owner"; GRANT SELECT ON "public"."salaries" TO "guard_owner"; or back up as the owner`,
    );
    // What pg_dump's LOCK TABLE would have been told, also for the column-level grant.
    expect(causeOf(execution)).toContain('(PostgreSQL: permission denied for table payroll)');
    expect(alert).toContain('GRANT SELECT ON');
    expect(alert).not.toContain('TableLockedError');
    await expectNothingVerifiedOrLeftOver(store);
    // The GRANTs the error names, run by the tables' owner, are what the next night needed.
    await as(ownerUrl('guard_privileges', 'guard_other', 'other-pw'), ...grantsIn(causeOf(execution)));
    expect((await fixture.run(settings)).status).toBe('SUCCEEDED');
    recordReliability({
      area: 'database',
      fault: 'the backup role lacks SELECT on a table, and has a column-level grant only on another',
      invariants: [
        'not retried (verdict)',
        'cause names the tables and the GRANT',
        'after the named GRANTs the next run verifies',
      ],
    });
  });

  it('names a sequence it cannot read, in the words pg_dump would have met', async () => {
    await ownedDatabase('guard_sequence');
    await as(ownerUrl('guard_sequence'), 'CREATE TABLE orders (id int)');
    await as(ownerUrl('guard_sequence', 'guard_other', 'other-pw'), 'CREATE SEQUENCE invoice_numbers');
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('guard_sequence'),
    });

    const execution = await fixture.run(settings);

    expectFailureAlert(execution, 'TablePrivilegeError', 'Dump');
    expect(retriesOf(execution).Dump ?? 0).toBe(0);
    expect(causeOf(execution)).toBe(
      '"guard_owner" may not read "public"."invoice_numbers": as the owner: GRANT SELECT ON "public"."invoice_numbers" TO "guard_owner"; or back up as the owner (PostgreSQL: permission denied for sequence invoice_numbers)',
    );
    await expectNothingVerifiedOrLeftOver(store);
    await as(ownerUrl('guard_sequence', 'guard_other', 'other-pw'), ...grantsIn(causeOf(execution)));
    expect((await fixture.run(settings)).status).toBe('SUCCEEDED');
    recordReliability({
      area: 'database',
      fault: 'the backup role lacks SELECT on a sequence',
      invariants: [
        'not retried (verdict)',
        "cause names the sequence, the GRANT and PostgreSQL's refusal",
        'after the named GRANT the next run verifies',
      ],
    });
  });

  it('names a table whose FORCE ROW LEVEL SECURITY hides rows from the backup role, without a retry', async () => {
    await ownedDatabase('guard_rls');
    await as(
      ownerUrl('guard_rls'),
      'CREATE TABLE tenant_rows (tenant text)',
      "INSERT INTO tenant_rows VALUES ('a'), ('b')",
      'ALTER TABLE tenant_rows ENABLE ROW LEVEL SECURITY',
      'ALTER TABLE tenant_rows FORCE ROW LEVEL SECURITY',
      "CREATE POLICY only_a ON tenant_rows USING (tenant = 'a')",
    );
    const { settings, store } = await fixture.freshBucket({ PRODUCTION_DATABASE_URL: ownerUrl('guard_rls') });

    const execution = await fixture.run(settings);

    expectFailureAlert(execution, 'TableRowSecurityError', 'Dump');
    expect(retriesOf(execution).Dump ?? 0).toBe(0);
    expect(causeOf(execution)).toContain(
      'row-level security applies to "guard_owner" on "public"."tenant_rows"',
    );
    expect(causeOf(execution)).toContain('BYPASSRLS');
    expect(causeOf(execution)).toContain(
      '(PostgreSQL: query would be affected by row-level security policy for table "tenant_rows")',
    );
    await expectNothingVerifiedOrLeftOver(store);
    recordReliability({
      area: 'database',
      fault: "FORCE ROW LEVEL SECURITY hides rows from the backup role (the table's owner)",
      invariants: ['not retried (verdict)', 'cause names the table and the fix'],
    });
  });
});

describe('privileges the backup role lacks, on every major', () => {
  /** dumpToStore on `url` into a fresh bucket: its result or the error it threw, and the bucket. */
  async function dumpOf(url: string) {
    const { settings, store } = await fixture.freshBucket({ PRODUCTION_DATABASE_URL: url });
    const runtime = createRuntime(readRuntimeSettings(settings));
    const outcome = await dumpToStore(
      { compression: 'zstd:1', trigger: 'manual' },
      {
        store,
        connection: await runtime.productionConnection(),
        programs: runtime.programs,
        proof: 'checksums',
      },
    ).catch((error: unknown) => error);
    return { outcome, store };
  }

  /** A dump that must succeed: its result (its error, as is, when it did not). */
  async function dumped(url: string): Promise<DumpResult> {
    const { outcome } = await dumpOf(url);
    if (outcome instanceof Error) throw outcome;
    return outcome as DumpResult;
  }

  /** The error a refused dump threw, with nothing left in its bucket. */
  async function refusal(url: string, name: 'TablePrivilegeError' | 'TableRowSecurityError') {
    const { outcome, store } = await dumpOf(url);
    expect(outcome).toBeInstanceOf(
      name === 'TablePrivilegeError' ? TablePrivilegeError : TableRowSecurityError,
    );
    expect(await store.list('')).toEqual([]);
    expect(await store.listIncompleteUploads('')).toEqual([]);
    return (outcome as Error).message;
  }

  it.each(localMajors)(
    'names the tables, sequences and row security that would fail pg_dump, and its fixes suffice (PostgreSQL %i)',
    async (major) => {
      const server = await productionOf(major);
      await ownedDatabase('guard_majors', server);
      const url = ownerUrl('guard_majors', owner, password, server);
      const other = ownerUrl('guard_majors', 'guard_other', 'other-pw', server);
      // The owner's own table under RLS, not forced: the policy does not apply to its owner.
      await as(
        url,
        'CREATE TABLE open_orders (id int)',
        'INSERT INTO open_orders VALUES (1), (2)',
        'ALTER TABLE open_orders ENABLE ROW LEVEL SECURITY',
        'CREATE POLICY nobody ON open_orders USING (false)',
      );
      await as(
        other,
        'CREATE TABLE payroll (id int, amount int)',
        'INSERT INTO payroll VALUES (1, 100), (2, 200), (3, 300)',
        'CREATE TABLE salaries (id int, amount int)',
        `GRANT SELECT (id) ON salaries TO ${owner}`,
        'CREATE SEQUENCE invoice_numbers',
      );

      // No grant on a table, a column-level grant only, no grant on a sequence.
      const unreadable = await refusal(url, 'TablePrivilegeError');
      expect(unreadable).toBe(
        `"guard_owner" may not read "public"."invoice_numbers", "public"."payroll", "public"."salaries": as the owner: GRANT SELECT ON "public"."invoice_numbers" TO "guard_owner"; GRANT SELECT ON "public"."payroll" TO "guard_owner"; GRANT SELECT ON "public"."salaries" TO "guard_owner"; or back up as the owner (PostgreSQL: permission denied for sequence invoice_numbers)`,
      );
      await as(other, ...grantsIn(unreadable));

      // RLS on a table the backup role reads but does not own: pg_dump (row_security=off) would fail.
      await as(
        other,
        'ALTER TABLE payroll ENABLE ROW LEVEL SECURITY',
        'CREATE POLICY below_zero ON payroll USING (amount < 0)',
      );
      expect(await refusal(url, 'TableRowSecurityError')).toBe(
        `row-level security applies to "guard_owner" on "public"."payroll": pg_dump would fail on it rather than dump only the rows its policies show; ${rowSecurityFix} (PostgreSQL: query would be affected by row-level security policy for table "payroll")`,
      );
      // The counting session runs as pg_dump does: an error, never a smaller count.
      await withSession(parseConnectionUrl(url, 'owner'), async (session) => {
        const payroll = (await listTables(session)).filter((t) => t.table === 'payroll');
        await expect(countRows(session, payroll)).rejects.toThrow(/row-level security/);
      });

      // FORCE ROW LEVEL SECURITY on the owner's own table applies the policy to the owner too.
      await as(url, 'ALTER TABLE open_orders FORCE ROW LEVEL SECURITY');
      expect(await refusal(url, 'TableRowSecurityError')).toBe(
        `row-level security applies to "guard_owner" on "public"."open_orders", "public"."payroll": pg_dump would fail on them rather than dump only the rows its policies show; ${rowSecurityFix} (PostgreSQL: query would be affected by row-level security policy for table "open_orders")`,
      );

      // The fix the error names that the provider's admin can give: BYPASSRLS. Every row is dumped.
      await as(server.url(), `ALTER ROLE ${owner} BYPASSRLS`);
      try {
        expect(await dumped(url)).toMatchObject({ tables: 3, rows: 5 });
      } finally {
        await as(server.url(), `ALTER ROLE ${owner} NOBYPASSRLS`);
      }

      // A member of the role that owns a table is its owner to row-level security (pg_dump's too): the
      // policy on payroll does not apply once the backup role inherits guard_other.
      await as(url, 'ALTER TABLE open_orders NO FORCE ROW LEVEL SECURITY');
      await as(server.url(), `GRANT guard_other TO ${owner}`);
      try {
        expect(await dumped(url)).toMatchObject({ tables: 3, rows: 5 });
      } finally {
        await as(server.url(), `REVOKE guard_other FROM ${owner}`);
      }
      if (major >= 16) {
        // A membership that does not inherit (16+) does not make it the owner: the policy applies.
        await as(server.url(), `GRANT guard_other TO ${owner} WITH INHERIT FALSE`);
        try {
          expect(await refusal(url, 'TableRowSecurityError')).toMatch(/on "public"\."payroll": /);
        } finally {
          await as(server.url(), `REVOKE guard_other FROM ${owner}`);
        }
      }
    },
  );
});
