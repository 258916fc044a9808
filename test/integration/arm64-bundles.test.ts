/**
 * The default Lambda architecture is arm64, so the arm64 bundles are what ships: their programs run
 * here under qemu-user. `npm run install:qemu` installs Debian's qemu-user-static and registers its
 * binfmt_misc entry, so the kernel hands every aarch64 program to qemu: the bundles' loaders, and the
 * programs one of them starts by path (initdb starts `postgres` through the bundle's /bin/sh wrapper).
 * So the product's own code runs them unchanged, exactly as lib/pg/process.ts starts them on Lambda:
 *
 * - every program's `--version`, through the bundle's loader, called by qemu explicitly;
 * - initdb, start and stop of the arm64 scratch server (lib/verify/scratch-server.ts);
 * - a round trip: the dump step's code (`dumpToStore`, with the arm64 pg_dump) backs up a database of
 *   an owner without superuser on an x86_64 PostgreSQL 18 into the local S3 API, and the Verify step's
 *   code (`restoreToScratch`, with the arm64 pg_restore, into the arm64 scratch server) restores it;
 *   the manifest's row counts and content checksums (computed by x86_64 PostgreSQL) equal the arm64
 *   server's, and a row deleted from the restored copy is caught.
 *
 * Builds the bundles config/test.yml packages when missing (from the cache after the first time).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readManifest } from '../../lib/backup/catalog.ts';
import { dumpToStore } from '../../lib/backup/dump.ts';
import type { Manifest } from '../../lib/backup/manifest.ts';
import { promoteToVault } from '../../lib/backup/promote.ts';
import { type PgBundle, readPgBundle } from '../../lib/pg/client.ts';
import { parseConnectionUrl, withDatabase } from '../../lib/pg/connection.ts';
import { type AnyPgProgram, type PgProcessOptions, startPgProcess } from '../../lib/pg/process.ts';
import { readServerBundle, type ServerBundle } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { compareRowCounts } from '../../lib/verify/compare.ts';
import { restoreToScratch } from '../../lib/verify/restore.ts';
import { type ScratchServer, startScratchServer } from '../../lib/verify/scratch-server.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { sql } from '../support/sql.ts';

/** Debian's qemu-user-static (tools/dev/install-qemu.ts installs it). */
const qemuAarch64 = '/usr/bin/qemu-aarch64-static';

const root = join(import.meta.dirname, '..', '..');
const dist = join(root, 'layers/pg-client/dist');
const clientDir = join(dist, 'pg-client-18-arm64');
const serverDir = join(dist, 'pg-server-18-arm64-pgvector');

function build(args: string[]): void {
  const result = spawnSync(process.execPath, [join(root, 'layers/pg-client/build.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (result.status !== 0)
    throw new Error(`building ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

/** `<bundle>/lib/<loader> --library-path <bundle>/lib <program> args`, under qemu. */
function runArm64(bundle: string, program: string, args: string[]) {
  const lib = join(bundle, 'lib');
  return spawnSync(
    qemuAarch64,
    [join(lib, 'ld-linux-aarch64.so.1'), '--library-path', lib, join(bundle, program), ...args],
    {
      encoding: 'utf8',
      env: {},
      timeout: 120_000,
    },
  );
}

let client: PgBundle;
let server: ServerBundle;
let work: string;

beforeAll(async () => {
  build(['--major', '18', '--arch', 'arm64']);
  build(['--server', '18', '--arch', 'arm64', '--extensions', 'pgvector']);
  const foundClient = await readPgBundle(clientDir);
  const foundServer = await readServerBundle(serverDir);
  if (foundClient?.arch !== 'arm64' || foundServer?.arch !== 'arm64') {
    throw new Error(`${clientDir} or ${serverDir} is not an arm64 bundle`);
  }
  client = foundClient;
  server = foundServer;
  work = await mkdtemp(join(tmpdir(), 'arm64-bundles-'));
  // The scratch server's user (postgres, when tests run as root) must reach it.
  await chmod(work, 0o755);
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('arm64 bundles under qemu-user', () => {
  it.each(['pg_dump', 'pg_restore', 'psql'])('runs the client bundle’s %s', (program) => {
    const result = runArm64(clientDir, `bin/${program}`, ['--version']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${program} \\(PostgreSQL\\) 18\\.\\d+`));
  });

  it.each([
    ['postgres', 'usr/lib/postgresql/18/bin/postgres'],
    ['initdb', 'libexec/initdb'],
  ])('runs the scratch server bundle’s %s', (name, program) => {
    const result = runArm64(serverDir, program, ['--version']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${name} \\(PostgreSQL\\) 18\\.\\d+`));
  });
});

/** The product's program starter, recording which bundle each program came from. */
function arm64Programs(started: string[]) {
  return {
    clientForServer: async () => client,
    start: (bundle: PgBundle, program: AnyPgProgram, args: string[], options: PgProcessOptions) => {
      started.push(`${program} ${bundle.arch} ${bundle.dir}`);
      return startPgProcess(bundle, program, args, options);
    },
  };
}

/**
 * One scratch server serves the whole describe (initdb under qemu takes minutes on 2 cores): started by
 * the first test, restored into by the second, checked by the third, stopped by the last.
 */
describe('the arm64 scratch server and a backup verified with the arm64 programs', () => {
  let fixture: PipelineFixture;
  let ownerUrl: string;
  let manifest: Manifest;
  let scratch: ScratchServer | undefined;
  const started: string[] = [];
  const checksumOf = (table: string, order: string) =>
    `SELECT count(*)::int AS rows, md5(string_agg(t::text, '|' ORDER BY ${order})) AS digest FROM ${table} t`;

  beforeAll(async () => {
    fixture = await startPipelineFixture({ sampleScale: 0.001 });
    const production = fixture.environment.production;
    if (!production) throw new Error('the fixture started no production server');
    await sql(
      production.url('postgres'),
      "CREATE ROLE arm64_owner LOGIN PASSWORD 'arm64-owner-password' NOSUPERUSER NOCREATEDB NOCREATEROLE",
      'CREATE DATABASE arm64_app OWNER arm64_owner',
    );
    const url = new URL(production.url('arm64_app'));
    url.username = 'arm64_owner';
    url.password = 'arm64-owner-password';
    ownerUrl = url.toString();
    await sql(
      ownerUrl,
      `CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text UNIQUE,
         created timestamptz NOT NULL, balance numeric(12, 2), tags text[], profile jsonb, avatar bytea)`,
      `INSERT INTO customers (name, email, created, balance, tags, profile, avatar)
         SELECT 'customer ' || i || ' ü', 'c' || i || '@example.com',
                timestamptz '2026-01-01 00:00:00+00' + i * interval '37 minutes', (i * 12.34) % 100000,
                ARRAY['t' || (i % 7), 'x'], jsonb_build_object('n', i, 'f', i / 3.0, 'even', i % 2 = 0),
                decode(md5(i::text), 'hex')
         FROM generate_series(1, 5000) AS i`,
      `CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         customer_id bigint REFERENCES customers, amount double precision, placed date, note varchar(40))`,
      `INSERT INTO orders (customer_id, amount, placed, note)
         SELECT 1 + i % 5000, i * 0.1 + 1 / 3.0, date '2026-01-01' + i % 300,
                CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END
         FROM generate_series(1, 20000) AS i`,
      'CREATE INDEX orders_placed ON orders (placed)',
      'CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100',
    );
  }, 300_000);

  afterAll(async () => {
    await scratch?.stop();
    await fixture?.stop();
  });

  it('runs initdb and starts an aarch64 postgres that answers queries, through binfmt_misc', async () => {
    scratch = await startScratchServer({ bundle: server, workDir: work });

    const { version, exe } = await withSession(scratch.connection, async (session) => {
      const { rows } = await session.query<{ version: string; backend: number }>(
        'SELECT version(), pg_backend_pid() AS backend',
      );
      // The backend is an aarch64 process the kernel gave to qemu (binfmt_misc), not a host program.
      return { version: rows[0]?.version, exe: await readlink(`/proc/${rows[0]?.backend}/exe`) };
    });
    expect(version).toMatch(/^PostgreSQL 18\.\d+ .*on aarch64-unknown-linux-gnu/);
    expect(exe).toMatch(/qemu-aarch64/);
    expect(scratch.alive()).toBe(true);
  }, 900_000);

  it('dumps with the arm64 pg_dump, restores into the arm64 server, and the counts and content match', async () => {
    const { store } = await fixture.freshBucket();
    const programs = arm64Programs(started);

    const dumped = await dumpToStore(
      { compression: 'zstd:1', trigger: 'manual' },
      { store, connection: parseConnectionUrl(ownerUrl, 'production'), programs, proof: 'checksums' },
    );
    await promoteToVault(dumped.backupId, store);
    manifest = await readManifest(store, dumped.backupId);
    if (!scratch) throw new Error('the scratch server did not start');
    await restoreToScratch(manifest, scratch, 'restored', { store, programs, jobs: 2 });

    // Every PostgreSQL program of the round trip came from an arm64 bundle.
    expect(started.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      'pg_dump arm64',
      'pg_restore arm64',
    ]);
    expect(manifest.client).toMatchObject({ program: 'pg_dump', bundleMajor: 18 });
    expect(manifest.tables.map((t) => [t.table, t.rows])).toEqual([
      ['customers', 5000],
      ['orders', 20000],
    ]);
    const restored = withDatabase(scratch.connection, 'restored');
    const compared = await withSession(restored, (session) =>
      compareRowCounts(session, manifest, { content: true }),
    );
    expect(compared).toMatchObject({ status: 'match', tables: [], missing: [], extra: [], content: [] });
    // The same content, read by an independent query on both servers.
    for (const [table, order] of [
      ['customers', 'id'],
      ['orders', 'id'],
      ['big_orders', 'id'],
    ] as const) {
      const [sourceRows] = await sql(ownerUrl, checksumOf(table, order));
      const targetRows = await withSession(
        restored,
        async (session) => (await session.query(checksumOf(table, order))).rows,
      );
      expect(targetRows).toEqual(sourceRows);
      expect(targetRows[0]?.rows).toBeGreaterThan(0);
    }
  }, 900_000);

  it('catches a row missing from the restored copy on the arm64 server', async () => {
    if (!scratch) throw new Error('the round trip did not run');
    const restored = withDatabase(scratch.connection, 'restored');
    await withSession(restored, (session) => session.query('DELETE FROM orders WHERE id = 77'));

    const compared = await withSession(restored, (session) =>
      compareRowCounts(session, manifest, { content: true }),
    );

    expect(compared.status).toBe('mismatch');
    expect(compared.tables).toEqual([
      expect.objectContaining({ schema: 'public', table: 'orders', expected: 20000, actual: 19999 }),
    ]);
  }, 300_000);

  it('stops the arm64 server and leaves nothing of it', async () => {
    if (!scratch) throw new Error('the scratch server did not start');

    await scratch.stop();

    expect(scratch.alive()).toBe(false);
    await expect(stat(scratch.directory)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(scratch.connection.host ?? '')).rejects.toMatchObject({ code: 'ENOENT' });
  }, 300_000);
});
