/**
 * The restore in two parts with a reader beside its post-data section (`runPgRestore` with `beside`,
 * as the comparison's v4 digests are read): the reader starts once every row is in and before the
 * indexes and constraints, pg_restore's ALTER TABLE waits for the reader's lock (so the rows cannot
 * change under it, and it never waits for pg_restore in turn), and the restore still ends whole. A
 * reader that fails is the error once the restore has ended; a restore that fails is the error first.
 * On every major 13-18, restored and read as a database owner without superuser.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type PgConnection, parseConnectionUrl } from '../../lib/pg/connection.ts';
import { type PgPrograms, runPgProcess } from '../../lib/pg/process.ts';
import { type Session, withSession } from '../../lib/pg/session.ts';
import { pgProgramsFor } from '../../lib/runtime.ts';
import { runPgRestore } from '../../lib/verify/restore.ts';
import { localMajors, type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { exampleManifest } from '../support/status-fixture.ts';
import { waitFor } from '../support/wait-for.ts';

const programs = pgProgramsFor(undefined);
const manifest = exampleManifest('20261207T000000Z-beside', new Date(), 1);
const owner = 'beside_owner';
const password = 'beside-owner-pw';

// On every major, as a database owner without superuser: what a managed provider's user has.
describe.each(localMajors)('on PostgreSQL %i, as an owner without superuser', (major) => {
  let server: PostgresServer;
  let dataDir: string;
  let admin: PgConnection;
  let dumpPath: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), `restore-beside-${major}-`));
    server = await startPostgresServer({ major, dataDir: join(dataDir, 'pg') });
    admin = parseConnectionUrl(server.url(), 'admin');
    await withSession(admin, async (session) => {
      await session.query(
        `CREATE ROLE ${owner} LOGIN PASSWORD '${password}' NOSUPERUSER NOCREATEDB NOCREATEROLE`,
      );
      await session.query(`CREATE DATABASE shop OWNER ${owner}`);
    });
    const shop = { ...admin, database: 'shop', user: owner, password };
    await withSession(shop, async (session) => {
      await session.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
      await session.query("INSERT INTO orders SELECT i, 'order ' || i FROM generate_series(1, 20000) i");
      await session.query('CREATE INDEX orders_note ON orders (note)');
    });
    dumpPath = join(dataDir, 'shop.dump');
    const bundle = await programs.clientForServer(major * 10_000);
    const dumped = await runPgProcess(
      bundle,
      'pg_dump',
      ['--format=custom', `--file=${dumpPath}`, '--no-password'],
      {
        connection: shop,
      },
    );
    expect(dumped.outcome).toBe('ok');
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** A fresh database the owner owns, reached as the owner. */
  async function freshTarget(name: string) {
    await withSession(admin, (session) => session.query(`CREATE DATABASE ${name} OWNER ${owner}`));
    return { ...admin, database: name, user: owner, password, serverVersionNum: major * 10_000 };
  }

  const indexesOf = async (session: Session) =>
    (
      await session.query<{ name: string }>(
        "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'orders'",
      )
    ).rows
      .map((row) => row.name)
      .sort();

  describe('runPgRestore beside the post-data section', () => {
    it('reads every row before the indexes, holds pg_restore off the table meanwhile, and ends whole', async () => {
      const target = await freshTarget('beside_ok');
      const result = await runPgRestore(manifest, dumpPath, target, {
        programs,
        jobs: 2,
        beside: () =>
          withSession(target, async (session) => {
            await session.query('BEGIN');
            const { rows } = await session.query<{ n: string }>('SELECT count(*) AS n FROM orders');
            const indexesAtStart = await indexesOf(session);
            // pg_restore's post-data asks for the table while this reader holds it: it waits, we do not.
            const waiting = await waitFor(
              "pg_restore's post-data waiting for the table",
              async () => {
                const { rows: locks } = await withSession(target, (s) =>
                  s.query<{ mode: string }>(
                    "SELECT mode FROM pg_locks WHERE NOT granted AND relation = (SELECT oid FROM pg_class WHERE relname = 'orders' LIMIT 1)",
                  ),
                );
                return locks.length > 0 ? locks.map((l) => l.mode) : undefined;
              },
              { limitMs: 20_000 },
            );
            await session.query('COMMIT');
            return { rows: Number(rows[0]?.n), indexesAtStart, waiting };
          }),
      });
      expect(result.beside).toMatchObject({ rows: 20000, indexesAtStart: [] });
      expect(result.beside?.waiting).toContain('AccessExclusiveLock');
      await withSession(target, async (session) => {
        expect(await indexesOf(session)).toEqual(['orders_note', 'orders_pkey']);
      });
    }, 60_000);

    it("names the reader's failure once the restore has ended whole", async () => {
      const target = await freshTarget('beside_fails');
      await expect(
        runPgRestore(manifest, dumpPath, target, {
          programs,
          jobs: 2,
          beside: async () => {
            throw new Error('the reader failed');
          },
        }),
      ).rejects.toThrow('the reader failed');
      await withSession(target, async (session) => {
        expect(await indexesOf(session)).toEqual(['orders_note', 'orders_pkey']);
      });
    }, 60_000);

    it("names the restore's failure first, and waits for the reader", async () => {
      const target = await freshTarget('beside_conflict');
      // An index of that name already there: the post-data section's CREATE INDEX fails.
      await withSession(target, (session) =>
        session.query('CREATE TABLE placeholder (x int); CREATE INDEX orders_note ON placeholder (x)'),
      );
      // The reader ends only after the post-data pg_restore has exited and one more round trip: a
      // restore that did not wait for it would have rejected by then.
      let postDataExited: Promise<unknown> | undefined;
      const watched: PgPrograms<'pg_restore'> = {
        clientForServer: (version) => programs.clientForServer(version),
        start: (bundle, program, args, options) => {
          const started = programs.start(bundle, program, args, options);
          if (args.includes('--section=post-data')) postDataExited = started.exit;
          return started;
        },
      };
      let readerEnded = false;
      await expect(
        runPgRestore(manifest, dumpPath, target, {
          programs: watched,
          jobs: 2,
          beside: async () => {
            await waitFor('the post-data pg_restore to start', () => postDataExited);
            await postDataExited;
            await withSession(target, (session) => session.query('SELECT 1'));
            readerEnded = true;
            throw new Error('the reader failed too');
          },
        }),
      ).rejects.toThrow(/pg_restore failed .*orders_note/);
      expect(readerEnded).toBe(true);
    }, 60_000);
  });
});
