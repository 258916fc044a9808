/**
 * Runs inside test/integration/bundles-bare-root.test.ts's sandboxes, whose root holds nothing but the
 * bundles, the project (read-only), Node and a few system libraries. The SQL makes the server load
 * what a real restore loads: ICU (a collation), OpenSSL (pgcrypto), zlib (a compressed dump); the
 * client bundle at /opt/pg-client dumps that database and restores the dump into another. Prints one
 * JSON line with what it saw.
 *
 * - `node bare-root-probe.ts <server bundle> <client bundle>`: the product's own code starts a scratch
 *   server from the server bundle (initdb and postgres, as a verification does).
 * - `... initdb <dir>`: only initdb, as the scratch server runs it, into `<dir>/data`.
 * - `... existing <dir>`: postgres on `<dir>/data` with the scratch server's settings, without initdb
 *   (initdb needs /bin/sh, which a root of an older glibc cannot offer here).
 */
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readPgBundle } from '../../lib/pg/client.ts';
import type { PgConnection } from '../../lib/pg/connection.ts';
import { describeExit, runPgProcess, startPgProcess } from '../../lib/pg/process.ts';
import { readServerBundle, serverPaths } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { scratchSettings, startScratchServer } from '../../lib/verify/scratch-server.ts';
import { waitFor } from './wait-for.ts';

const [serverDir, clientDir, mode, dir] = process.argv.slice(2);
const bundle = await readServerBundle(resolve(serverDir ?? ''));
const client = await readPgBundle(resolve(clientDir ?? ''));
if (!bundle || !client)
  throw new Error(`no server bundle at ${serverDir} or no client bundle at ${clientDir}`);

/** What the root offers besides the bundles: the test compares it with the libraries it put there. */
const systemLibraries = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64'].flatMap(
  (libraries) => {
    try {
      return readdirSync(libraries)
        .sort()
        .map((name) => `${libraries}/${name}`);
    } catch {
      return [];
    }
  },
);

async function dumpAndRestore(connection: PgConnection, work: string) {
  const on = (database: string) => ({ ...connection, database });
  await withSession(connection, async (session) => {
    await session.query('CREATE DATABASE probe');
    await session.query('CREATE DATABASE restored');
  });
  await withSession(on('probe'), async (session) => {
    await session.query('CREATE EXTENSION pgcrypto');
    await session.query("CREATE COLLATION german (provider = icu, locale = 'de-DE')");
    await session.query(
      'CREATE TABLE words (id int PRIMARY KEY, word text COLLATE german, digest text GENERATED ALWAYS AS (encode(digest(word, $$sha256$$), $$hex$$)) STORED)',
    );
    await session.query(
      "INSERT INTO words (id, word) SELECT i, (ARRAY['Äpfel', 'Zebra', 'apfel', 'Ober'])[1 + i % 4] || i FROM generate_series(1, 1000) i",
    );
  });
  const dumpFile = join(work, 'probe.dump');
  const dumped = await runPgProcess(
    client as NonNullable<typeof client>,
    'pg_dump',
    ['--format=custom', '--compress=6', `--file=${dumpFile}`],
    { connection: on('probe') },
  );
  if (dumped.outcome !== 'ok') throw new Error(describeExit(dumped));
  // pg_restore 17+ sets transaction_timeout, which servers before 17 reject once (docs/pg-client.md):
  // its complaints are returned for the test to judge.
  const restored = await runPgProcess(
    client as NonNullable<typeof client>,
    'pg_restore',
    ['--no-owner', '--dbname=restored', dumpFile],
    { connection: on('restored') },
  );
  const seen = await withSession(on('restored'), async (session) => {
    const rows = await session.query<{ count: string; first: string; digest: string; version: string }>(
      "SELECT count(*)::text AS count, (SELECT word FROM words ORDER BY word LIMIT 1) AS first, (SELECT digest FROM words WHERE id = 1) AS digest, current_setting('server_version') AS version FROM words",
    );
    return rows.rows[0];
  });
  return {
    restoreExit: restored.exitCode,
    restoreErrors: restored.stderr.split('\n').filter((line) => /error/i.test(line)),
    ...seen,
  };
}

const initdbArgs = (dataDir: string) => [
  `--pgdata=${dataDir}`,
  '--username=postgres',
  '--auth=trust',
  '--encoding=UTF8',
  '--locale=C',
  '-L',
  serverPaths.share(bundle),
  '--no-sync',
];

if (mode === 'initdb') {
  const initdb = await runPgProcess(bundle, 'initdb', initdbArgs(join(dir ?? '', 'data')), {
    env: { TZ: 'UTC' },
  });
  if (initdb.outcome !== 'ok') throw new Error(describeExit(initdb));
  console.log(JSON.stringify({ major: bundle.major, initdb: 'ok' }));
} else if (mode === 'existing') {
  const socketDir = join(dir ?? '', 'socket');
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  const args = ['-D', join(dir ?? '', 'data')];
  for (const [name, value] of Object.entries(scratchSettings(socketDir, 2)))
    args.push('-c', `${name}=${value}`);
  const postgres = startPgProcess(bundle, 'postgres', args, { env: { TZ: 'UTC' }, mergeStdout: true });
  postgres.exit.catch(() => undefined);
  const connection: PgConnection = {
    host: socketDir,
    port: 5432,
    user: 'postgres',
    password: undefined,
    database: 'postgres',
    sslmode: undefined,
    sslrootcert: undefined,
  };
  try {
    await waitFor('the server to accept connections', () =>
      withSession(connection, (session) => session.query('SELECT 1')).then(
        () => true,
        () => false,
      ),
    );
    console.log(
      JSON.stringify({
        major: bundle.major,
        systemLibraries,
        ...(await dumpAndRestore(connection, dir ?? '')),
      }),
    );
  } finally {
    postgres.stop();
    await postgres.exit.catch(() => undefined);
  }
} else {
  const server = await startScratchServer({ bundle });
  try {
    console.log(
      JSON.stringify({
        major: server.major,
        systemLibraries,
        ...(await dumpAndRestore(server.connection, server.directory)),
      }),
    );
  } finally {
    await server.stop();
  }
}
