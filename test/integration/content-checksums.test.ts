/**
 * Content checksums end to end, on real servers: the backup state machine run locally against a
 * production database owned by a role without superuser, verified on a scratch server (or, to alter the
 * restored copy by hand, on the staging database that keeps it).
 *
 * - Values whose text form is easy to get wrong hash the same on both sides, even when production's
 *   database defaults (DateStyle, IntervalStyle, extra_float_digits, bytea_output, TimeZone) would print
 *   them differently: the settings are pinned on both sides.
 * - A restore that reproduces every count but not the values (a stored generated column whose
 *   "immutable" function depends on TimeZone) fails with ContentMismatchError naming the table.
 * - A value changed in the restored copy is caught, and so are two equal rows of a table without a key
 *   changed into two other equal rows (a xor of row hashes would cancel them out, a sum does not).
 * - v2 hashes columns by their stored values where that is exact: changes that equality would hide
 *   (numeric scale, infinity for NaN, float -0, case under a nondeterministic collation) are caught,
 *   and a dropped or added column is named. Manifests written with v1 still prove content.
 * - A PostgreSQL 15 production verifies on a PostgreSQL 18 scratch server.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest, readVerification } from '../../lib/backup/catalog.ts';
import { dumpToStore } from '../../lib/backup/dump.ts';
import { type Manifest, parseManifest } from '../../lib/backup/manifest.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { ContentMismatchError } from '../../lib/errors.ts';
import { type PgConnection, parseConnectionUrl } from '../../lib/pg/connection.ts';
import { pinContentSettings, tableContent } from '../../lib/pg/content.ts';
import { availableServerBundles } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { keys } from '../../lib/storage/keys.ts';
import { assertRestoreMatches, compareRowCounts } from '../../lib/verify/compare.ts';
import { startPostgresServer } from '../../tools/local/postgres-server.ts';
import { alerts, answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

const owner = 'content_owner';
const password = 'owner-pw-42';
let fixture: PipelineFixture;

/** The URL of `database` on the production server as its owner, who is no superuser. */
function ownerUrl(database: string): string {
  const url = new URL(fixture.environment.production?.url(database) ?? '');
  url.username = owner;
  url.password = password;
  return url.toString();
}

const asOwner = (database: string, ...statements: string[]) =>
  withSession(parseConnectionUrl(ownerUrl(database), 'owner'), async (session) => {
    for (const statement of statements) await session.query(statement);
  });

/** A backup of `content_values` verified on staging, which keeps the restored copy to alter. */
async function backupKeptOnStaging(): Promise<{ manifest: Manifest; staging: PgConnection }> {
  const { settings, store } = await fixture.freshBucket({
    ...(await fixture.stagingSettings()),
    PRODUCTION_DATABASE_URL: ownerUrl('content_values'),
  });
  const execution = await fixture.run(settings);
  expect(execution.status).toBe('SUCCEEDED');
  const [backup] = await listBackups(store);
  return {
    manifest: await readManifest(store, backup?.backupId ?? ''),
    staging: parseConnectionUrl(settings.STAGING_DATABASE_URL ?? '', 'staging'),
  };
}

/** Values whose text form depends on settings or is easy to mangle, and what pg_dump sets by hand. */
const edgeValues = [
  'CREATE TYPE pair AS (a int, b text)',
  `CREATE TABLE edge_values (
     id serial PRIMARY KEY, f8 float8, f4 float4, n numeric, ts timestamptz, t timestamp, d date,
     iv interval, b bytea, j jsonb, pairs pair[], tt timetz)`,
  `INSERT INTO edge_values (f8, f4, n, ts, t, d, iv, b, j, pairs, tt) VALUES
     ('NaN', 'Infinity', 'NaN', 'infinity', '-infinity', 'infinity', '1 year 2 mons 3 days 04:05:06.789',
      '\\x00ff10', '{"b": [1, 2.50, {"c": null}], "a": "é"}', ARRAY[ROW(1, 'x')::pair, ROW(2, NULL)::pair], '10:00+05:30'),
     ('-Infinity', '-0', '-0.000', '-infinity', '2026-02-28 23:59:59.999999', '0001-01-01 BC', '-1 day',
      '', '[]', ARRAY[]::pair[], '00:00+00'),
     ('-0', 1.1, 123456789012345678901234567890.123456789, '2026-03-29 01:30:00+01', '2026-03-29 02:30:00',
      '2026-03-29', '0', NULL, 'null', NULL, NULL),
     (0.1, 3.4028235e38, 1e-20, now(), now(), now(), '1 microsecond', decode(repeat('ab', 5000), 'hex'),
      '{"nested": {"deep": [true, false]}}', ARRAY[ROW(NULL, 'quote " and \\ backslash')::pair], '23:59:59.999999-12')`,
  // Values whose type hashes by equality rather than identity (lib/pg/row-hash.ts): an enum (its OID
  // changes on restore), a domain, a nondeterministic collation, a quoted column named like the alias.
  "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
  "CREATE TYPE mood AS ENUM ('sad', 'happy')",
  'CREATE DOMAIN positive AS int CHECK (VALUE > 0)',
  `CREATE TABLE typed_values (t mood, "odd ""name""" varchar(10), p positive, u uuid, s int2, tm time,
     c "char", ok bool, label text COLLATE ci, m money, pad bpchar)`,
  `INSERT INTO typed_values VALUES
     ('happy', 'x"y', 7, '00000000-0000-0000-0000-000000000001', -3, '23:59:59.999999', 'z', true, 'Straße', 12.34, 'a '),
     ('sad', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'ABC', NULL, NULL)`,
  // A child whose parent gained a column later: pg_dump recreates it with its columns in another order.
  'CREATE TABLE parent (a int)',
  'CREATE TABLE child (b text) INHERITS (parent)',
  'ALTER TABLE parent ADD COLUMN c int',
  "INSERT INTO child VALUES (1, 'x', 2)",
  'CREATE TABLE no_key (v text, n int)',
  "INSERT INTO no_key VALUES ('same', 1), ('same', 1), ('other', 2)",
  'CREATE SEQUENCE standalone START 100',
  "SELECT nextval('standalone'), nextval('standalone'), nextval('standalone')",
  "SELECT lo_from_bytea(0, 'the bytes of a large object')",
];

beforeAll(async () => {
  fixture = await startPipelineFixture();
  await fixture.productionSql(`CREATE ROLE ${owner} LOGIN PASSWORD '${password}' NOSUPERUSER NOCREATEDB`);
  for (const database of ['content_values', 'content_tz']) {
    await fixture.productionSql(`CREATE DATABASE ${database} OWNER ${owner}`);
    await fixture.sqlOn(database, `GRANT ALL ON SCHEMA public TO ${owner}`);
  }
  // Database defaults that print values differently from the scratch server's: the owner may set them.
  await asOwner(
    'content_values',
    "ALTER DATABASE content_values SET DateStyle = 'SQL, DMY'",
    "ALTER DATABASE content_values SET IntervalStyle = 'iso_8601'",
    'ALTER DATABASE content_values SET extra_float_digits = 0',
    "ALTER DATABASE content_values SET bytea_output = 'escape'",
    "ALTER DATABASE content_values SET TimeZone = 'Asia/Kolkata'",
  );
  await asOwner('content_values', ...edgeValues);
  // A generated column whose "immutable" function reads TimeZone, stored under production's zone.
  await asOwner(
    'content_tz',
    `CREATE FUNCTION local_minute(at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
       AS $$ SELECT to_char(at, 'YYYY-MM-DD HH24:MI') $$`,
    `CREATE TABLE events (id int PRIMARY KEY, at timestamptz,
       local_minute text GENERATED ALWAYS AS (local_minute(at)) STORED)`,
    "ALTER DATABASE content_tz SET TimeZone = 'Pacific/Kiritimati'",
  );
  await asOwner(
    'content_tz',
    "INSERT INTO events (id, at) VALUES (1, '2026-01-01 00:30Z'), (2, '2026-06-01 12:00Z')",
  );
}, 180_000);

afterAll(async () => {
  await fixture?.stop();
});

describe('content checksums', () => {
  it('verifies edge values, a table without a key holding equal rows, large objects and sequences, as a non-superuser owner', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('content_values'),
      CHECKSUM_SOURCE: 'scan',
    });

    const execution = await fixture.run(settings);

    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(true);
    const manifest = await readManifest(store, backup?.backupId ?? '');
    expect(manifest.content).toMatchObject({
      algorithm: 'row-hash-sum64-v3',
      settings: { TimeZone: 'UTC', DateStyle: 'ISO, YMD', bytea_output: 'hex' },
      largeObjects: { count: 1 },
      sequences: expect.arrayContaining([
        { schema: 'public', name: 'standalone', lastValue: '102', increment: '1' },
        { schema: 'public', name: 'edge_values_id_seq', lastValue: '4', increment: '1' },
      ]),
    });
    expect(manifest.tables.map((t) => [t.table, t.rows, /^-?\d+$/.test(t.checksum ?? '')])).toEqual([
      ['child', 1, true],
      ['edge_values', 4, true],
      ['no_key', 3, true],
      ['parent', 0, true],
      ['typed_values', 2, true],
    ]);
    // Each column hashed by its stored value only where that value is what a restore must reproduce,
    // and the 64-bit ones (timestamp, timestamptz, time) whole, by their binary form (v3).
    expect(Object.fromEntries(manifest.tables.map((t) => [t.table, t.columns]))).toEqual({
      child: [
        ['a', 'value'],
        ['b', 'text'],
        ['c', 'value'],
      ],
      parent: [
        ['a', 'value'],
        ['c', 'value'],
      ],
      edge_values: [
        ['b', 'value'],
        ['d', 'value'],
        ['f4', 'text'],
        ['f8', 'float8'],
        ['id', 'value'],
        ['iv', 'text'],
        ['j', 'text'],
        ['n', 'numeric'],
        ['pairs', 'record'],
        ['t', 'binary'],
        ['ts', 'binary'],
        ['tt', 'text'],
      ],
      no_key: [
        ['n', 'value'],
        ['v', 'text'],
      ],
      typed_values: [
        ['c', 'value'],
        ['label', 'text'],
        ['m', 'text'],
        ['odd "name"', 'text'],
        ['ok', 'value'],
        ['p', 'record'],
        ['pad', 'record'],
        ['s', 'value'],
        ['t', 'record'],
        ['tm', 'binary'],
        ['u', 'value'],
      ],
    });
    const verification = await readVerification(store, manifest.backupId);
    expect(verification).toMatchObject({
      proof: 'checksums',
      proofLabel: 'checksums-v3',
      tablesCompared: 5,
      rowsCompared: 10,
    });
    expect(execution.states.find((s) => s.name === 'Verify')?.output).toMatchObject({
      verify: { compare: { status: 'match', proof: 'checksums' } },
    });
    // No row data in the manifest: names, counts and sums only.
    expect(JSON.stringify(manifest)).not.toMatch(/large object|same|é|Straße|happy/);
  });

  it.each([
    ['after pg_restore', 'off'],
    ["beside pg_restore's post-data section", 'on'],
  ])(
    "verifies the same values from the dump stream (v4, CHECKSUM_SOURCE=stream): every table hashed from the rows pg_dump wrote, under production's own settings, the restored rows read %s",
    async (_when, beside) => {
      const { settings, store } = await fixture.freshBucket({
        PRODUCTION_DATABASE_URL: ownerUrl('content_values'),
        CHECKSUM_SOURCE: 'stream',
        COMPARE_BESIDE_INDEXES: beside,
      });

      const execution = await fixture.run(settings);

      expect(execution.error).toBeUndefined();
      expect(execution.status).toBe('SUCCEEDED');
      const [backup] = await listBackups(store);
      expect(backup?.verified).toBe(true);
      const manifest = await readManifest(store, backup?.backupId ?? '');
      expect(manifest.content).toMatchObject({
        algorithm: 'copy-text-murmur3-sum64-v4',
        scanAlgorithm: 'row-hash-sum64-v3',
        // What pg_dump leaves to the database (it pins DateStyle, IntervalStyle and float digits itself).
        settings: {
          TimeZone: 'Asia/Kolkata',
          bytea_output: 'escape',
          lc_monetary: 'C',
          client_encoding: 'UTF8',
        },
        largeObjects: { count: 1 },
      });
      expect(manifest.warnings).toEqual([]);
      expect(
        manifest.tables.map((t) => [t.table, t.rows, /^\d+$/.test(t.checksum ?? ''), t.scanChecksum]),
      ).toEqual([
        ['child', 1, true, undefined],
        ['edge_values', 4, true, undefined],
        ['no_key', 3, true, undefined],
        ['parent', 0, true, undefined],
        ['typed_values', 2, true, undefined],
      ]);
      // The child's columns in production's order, which the restore changes (a, c, b after it).
      expect(manifest.tables.find((t) => t.table === 'child')?.copyColumns).toEqual([
        ['a', 'integer'],
        ['b', 'text'],
        ['c', 'integer'],
      ]);
      expect(await readVerification(store, manifest.backupId)).toMatchObject({
        proof: 'checksums',
        proofLabel: 'checksums-v4',
        tablesCompared: 5,
        rowsCompared: 10,
      });
      expect(JSON.stringify(manifest)).not.toMatch(/large object|same|é|Straße|happy/);
    },
  );

  it('does not wait for a stream digest that falls behind: it is abandoned at its bound, and the checksums come from a scan in the same snapshot, with a warning', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('content_values'),
      CHECKSUM_SOURCE: 'stream',
    });
    const runtime = createRuntime(readRuntimeSettings(settings));

    // A digest that never reads: pg_dump's output must flow past it to the store all the same.
    const dumped = await dumpToStore(
      { compression: 'zstd:1', trigger: 'manual' },
      {
        store: runtime.store,
        connection: await runtime.productionConnection(),
        programs: runtime.programs,
        proof: 'checksums',
        checksumSource: 'stream',
        streamDigest: { maxBehindBytes: 1024, beforeRead: () => new Promise(() => {}) },
      },
    );

    const manifest = parseManifest(await store.getText(dumped.manifestKey), dumped.manifestKey);
    expect(dumped.proof).toBe('checksums');
    expect(manifest.content?.algorithm).toBe('row-hash-sum64-v3');
    expect(manifest.warnings).toEqual([
      "content checksums taken by a scan: the digest of pg_dump's output fell more than 1 KiB behind it",
    ]);
    // v3's sums are signed numerics.
    expect(manifest.tables.map((t) => [t.table, t.rows, /^-?\d+$/.test(t.checksum ?? '')])).toEqual([
      ['child', 1, true],
      ['edge_values', 4, true],
      ['no_key', 3, true],
      ['parent', 0, true],
      ['typed_values', 2, true],
    ]);
  });

  it.each([
    ['after pg_restore', 'off'],
    ["beside pg_restore's post-data section", 'on'],
  ])(
    'fails a restore that reproduces every count but not the values, with ContentMismatchError naming the table, the restored rows read %s',
    async (_when, beside) => {
      const { settings, store } = await fixture.freshBucket({
        PRODUCTION_DATABASE_URL: ownerUrl('content_tz'),
        COMPARE_BESIDE_INDEXES: beside,
      });

      const execution = await fixture.run(settings);

      expect(execution.status).toBe('FAILED');
      expect(execution.error?.name).toBe('ContentMismatchError');
      expect(execution.error?.cause).toContain('every row count');
      expect(execution.error?.cause).toContain('public.events: content differs');
      expect(execution.error?.cause).not.toMatch(/2026-0|Kiritimati/);
      expect(alerts().find((a) => a.subject.includes('FAILED'))?.message).toContain('ContentMismatchError');
      const [backup] = await listBackups(store);
      expect(backup?.verified).toBe(false);
      await expect(store.exists(keys.verification(backup?.backupId ?? ''))).resolves.toBe(false);
      expect(await fixture.scratchLeftovers()).toEqual([]);
    },
  );

  it('counts alone would have passed that restore: with PROOF_LEVEL=counts the same backup verifies', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('content_tz'),
      PROOF_LEVEL: 'counts',
    });

    const execution = await fixture.run(settings);

    expect(execution.status).toBe('SUCCEEDED');
    const [backup] = await listBackups(store);
    const manifest = await readManifest(store, backup?.backupId ?? '');
    expect(manifest.content).toBeUndefined();
    expect(manifest.tables.every((t) => t.checksum === undefined)).toBe(true);
    const verification = await readVerification(store, manifest.backupId);
    expect(verification).toMatchObject({ proof: 'counts' });
  });

  it('catches a value changed in the restored copy, and equal rows of a keyless table changed into other equal rows', async () => {
    const { manifest, staging } = await backupKeptOnStaging();

    await withSession(staging, async (session) => {
      const before = await compareRowCounts(session, manifest, { content: true });
      expect(before).toMatchObject({ status: 'match', proof: 'checksums', content: [] });

      await session.query(`UPDATE public.edge_values SET b = '\\x00ff11' WHERE b = '\\x00ff10'`);
      // ('same', 1) twice -> ('twin', 1) twice: the same count, and with a xor the same (zero) hash.
      await session.query(`UPDATE public.no_key SET v = 'twin' WHERE v = 'same'`);
      const after = await compareRowCounts(session, manifest, { content: true });

      expect(after).toMatchObject({
        status: 'mismatch',
        proof: 'checksums',
        tables: [],
        missing: [],
        extra: [],
      });
      expect(after.content).toEqual(
        expect.arrayContaining(['public.edge_values: content differs', 'public.no_key: content differs']),
      );
      expect(() => assertRestoreMatches(after, manifest.backupId, 'staging')).toThrow(ContentMismatchError);
      // Counts alone see nothing.
      expect(await compareRowCounts(session, manifest, { content: false })).toMatchObject({
        status: 'match',
        proof: 'counts',
      });

      await session.query(`SELECT setval('public.standalone', 1)`);
      const sequences = await compareRowCounts(session, manifest, { content: true });
      expect(sequences.content).toContain('sequence public.standalone: at 1, behind 102');
    });
  });

  it('catches what hashing by equality would hide: numeric scale and infinity, float -0, case under a nondeterministic collation, trailing spaces of bpchar, a dropped column', async () => {
    const { manifest, staging } = await backupKeptOnStaging();

    await withSession(staging, async (session) => {
      // Production's child has its columns as a, b, c; its restored copy may not, and still matches.
      const { rows: order } = await session.query<{ attname: string }>(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'public.child'::regclass AND attnum > 0 ORDER BY attnum",
      );
      expect(order.map((r) => r.attname)).toEqual(['a', 'c', 'b']);
      expect(await compareRowCounts(session, manifest, { content: true })).toMatchObject({ status: 'match' });
      // Each change keeps the value equal (or its type's hash equal) and every count; each is undone.
      const changes = [
        [
          'public.edge_values',
          `UPDATE public.edge_values SET n = 0 WHERE id = 2`,
          `SET n = '-0.000' WHERE id = 2`,
        ],
        [
          'public.edge_values',
          `UPDATE public.edge_values SET n = 'Infinity' WHERE id = 1`,
          `SET n = 'NaN' WHERE id = 1`,
        ],
        [
          'public.edge_values',
          `UPDATE public.edge_values SET f8 = 0 WHERE id = 3`,
          `SET f8 = '-0' WHERE id = 3`,
        ],
        [
          'public.typed_values',
          `UPDATE public.typed_values SET label = 'abc' WHERE s IS NULL`,
          `SET label = 'ABC' WHERE s IS NULL`,
        ],
        // Unbounded bpchar keeps trailing spaces, which its cast to text (and its equality) drops.
        [
          'public.typed_values',
          `UPDATE public.typed_values SET pad = 'a' WHERE s = -3`,
          `SET pad = 'a ' WHERE s = -3`,
        ],
      ];
      for (const [table, change, undo] of changes) {
        await session.query(change ?? '');
        const changed = await compareRowCounts(session, manifest, { content: true });
        await session.query(`UPDATE ${table} ${undo}`);
        expect([change, changed.status, changed.content]).toEqual([
          change,
          'mismatch',
          [`${table}: content differs`],
        ]);
      }
      expect(await compareRowCounts(session, manifest, { content: true })).toMatchObject({ status: 'match' });

      await session.query('ALTER TABLE public.typed_values DROP COLUMN s, ADD COLUMN extra int');
      expect((await compareRowCounts(session, manifest, { content: true })).content).toEqual([
        'public.typed_values: column "s" missing, column "extra" not in the backup',
      ]);
    });
  });

  it('still proves the content of manifests written before v2 (row-md5-sum64-v1)', async () => {
    const { manifest, staging } = await backupKeptOnStaging();
    // The checksums a dump took before v2, in the same way: the text form's md5, on production.
    const v1 = await withSession(parseConnectionUrl(ownerUrl('content_values'), 'owner'), async (session) => {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      await pinContentSettings(session, 'LOCAL');
      return tableContent(session, manifest.tables, 'row-md5-sum64-v1');
    });
    const content = manifest.content;
    if (!content) throw new Error('the backup has no content checksums');
    const v1Manifest: Manifest = {
      ...manifest,
      content: { ...content, algorithm: 'row-md5-sum64-v1' },
      tables: v1.map(({ schema, table, rows, checksum }) => ({ schema, table, rows, checksum })),
    };
    expect(v1Manifest.tables.map((t) => t.checksum)).not.toEqual(manifest.tables.map((t) => t.checksum));

    await withSession(staging, async (session) => {
      // v1 hashed a row's columns in their physical order, which this restore changed for the inheritance
      // child: a false difference (never a false match) that v2, by column name, does not have.
      expect(await compareRowCounts(session, v1Manifest, { content: true })).toMatchObject({
        proof: 'checksums',
        content: ['public.child: content differs'],
      });
      await session.query(`UPDATE public.no_key SET n = 3 WHERE v = 'other'`);
      expect((await compareRowCounts(session, v1Manifest, { content: true })).content).toEqual([
        'public.child: content differs',
        'public.no_key: content differs',
      ]);
    });
  });

  it('hashes text as UTF-8 whatever the encoding: a LATIN1 production verifies on a UTF-8 scratch database', async () => {
    await fixture.productionSql(
      `CREATE DATABASE content_latin1 OWNER ${owner} ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'`,
    );
    await fixture.sqlOn('content_latin1', `GRANT ALL ON SCHEMA public TO ${owner}`);
    await asOwner(
      'content_latin1',
      'CREATE TABLE menu (dish text, price numeric)',
      "INSERT INTO menu VALUES ('crème brûlée', 7.5), ('café', 2.20), ('smørrebrød', 11)",
    );
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl('content_latin1'),
    });

    const execution = await fixture.run(settings);

    expect(execution.error).toBeUndefined();
    const [backup] = await listBackups(store);
    const verification = await readVerification(store, backup?.backupId ?? '');
    expect(verification).toMatchObject({ proof: 'checksums', tablesCompared: 1, rowsCompared: 3 });
  });

  it('verifies a PostgreSQL 15 production on a PostgreSQL 18 scratch server', async () => {
    const server18 = (await availableServerBundles()).find((bundle) => bundle.major === 18);
    expect(server18).toBeDefined();
    const old = await startPostgresServer({ major: 15, dataDir: join(fixture.stateDir, 'pg', 'content-15') });
    try {
      await withSession(parseConnectionUrl(old.url(), 'production 15'), async (session) => {
        await session.query('CREATE DATABASE shop_15');
      });
      await withSession(parseConnectionUrl(old.url('shop_15'), 'production 15'), async (session) => {
        for (const statement of edgeValues) await session.query(statement);
      });
      const { settings, store } = await fixture.freshBucket({
        PRODUCTION_DATABASE_URL: old.url('shop_15'),
        PG_SERVER_DIR: server18?.dir ?? '',
      });

      const execution = await fixture.run(settings);

      expect(execution.error).toBeUndefined();
      const [backup] = await listBackups(store);
      const verification = await readVerification(store, backup?.backupId ?? '');
      expect(verification).toMatchObject({
        proof: 'checksums',
        restoreTarget: { kind: 'scratch', serverVersion: expect.stringMatching(/^18\./) },
      });
      const manifest = await readManifest(store, backup?.backupId ?? '');
      expect(manifest.source.serverVersion).toMatch(/^15\./);
    } finally {
      await old.stop();
    }
  });
});
