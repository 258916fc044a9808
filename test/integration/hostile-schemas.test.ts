/**
 * Hostile and unusual schemas through the real backup state machine: a production database holding
 * every kind of identifier and object we could think of (quotes, spaces, dots, unicode, mixed case,
 * reserved words, names at and past the 63-byte limit, 1,000 tables, partitions, inheritance, unlogged
 * tables, large objects, materialized views, generated columns, domains, enums and every extension the
 * embedded server can create), and an empty database. Each is verified on a scratch server, then once
 * more on staging, where the restored copy is compared with production. Counts are checked against
 * PostgreSQL's own quoting (`format('%I.%I')`), not ours.
 */

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest } from '../../lib/backup/catalog.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { quoteIdentifier, quoteLiteral, withSession } from '../../lib/pg/session.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;

const schema = 'Hostile "Schema".v1';
/** PostgreSQL keeps at most 63 bytes of a name, cut at a character boundary. */
const clip = (name: string) => {
  let clipped = '';
  for (const char of name) {
    if (Buffer.byteLength(clipped + char) > 63) break;
    clipped += char;
  }
  return clipped;
};
const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const lit = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Table name -> rows, all in `schema`. Two names differ only by case; others need quoting to exist. */
const hostileTables: Record<string, number> = {
  table: 2,
  select: 1,
  user: 0,
  'with space': 3,
  'dot.ted': 4,
  'quo"te': 5,
  "it's": 6,
  MixedCase: 2,
  mixedcase: 3,
  'café 📦 Ünïcödé': 7,
  'back\\slash': 1,
  '$1 %s %I ?': 2,
  'semi;colon -- comment /*': 3,
  [`${'x'.repeat(63)}`]: 1,
  [`${'y'.repeat(70)}`]: 2,
  [`${'é'.repeat(40)}`]: 3,
  [`ab${'€'.repeat(25)}`]: 4,
  'empty "zero"': 0,
};
const manyTables = 1000;
const largeObjects = ['first large object', '', 'x'.repeat(100_000)];

function hostileSetupSql(serverMajor: number): string {
  const s = q(schema);
  const tables = Object.entries(hostileTables).map(
    ([name, rows]) =>
      `CREATE TABLE ${s}.${q(name)} (id int, ${q('naïve "col"')} text);
       INSERT INTO ${s}.${q(name)} SELECT g, 'v' || g FROM generate_series(1, ${rows}) g;`,
  );
  return `
    CREATE SCHEMA ${s};
    ${tables.join('\n')}
    -- Two tables whose schema-dot-table spelling is the same string: a.b.c
    CREATE SCHEMA a; CREATE SCHEMA "a.b";
    CREATE TABLE a."b.c" (id int); INSERT INTO a."b.c" VALUES (1);
    CREATE TABLE "a.b".c (id int); INSERT INTO "a.b".c VALUES (1), (2);
    CREATE TABLE ${s}."no columns" (); INSERT INTO ${s}."no columns" DEFAULT VALUES; INSERT INTO ${s}."no columns" DEFAULT VALUES;

    -- 1,000 tables, most with a few rows, every third one empty
    CREATE SCHEMA many;
    DO $$ BEGIN
      FOR i IN 1..${manyTables} LOOP
        EXECUTE format('CREATE TABLE many.%I (id int)', 't' || i);
        EXECUTE format('INSERT INTO many.%I SELECT generate_series(1, %s)', 't' || i, i % 3);
      END LOOP;
    END $$;

    -- Partitions: across schemas, two levels deep, an empty default
    CREATE SCHEMA other;
    CREATE TABLE ${s}."Parted Table" (id int NOT NULL, kind text NOT NULL) PARTITION BY RANGE (id);
    CREATE TABLE ${s}."p 1" PARTITION OF ${s}."Parted Table" FOR VALUES FROM (0) TO (100);
    CREATE TABLE other."p 2" PARTITION OF ${s}."Parted Table" FOR VALUES FROM (100) TO (200);
    CREATE TABLE ${s}."p 3" PARTITION OF ${s}."Parted Table" FOR VALUES FROM (200) TO (300) PARTITION BY LIST (kind);
    CREATE TABLE ${s}."p 3 a" PARTITION OF ${s}."p 3" FOR VALUES IN ('a');
    CREATE TABLE ${s}."p 3 b" PARTITION OF ${s}."p 3" FOR VALUES IN ('b');
    CREATE TABLE ${s}."p default" PARTITION OF ${s}."Parted Table" DEFAULT;
    INSERT INTO ${s}."Parted Table" SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END FROM generate_series(0, 299) g;

    -- Inheritance: pg_dump writes the parent's own rows only
    CREATE TABLE ${s}.parent (id int);
    CREATE TABLE ${s}.child () INHERITS (${s}.parent);
    INSERT INTO ${s}.parent VALUES (1);
    INSERT INTO ${s}.child VALUES (2), (3);

    CREATE UNLOGGED TABLE ${s}."unlogged Ü" (id int);
    INSERT INTO ${s}."unlogged Ü" SELECT generate_series(1, 11);

    -- Domains, enums, generated columns
    CREATE TYPE ${s}."mood ""enum""" AS ENUM ('it''s ok', 'with space', '😀');
    CREATE DOMAIN ${s}."positive int" AS int CHECK (VALUE > 0);
    CREATE TABLE ${s}.typed (
      id ${s}."positive int" PRIMARY KEY,
      mood ${s}."mood ""enum""" NOT NULL,
      price numeric NOT NULL,
      qty int NOT NULL,
      total numeric GENERATED ALWAYS AS (price * qty) STORED
      ${serverMajor >= 18 ? ", label text GENERATED ALWAYS AS (qty::text || 'x') VIRTUAL" : ''});
    INSERT INTO ${s}.typed (id, mood, price, qty) VALUES
      (1, 'it''s ok', 2.5, 4), (2, 'with space', 1, 1), (3, '😀', 10, 3);

    CREATE MATERIALIZED VIEW ${s}."Mat View" AS SELECT kind, count(*) AS n FROM ${s}."Parted Table" GROUP BY kind;
    CREATE MATERIALIZED VIEW ${s}."never refreshed" AS SELECT 1 AS one WITH NO DATA;

    CREATE TABLE ${s}.documents (id int, blob oid);
    ${largeObjects
      .map(
        (text, i) =>
          `INSERT INTO ${s}.documents VALUES (${i}, lo_from_bytea(0, convert_to(${lit(text)}, 'UTF8')));`,
      )
      .join('\n')}`;
}

/** Every extension of the server that can be created here (languages and extensions needing libraries that are missing are skipped). */
async function createAvailableExtensions(url: string): Promise<string[]> {
  return withSession(parseConnectionUrl(url, 'hostile'), async (session) => {
    const { rows } = await session.query<{ name: string }>(
      `SELECT name FROM pg_available_extensions
        WHERE installed_version IS NULL AND name NOT LIKE '%pl%' ORDER BY name`,
    );
    const created: string[] = [];
    for (const { name } of rows) {
      await session.query('BEGIN');
      try {
        await session.query(`CREATE EXTENSION IF NOT EXISTS ${q(name)} CASCADE`);
        await session.query('COMMIT');
        created.push(name);
      } catch {
        await session.query('ROLLBACK');
      }
    }
    return created;
  });
}

/** Row counts by PostgreSQL's own quoting (format %I), rows pg_dump writes (ONLY: no inherited rows). */
const independentCountsSql = `
  SELECT n.nspname AS schema, c.relname AS table,
         (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::int AS rows
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'verified_pg_backups_lease')
     AND n.nspname NOT LIKE 'pg\\_toast%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

type Counted = { schema: string; table: string; rows: number };
const sorted = (tables: Counted[]) =>
  [...tables].sort((a, b) =>
    JSON.stringify([a.schema, a.table]).localeCompare(JSON.stringify([b.schema, b.table])),
  );

/** Facts about a database that the row counts do not cover. */
const factsSql = `
  SELECT
    (SELECT json_agg(extname ORDER BY extname) FROM pg_extension) AS extensions,
    (SELECT json_agg(md5(lo_get(blob)) ORDER BY id) FROM ${q(schema)}.documents) AS large_objects,
    (SELECT count(*)::int FROM pg_largeobject_metadata) AS large_object_count,
    (SELECT json_agg(json_build_object('kind', kind, 'n', n) ORDER BY kind) FROM ${q(schema)}."Mat View") AS mat_view,
    (SELECT relispopulated FROM pg_class WHERE oid = to_regclass(${lit(`${q(schema)}."never refreshed"`)})) AS never_refreshed_populated,
    (SELECT json_agg(to_jsonb(t) ORDER BY id) FROM ${q(schema)}.typed t) AS typed,
    (SELECT json_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = to_regtype(${lit(`${q(schema)}."mood ""enum"""`)})) AS enum_labels,
    (SELECT relpersistence FROM pg_class WHERE oid = to_regclass(${lit(`${q(schema)}."unlogged Ü"`)})) AS unlogged,
    (SELECT count(*)::int FROM pg_inherits) AS inherits`;

/** Backs up `database` and verifies it on a scratch server, or on staging where the copy can be read. */
async function runScenario(database: string, on: 'scratch' | 'staging' = 'scratch') {
  const url = fixture.environment.production?.url(database) ?? '';
  const { settings, store } = await fixture.freshBucket({
    ...(on === 'staging' ? await fixture.stagingSettings() : {}),
    PRODUCTION_DATABASE_URL: url,
  });
  const execution = await fixture.run(settings);
  return { execution, store, url };
}

async function verifiedManifest(store: BackupStore) {
  const [backup] = await listBackups(store);
  expect(backup?.verified).toBe(true);
  return readManifest(store, backup?.backupId ?? '');
}

const sqlOn = async <T extends Record<string, unknown>>(url: string, text: string): Promise<T[]> =>
  withSession(
    parseConnectionUrl(url, 'test database'),
    async (session) => (await session.query(text)).rows as T[],
  );

beforeAll(async () => {
  fixture = await startPipelineFixture();
  for (const database of ['hostile', 'empty_db']) {
    await fixture.productionSql(`DROP DATABASE IF EXISTS ${database}`);
    await fixture.productionSql(`CREATE DATABASE ${database}`);
  }
}, 120_000);
afterAll(async () => {
  await fixture?.stop();
});

describe('hostile and unusual schemas', () => {
  it('dumps, restores and counts every table of a database built to break quoting and counting', async () => {
    const url = fixture.environment.production?.url('hostile') ?? '';
    const [version] = await sqlOn<{ v: number }>(
      url,
      "SELECT current_setting('server_version_num')::int / 10000 AS v",
    );
    await sqlOn(url, hostileSetupSql(version?.v ?? 0));
    const extensions = await createAvailableExtensions(url);
    expect(extensions).toEqual(expect.arrayContaining(['citext', 'hstore', 'pgcrypto', 'ltree', 'pg_trgm']));
    await sqlOn(
      url,
      'CREATE TABLE public.tagged (id int, tags public.hstore, email public.citext, path public.ltree)',
    );
    await sqlOn(url, "INSERT INTO public.tagged VALUES (1, 'a=>1', 'X@Y.z', 'top.mid')");

    const { execution, store } = await runScenario('hostile');

    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const manifest = await verifiedManifest(store);
    const production = sorted(await sqlOn<Counted>(url, independentCountsSql));
    expect(sorted(manifest.tables.map(({ schema, table, rows }) => ({ schema, table, rows })))).toEqual(
      production,
    );
    // Verified with content, every table checksummed (the run succeeded, so every checksum matched).
    expect(manifest.tables.every((t) => /^-?\d+$/.test(t.checksum ?? ''))).toBe(true);
    const names = new Set(manifest.tables.map((t) => JSON.stringify([t.schema, t.table])));
    for (const name of Object.keys(hostileTables))
      expect(names).toContain(JSON.stringify([schema, clip(name)]));
    expect(names).toContain(JSON.stringify(['a', 'b.c']));
    expect(names).toContain(JSON.stringify(['a.b', 'c']));
    expect(manifest.tables.filter((t) => t.schema === 'many')).toHaveLength(manyTables);
    const rowsOf = (table: string, where = schema) =>
      manifest.tables.find((t) => t.schema === where && t.table === table)?.rows;
    expect([rowsOf('MixedCase'), rowsOf('mixedcase'), rowsOf('b.c', 'a'), rowsOf('c', 'a.b')]).toEqual([
      2, 3, 1, 2,
    ]);
    expect([rowsOf('parent'), rowsOf('child'), rowsOf('no columns')]).toEqual([1, 2, 2]);
    expect([
      rowsOf('p 1'),
      rowsOf('p 2', 'other'),
      rowsOf('p 3 a'),
      rowsOf('p 3 b'),
      rowsOf('p default'),
    ]).toEqual([100, 100, 50, 50, 0]);
    expect(rowsOf('Parted Table')).toBeUndefined();
    expect(rowsOf('Mat View')).toBeUndefined();

    expect(await fixture.scratchLeftovers()).toEqual([]);

    // The same backup restored on staging, where the copy can be compared with production by hand.
    const onStaging = await runScenario('hostile', 'staging');
    expect(onStaging.execution.error).toBeUndefined();
    const staging = (await fixture.stagingSettings()).STAGING_DATABASE_URL ?? '';
    expect(sorted(await sqlOn<Counted>(staging, independentCountsSql))).toEqual(production);
    const [expected] = await sqlOn(url, factsSql);
    const [restored] = await sqlOn(staging, factsSql);
    expect(restored).toEqual(expected);
    // Large objects are not tables: they are restored (above), not part of the manifest's counts.
    expect(expected).toMatchObject({
      large_object_count: largeObjects.length,
      unlogged: 'u',
      never_refreshed_populated: false,
    });
    expect((expected as { extensions: string[] }).extensions).toEqual(expect.arrayContaining(extensions));
  }, 240_000);

  it('verifies an empty database and leaves nothing of the previous restore in staging', async () => {
    const onScratch = await runScenario('empty_db');
    expect(onScratch.execution.error).toBeUndefined();
    expect(onScratch.execution.output).toMatchObject({
      verify: { compare: { status: 'match', tablesCompared: 0 } },
    });

    const staging = (await fixture.stagingSettings()).STAGING_DATABASE_URL ?? '';
    // What an earlier restore leaves behind outside any schema: a large object.
    await sqlOn(staging, "SELECT lo_from_bytea(0, 'left over')");

    const { execution, store } = await runScenario('empty_db', 'staging');

    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const manifest = await verifiedManifest(store);
    expect(manifest.tables).toEqual([]);
    expect(execution.output).toMatchObject({
      verify: { compare: { status: 'match', tablesCompared: 0, rowsCompared: 0 } },
    });
    expect(await sqlOn(staging, independentCountsSql)).toEqual([]);
    expect(await sqlOn(staging, 'SELECT count(*)::int AS n FROM pg_largeobject_metadata')).toEqual([
      { n: 0 },
    ]);
  });

  it('quotes names and literals so PostgreSQL reads back exactly what was meant', async () => {
    const hostile = ['a"b', "it's", 'back\\slash', "\\'; DROP TABLE x; --", 'café 📦', 'Mixed Case', ''];
    for (const conforming of ['on', 'off']) {
      const rows = await withSession(
        parseConnectionUrl((await fixture.stagingSettings()).STAGING_DATABASE_URL ?? '', 'staging'),
        async (session) => {
          await session.query(`SET standard_conforming_strings = ${conforming}`);
          // One query at a time: a client queues concurrent queries, which pg@9 will refuse.
          const read: string[][] = [];
          for (const text of hostile) {
            const {
              rows: [row],
            } = await session.query<{ v: string }>(`SELECT ${quoteLiteral(text)}::text AS v`);
            const named =
              text && (await session.query(`SELECT 1 AS ${quoteIdentifier(text)}`)).fields[0]?.name;
            read.push([row?.v ?? '', named || '']);
          }
          return read;
        },
      );
      expect(rows).toEqual(hostile.map((text) => [text, text]));
    }
  });
});
