/**
 * The benchmark's database: generated server-side (generate_series, no data crosses the wire) in an
 * embedded PostgreSQL cluster that is cached between runs under the OS temp dir, keyed by size,
 * server major and generator version. Bump `generatorVersion` whenever the SQL below changes.
 *
 * Shape (per GiB of target size): accounts (uuid keys, ~1%), events (~40%: jsonb, uuid, numeric,
 * timestamps), documents (~35%: compressible prose, a SHA-256 bytea that hex-encodes to random-looking
 * text), measurements (~20%: narrow rows of doubles that hardly compress), 200 small reference tables;
 * primary keys, secondary and partial indexes, foreign keys.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConnectionUrl } from '../lib/pg/connection.ts';
import { withSession } from '../lib/pg/session.ts';
import { type LocalMajor, type PostgresServer, startPostgresServer } from '../tools/local/postgres-server.ts';

export const generatorVersion = 2;
export const benchDatabase = 'bench';
const GiB = 1024 ** 3;

/** Settings of the measured server: autovacuum off so no background work lands inside a timing. */
const benchSettings = {
  shared_buffers: '256MB',
  maintenance_work_mem: '256MB',
  max_wal_size: '4GB',
  checkpoint_timeout: '30min',
  autovacuum: 'off',
};
/** Generation only: minimal WAL and big maintenance memory make the one-off load several times faster. */
const generationSettings = {
  ...benchSettings,
  wal_level: 'minimal',
  max_wal_senders: '0',
  maintenance_work_mem: '1GB',
  max_wal_size: '16GB',
};

export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(MB|GB)$/i.exec(text.trim());
  if (!match) throw new Error(`--size must look like 256MB or 1GB, not "${text}"`);
  return Number(match[1]) * (match[2]?.toUpperCase() === 'GB' ? GiB : 1024 ** 2);
}

export function formatSize(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

interface Rows {
  accounts: number;
  events: number;
  documents: number;
  measurements: number;
}

function rowsFor(targetBytes: number): Rows {
  const scale = targetBytes / GiB;
  const rows = (perGiB: number) => Math.max(1000, Math.round(perGiB * scale));
  return {
    accounts: rows(25_000),
    events: rows(1_250_000),
    documents: rows(420_000),
    measurements: rows(1_700_000),
  };
}

const pick = (values: string[], seed: string) =>
  `(ARRAY[${values.map((v) => `'${v}'`).join(',')}])[1 + abs(hashint4(${seed})) % ${values.length}]`;

function schemaSql(rows: Rows): string {
  const words = [
    'backup',
    'restore',
    'postgres',
    'snapshot',
    'invoice',
    'customer',
    'order',
    'shipping',
    'payment',
    'refund',
    'account',
    'balance',
    'the',
    'a',
    'of',
    'and',
    'to',
    'in',
    'is',
    'was',
    'for',
    'with',
    'on',
    'report',
    'quarterly',
    'revenue',
    'growth',
    'delivery',
    'warehouse',
    'inventory',
    'product',
    'review',
    'quality',
    'support',
    'ticket',
    'resolved',
    'pending',
    'escalated',
    'manager',
    'team',
    'meeting',
    'schedule',
    'deadline',
    'contract',
    'renewal',
    'discount',
    'premium',
    'subscription',
    'monthly',
  ];
  return `
CREATE TABLE accounts (
  id uuid NOT NULL, email text NOT NULL, display_name text NOT NULL, plan text NOT NULL,
  created_at timestamptz NOT NULL, balance numeric(14,2) NOT NULL
);
INSERT INTO accounts
SELECT md5(g::text)::uuid, 'user' || g || '@example.com', 'Account ' || g,
       ${pick(['free', 'starter', 'pro', 'enterprise'], 'g')},
       timestamptz '2020-01-01 00:00:00+00' + g * interval '17 minutes',
       (abs(hashint4(g + 1)) % 10000000) / 100.0
  FROM generate_series(1, ${rows.accounts}) g;
ALTER TABLE accounts ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX accounts_email_key ON accounts (email);

CREATE TABLE events (
  id bigint NOT NULL, occurred_at timestamptz NOT NULL, account_id uuid NOT NULL, kind text NOT NULL,
  amount numeric(12,2), payload jsonb NOT NULL
);
CREATE TABLE documents (
  id bigint NOT NULL, account_id uuid NOT NULL, title text NOT NULL, body text NOT NULL,
  digest bytea NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz, version integer NOT NULL
);
CREATE TABLE measurements (
  id bigint NOT NULL, sensor_id integer NOT NULL, measured_at timestamptz NOT NULL,
  value double precision NOT NULL, reading numeric(10,3), quality smallint NOT NULL, ok boolean NOT NULL
);
-- 4,096 sentences of 6-20 words; a document picks six of them, so text repeats like real prose does.
CREATE TABLE sentences AS
SELECT i AS id,
       string_agg((ARRAY[${words.map((w) => `'${w}'`).join(',')}])[1 + floor(random() * ${words.length})::int], ' ') AS text
  FROM generate_series(0, 4095) i, generate_series(1, 6 + i % 15) w
 GROUP BY i;
`;
}

function fillSql(rows: Rows): Record<'events' | 'documents' | 'measurements', string> {
  return {
    events: `
INSERT INTO events
SELECT g, timestamptz '2023-01-01 00:00:00+00' + g * interval '13 seconds',
       md5((1 + abs(hashint4(g)) % ${rows.accounts})::text)::uuid,
       ${pick(['page_view', 'click', 'signup', 'purchase', 'refund', 'login', 'logout', 'search'], 'g + 1')},
       CASE WHEN g % 4 = 0 THEN (abs(hashint4(g + 2)) % 100000) / 100.0 END,
       jsonb_build_object(
         'session', md5((g / 20)::text),
         'path', '/app/' || ${pick(['home', 'cart', 'checkout', 'search', 'account', 'orders'], 'g + 3')} || '/' || abs(hashint4(g + 4)) % 5000,
         'status', (ARRAY[200, 200, 200, 201, 204, 302, 404, 500])[1 + abs(hashint4(g + 5)) % 8],
         'duration_ms', abs(hashint4(g + 6)) % 3000,
         'agent', ${pick(['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/17.5', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0', 'okhttp/4.12.0'], 'g + 7')},
         'flags', jsonb_build_array(g % 2 = 0, g % 3 = 0))
  FROM generate_series(1, ${rows.events}) g;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_occurred_at_idx ON events (occurred_at);
CREATE INDEX events_account_idx ON events (account_id);
CREATE INDEX events_purchases_idx ON events (account_id, occurred_at) WHERE kind = 'purchase';`,
    documents: `
INSERT INTO documents
SELECT g, md5((1 + abs(hashint4(g)) % ${rows.accounts})::text)::uuid,
       initcap(left(s1.text, 60)),
       s1.text || '. ' || s2.text || '. ' || s3.text || '. ' || s4.text || '. ' || s5.text || '. ' || s6.text || '.',
       sha256(g::text::bytea),
       timestamptz '2021-06-01 00:00:00+00' + g * interval '41 seconds',
       CASE WHEN g % 3 = 0 THEN timestamptz '2024-01-01 00:00:00+00' + g * interval '7 seconds' END,
       1 + g % 9
  FROM generate_series(1, ${rows.documents}) g
  JOIN sentences s1 ON s1.id = hashint4(g + 1) & 4095
  JOIN sentences s2 ON s2.id = hashint4(g + 2) & 4095
  JOIN sentences s3 ON s3.id = hashint4(g + 3) & 4095
  JOIN sentences s4 ON s4.id = hashint4(g + 4) & 4095
  JOIN sentences s5 ON s5.id = hashint4(g + 5) & 4095
  JOIN sentences s6 ON s6.id = hashint4(g + 6) & 4095;
ALTER TABLE documents ADD PRIMARY KEY (id);
CREATE INDEX documents_account_created_idx ON documents (account_id, created_at);`,
    measurements: `
INSERT INTO measurements
SELECT g, 1 + g % 5000, timestamptz '2024-01-01 00:00:00+00' + (g / 5000) * interval '1 minute',
       20 + 15 * sin(g / 5000.0) + (hashint4(g) % 100000) / 33333.0,
       round(((abs(hashint4(g + 1)) % 1000000) / 997.0)::numeric, 3),
       (abs(hashint4(g + 2)) % 100)::smallint, g % 97 <> 0
  FROM generate_series(1, ${rows.measurements}) g;
ALTER TABLE measurements ADD PRIMARY KEY (id);
CREATE INDEX measurements_sensor_time_idx ON measurements (sensor_id, measured_at);`,
  };
}

const smallTablesSql = `
DO $$
BEGIN
  FOR t IN 1..200 LOOP
    EXECUTE format($f$
      CREATE TABLE ref_%1$s (
        id integer PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL, price numeric(10,2),
        attrs jsonb NOT NULL, updated_at timestamptz NOT NULL);
      INSERT INTO ref_%1$s
      SELECT g, 'R%1$s-' || lpad(g::text, 5, '0'), 'Reference item ' || g || ' of table %1$s',
             (abs(hashint4(g * %1$s)) %% 100000) / 100.0,
             jsonb_build_object('active', g %% 7 <> 0, 'rank', g %% 11, 'group', 'g' || g %% 13),
             timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
        FROM generate_series(1, 50 + (%1$s * 37) %% 400) g$f$, lpad(t::text, 3, '0'));
  END LOOP;
END $$;
ALTER TABLE events ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE documents ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
DROP TABLE sentences;
`;

export interface Dataset {
  server: PostgresServer;
  /** Connection string of the generated database. */
  url: string;
  /** pg_database_size of the generated database. */
  databaseBytes: number;
  targetBytes: number;
  rows: Rows;
  /** Seconds spent generating, or 0 when the cached cluster was reused. */
  generatedSeconds: number;
  dataDir: string;
}

interface Marker {
  generatorVersion: number;
  targetBytes: number;
  databaseBytes: number;
  rows: Rows;
  generatedSeconds: number;
}

async function generate(
  dataDir: string,
  major: LocalMajor,
  rows: Rows,
  log: (line: string) => void,
): Promise<number> {
  const started = performance.now();
  const phase = (name: string) =>
    log(`  ${name} done after ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const server = await startPostgresServer({ major, dataDir, settings: generationSettings });
  try {
    await withSession(parseConnectionUrl(server.url(), 'bench'), (s) =>
      s.query(`CREATE DATABASE ${benchDatabase}`),
    );
    const connection = parseConnectionUrl(server.url(benchDatabase), 'bench');
    await withSession(connection, (s) => s.query(schemaSql(rows)));
    // One session per large table: the loads and index builds overlap on both cores.
    await Promise.all(
      Object.values(fillSql(rows)).map((sql) => withSession(connection, (s) => s.query(sql))),
    );
    await withSession(connection, async (s) => {
      await s.query(smallTablesSql);
      // Sets hint bits and the visibility map now, so the first dump does not pay for them.
      await s.query('VACUUM (FREEZE, ANALYZE)');
      await s.query('CHECKPOINT');
    });
    phase('small tables, foreign keys, vacuum');
  } finally {
    await server.stop();
  }
  return (performance.now() - started) / 1000;
}

export async function openDataset(options: {
  targetBytes: number;
  major: LocalMajor;
  log: (line: string) => void;
}): Promise<Dataset> {
  const rows = rowsFor(options.targetBytes);
  const dir = join(
    tmpdir(),
    'verified-pg-backups-bench',
    `pg${options.major}-${Math.round(options.targetBytes / 1024 ** 2)}MiB-g${generatorVersion}`,
  );
  const dataDir = join(dir, 'data');
  const markerFile = join(dir, 'generated.json');
  let marker = await readFile(markerFile, 'utf8')
    .then((text) => JSON.parse(text) as Marker)
    .catch(() => undefined);
  let generatedSeconds = 0;
  if (!marker) {
    options.log(
      `generating a ${formatSize(options.targetBytes)} database in ${dataDir} (cached for next runs)`,
    );
    // A half-generated cluster from an interrupted run is never reused.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    generatedSeconds = await generate(dataDir, options.major, rows, options.log);
  } else {
    options.log(`reusing the generated database in ${dataDir}`);
  }
  const server = await startPostgresServer({ major: options.major, dataDir, settings: benchSettings });
  const url = server.url(benchDatabase);
  const databaseBytes = await withSession(parseConnectionUrl(url, 'bench'), async (s) => {
    const { rows: size } = await s.query<{ bytes: string }>(
      'SELECT pg_database_size(current_database())::text AS bytes',
    );
    return Number(size[0]?.bytes ?? 0);
  });
  if (!marker) {
    marker = { generatorVersion, targetBytes: options.targetBytes, databaseBytes, rows, generatedSeconds };
    await writeFile(markerFile, `${JSON.stringify(marker, null, 2)}\n`);
  }
  return { server, url, databaseBytes, targetBytes: options.targetBytes, rows, generatedSeconds, dataDir };
}

/** Creates an empty database to restore into; the caller drops it. */
export async function createDatabase(server: PostgresServer, name: string): Promise<string> {
  await withSession(parseConnectionUrl(server.url(), 'bench'), async (s) => {
    await s.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await s.query(`CREATE DATABASE ${name}`);
  });
  return server.url(name);
}

export async function dropDatabase(server: PostgresServer, name: string): Promise<void> {
  await withSession(parseConnectionUrl(server.url(), 'bench'), (s) =>
    s.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );
}
