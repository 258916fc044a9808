/**
 * The v4 proof's two readers on real servers (lib/pg/archive-stream.ts, lib/pg/stream-content.ts):
 * the archive pg_dump writes, read as a stream in every compression Node can open, gives each table's
 * row count and checksum; the restored copy, copied out with pg_dump's COPY columns and settings, gives
 * the same; a change to one value does not. Hostile shapes: values with tabs, newlines and backslashes,
 * a value larger than pg_dump's chunks, names that need quoting (quotes, dots, parentheses, spaces), a
 * table without columns, an inheritance child whose column order a restore changes, a generated column,
 * a partitioned table, settings of production's database that print values differently.
 * Production is owned by a role without superuser, on the oldest and the newest major.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { digestBeside } from '../../lib/backup/stream-proof.ts';
import { ArchiveUnreadableError } from '../../lib/errors.ts';
import { type PgConnection, parseConnectionUrl } from '../../lib/pg/connection.ts';
import { runPgProcess } from '../../lib/pg/process.ts';
import { withSession } from '../../lib/pg/session.ts';
import {
  type ArchiveTableDigest,
  digestArchive,
  digestRestoredTables,
  measureBesideStream,
  parseCopyColumns,
} from '../../lib/pg/stream-content.ts';
import { tableKey } from '../../lib/pg/tables.ts';
import { pgProgramsFor } from '../../lib/runtime.ts';
import {
  type LocalMajor,
  type PostgresServer,
  startPostgresServer,
} from '../../tools/local/postgres-server.ts';

const owner = 'stream_owner';
const password = 'stream-owner-pw';
const programs = pgProgramsFor(undefined);

const schemaSql = [
  'CREATE SCHEMA "odd ""schema"".(x)"',
  `CREATE TABLE "odd ""schema"".(x)"."ta.ble (1)" (id int PRIMARY KEY, "col ""a""" text, "b,c" bytea, d timestamptz, e float8, m money)`,
  `INSERT INTO "odd ""schema"".(x)"."ta.ble (1)" VALUES
     (1, E'tab\\there\\nnew line\\\\back', '\\x00ff', '2026-01-01 12:00+05', '-0', 12.5),
     (2, NULL, NULL, 'infinity', 'NaN', NULL),
     (3, 'é 😀 \\N literal', '', '1999-12-31 23:59:59.999999+00', 1.0000000000000002, -3)`,
  'CREATE TABLE no_columns ()',
  'INSERT INTO no_columns SELECT FROM generate_series(1, 5)',
  'CREATE TABLE empty_one (id int)',
  'CREATE TABLE big_value (id int, v text)',
  "INSERT INTO big_value SELECT 1, repeat(md5('x'), 200000)",
  'CREATE TABLE parent (a int)',
  'CREATE TABLE child (c text) INHERITS (parent)',
  'ALTER TABLE parent ADD COLUMN b int',
  "INSERT INTO child (a, b, c) SELECT i, i * 2, 'c' || i FROM generate_series(1, 50) i",
  'CREATE TABLE generated (x int, y int GENERATED ALWAYS AS (x * 3) STORED)',
  'INSERT INTO generated (x) SELECT generate_series(1, 10)',
  'CREATE TABLE measured (ts date, v int) PARTITION BY RANGE (ts)',
  "CREATE TABLE measured_2026 PARTITION OF measured FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
  "INSERT INTO measured SELECT '2026-01-01'::date + (i % 300), i FROM generate_series(1, 20000) i",
];

describe.each([13, 18] as LocalMajor[])('a PostgreSQL %i production', (major) => {
  let server: PostgresServer;
  let dataDir: string;
  let production: PgConnection;
  let restored: PgConnection;
  let zstdDigests: Map<string, ArchiveTableDigest>;
  let encoding: string;

  const dump = (compression: string, connection: PgConnection) =>
    programs.clientForServer(major * 10_000).then((bundle) =>
      programs.start(bundle, 'pg_dump', ['--format=custom', `--compress=${compression}`, '--no-password'], {
        connection,
        tailLines: 20,
      }),
    );

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), `stream-content-${major}-`));
    server = await startPostgresServer({ major, dataDir: join(dataDir, 'pg') });
    const admin = parseConnectionUrl(server.url(), 'admin');
    await withSession(admin, async (session) => {
      await session.query(`CREATE ROLE ${owner} LOGIN PASSWORD '${password}'`);
      await session.query(`CREATE DATABASE shop OWNER ${owner}`);
      await session.query('CREATE DATABASE restored');
      // Production's database prints values its own way; pg_dump leaves these settings as they are.
      await session.query(`ALTER DATABASE shop SET TimeZone = 'Asia/Kolkata'`);
      await session.query(`ALTER DATABASE shop SET bytea_output = 'escape'`);
    });
    production = { ...parseConnectionUrl(server.url('shop'), 'production'), user: owner, password };
    restored = { ...admin, database: 'restored' };
    await withSession(production, async (session) => {
      for (const statement of schemaSql) await session.query(statement);
    });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('reads every table of a zstd, a gzip and an uncompressed archive alike, counting rows exactly', async () => {
    const byCompression = new Map<string, Map<string, ArchiveTableDigest>>();
    for (const compression of ['zstd:1', 'gzip', 'none']) {
      const pgDump = await dump(compression, production);
      const stdout = pgDump.child.stdout;
      if (!stdout) throw new Error('no stdout');
      const { header, tables } = await digestArchive(stdout);
      expect((await pgDump.exit).outcome).toBe('ok');
      expect(header.compression).toBe(compression.replace(/:.*/, ''));
      encoding = header.encoding;
      byCompression.set(compression, tables);
    }
    zstdDigests = byCompression.get('zstd:1') ?? new Map();
    expect(byCompression.get('gzip')).toEqual(zstdDigests);
    expect(byCompression.get('none')).toEqual(zstdDigests);
    expect(encoding).toBe('UTF8');

    const counts = await withSession(production, async (session) => {
      const { rows } = await session.query<{ schema: string; table: string; n: number }>(
        `SELECT n.nspname AS schema, c.relname AS table,
                (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::int AS n
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`,
      );
      return rows;
    });
    expect(counts.length).toBe(8);
    for (const table of counts) {
      expect({ table: tableKey(table), rows: zstdDigests.get(tableKey(table))?.rows }).toEqual({
        table: tableKey(table),
        rows: table.n,
      });
    }
    expect(zstdDigests.get(tableKey({ schema: 'public', table: 'no_columns' }))?.copyColumns).toEqual([]);
    expect(
      zstdDigests.get(tableKey({ schema: 'odd "schema".(x)', table: 'ta.ble (1)' }))?.copyColumns,
    ).toEqual(['id', 'col "a"', 'b,c', 'd', 'e', 'm']);
    // pg_dump does not write a generated column: the stream cannot show it (the scan does).
    expect(zstdDigests.get(tableKey({ schema: 'public', table: 'generated' }))?.copyColumns).toEqual(['x']);
  }, 120_000);

  it('gives the same digests beside an upload that reads at its own pace (digestBeside)', async () => {
    const pgDump = await dump('zstd:1', production);
    const stdout = pgDump.child.stdout;
    if (!stdout) throw new Error('no stdout');
    const beside = digestBeside(stdout);
    let uploaded = 0;
    await pipeline(
      stdout,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          uploaded += chunk.length;
          setImmediate(done);
        },
      }),
    );
    const digest = await beside.digest;

    expect((await pgDump.exit).outcome).toBe('ok');
    expect(uploaded).toBeGreaterThan(0);
    expect('error' in digest ? digest.error : digest.tables).toEqual(zstdDigests);
  }, 120_000);

  it('gives the restored copy the same digests, though the restore changed a column order', async () => {
    const archive = join(dataDir, 'shop.dump');
    const bundle = await programs.clientForServer(major * 10_000);
    const dumped = await runPgProcess(
      bundle,
      'pg_dump',
      ['--format=custom', `--file=${archive}`, '--no-password'],
      {
        connection: production,
      },
    );
    expect(dumped.outcome).toBe('ok');
    const restoring = await runPgProcess(
      bundle,
      'pg_restore',
      ['--no-owner', '--dbname=restored', '--no-password', archive],
      {
        connection: restored,
      },
    );
    // pg_restore 18 sets transaction_timeout, which a server before 17 does not know (and ignores).
    expect(
      restoring.stderr
        .split('\n')
        .filter((line) => / error: /.test(line) && !/transaction_timeout/.test(line)),
    ).toEqual([]);
    const measured = await withSession(production, async (session) => {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const { rows } = await session.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      const other = await withSession(production, (counter) =>
        measureBesideStream(counter, rows[0]?.id ?? '', 'row-md5-sum64-v1'),
      );
      await session.query('COMMIT');
      return other;
    });
    expect(measured.settings).toMatchObject({ TimeZone: 'Asia/Kolkata', bytea_output: 'escape' });
    expect(measured.scanned.map(tableKey)).toEqual([tableKey({ schema: 'public', table: 'generated' })]);
    const columnOrder = await withSession(restored, async (session) => {
      const { rows } = await session.query<{ a: string }>(
        "SELECT string_agg(attname, ',' ORDER BY attnum) AS a FROM pg_attribute WHERE attrelid = 'child'::regclass AND attnum > 0",
      );
      return rows[0]?.a;
    });
    expect(columnOrder).toBe('a,b,c');
    expect(zstdDigests.get(tableKey({ schema: 'public', table: 'child' }))?.copyColumns).toEqual([
      'a',
      'c',
      'b',
    ]);

    // The columns with the types the snapshot's catalog gives them, as the Dump step records them.
    const tables = [...zstdDigests.values()].map((t) => ({
      ...t,
      copyColumns: (t.copyColumns ?? []).map((name) => {
        const type = measured.columnTypes.get(tableKey(t))?.get(name);
        if (type === undefined) throw new Error(`no type for ${tableKey(t)}.${name}`);
        return [name, type] as const;
      }),
    }));
    expect(tables.find((t) => t.table === 'ta.ble (1)')?.copyColumns).toContainEqual(['m', 'money']);
    const settings = { ...measured.settings, client_encoding: encoding };
    const restoredDigests = await withSession(restored, (session) =>
      digestRestoredTables(session, tables, settings),
    );
    expect(restoredDigests.columns.size).toBe(0);
    const restoredShared = await withSession(restored, (session) =>
      digestRestoredTables(session, tables, settings, { connection: restored, jobs: 3 }),
    );
    expect(restoredShared).toEqual(restoredDigests);
    for (const table of tables) {
      expect(restoredDigests.digests.get(tableKey(table))).toEqual({
        schema: table.schema,
        table: table.table,
        rows: table.rows,
        checksum: table.checksum,
      });
    }

    // One value changed, one column of two rows swapped: both seen; a column of another type named.
    await withSession(restored, async (session) => {
      await session.query(`UPDATE "odd ""schema"".(x)"."ta.ble (1)" SET e = 0.0 WHERE id = 1`);
      await session.query(
        'UPDATE child SET c = CASE a WHEN 1 THEN $$c2$$ WHEN 2 THEN $$c1$$ END WHERE a IN (1, 2)',
      );
      await session.query('ALTER TABLE big_value ALTER COLUMN id TYPE bigint');
    });
    const after = await withSession(restored, (session) => digestRestoredTables(session, tables, settings));
    // One session per table, as a restore's comparison shares them out: every table but the largest is
    // read by a session that imported the first one's snapshot, and the changes are seen all the same.
    const shared = await withSession(restored, (session) =>
      digestRestoredTables(session, tables, settings, { connection: restored, jobs: tables.length }),
    );
    expect(shared).toEqual(after);
    const changed = tables
      .filter(
        (t) => after.digests.get(tableKey(t))?.checksum !== t.checksum && !after.columns.has(tableKey(t)),
      )
      .map(tableKey);
    expect(changed.sort()).toEqual(
      [
        tableKey({ schema: 'odd "schema".(x)', table: 'ta.ble (1)' }),
        tableKey({ schema: 'public', table: 'child' }),
      ].sort(),
    );
    expect([...after.columns]).toEqual([
      [tableKey({ schema: 'public', table: 'big_value' }), ['column "id" is of another type']],
    ]);
  }, 180_000);

  it('names an archive it cannot read: lz4 blocks, a truncated stream, random bytes', async () => {
    const pgDump = await dump('lz4', production);
    const stdout = pgDump.child.stdout;
    if (!stdout) throw new Error('no stdout');
    await expect(digestArchive(stdout)).rejects.toThrow(ArchiveUnreadableError);
    pgDump.stop();
    await pgDump.exit;

    const whole = await dump('zstd:1', production);
    const chunks: Buffer[] = [];
    for await (const chunk of whole.child.stdout ?? []) chunks.push(chunk as Buffer);
    const archive = Buffer.concat(chunks);
    await expect(digestArchive(Readable.from([archive.subarray(0, archive.length - 100)]))).rejects.toThrow(
      /ends/,
    );
    await expect(digestArchive(Readable.from([Buffer.from('PGDMP not really an archive')]))).rejects.toThrow(
      ArchiveUnreadableError,
    );
  }, 120_000);
});

describe('parseCopyColumns', () => {
  it("reads pg_dump's COPY statements and refuses anything else", () => {
    expect(parseCopyColumns('COPY public.t (a, "B c", "x""y") FROM stdin;\n')).toEqual(['a', 'B c', 'x"y']);
    expect(parseCopyColumns('COPY public.t  FROM stdin;\n')).toEqual([]);
    expect(parseCopyColumns('COPY "a.b"."c (d)" ("e, f") FROM stdin;\n')).toEqual(['e, f']);
    expect(parseCopyColumns('COPY public.t (a) FROM stdin; DROP TABLE x;')).toBeUndefined();
    expect(parseCopyColumns('COPY t (a) FROM stdin;')).toBeUndefined();
    expect(parseCopyColumns('COPY public.t (a FROM stdin;')).toBeUndefined();
  });
});
