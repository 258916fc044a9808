/**
 * Runs inside test/integration/bundles-bare-root.test.ts's sandbox, whose root holds nothing but the
 * bundles, the project (read-only), Node and the few libraries Lambda's image provides: the product's
 * own code starts a scratch server from the server bundle at /opt/pg-server (initdb and postgres, as a
 * verification does), and the client bundle at /opt/pg-client dumps a database on it and restores the
 * dump into another. The SQL makes the server load what a real restore loads: ICU (a collation),
 * OpenSSL (pgcrypto), zlib (a compressed dump). Prints one JSON line with what it saw.
 *
 * `node test/support/bare-root-probe.ts <server bundle> <client bundle>`
 */
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { readPgBundle } from '../../lib/pg/client.ts';
import { describeExit, runPgProcess } from '../../lib/pg/process.ts';
import { readServerBundle } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { startScratchServer } from '../../lib/verify/scratch-server.ts';

const [serverDir, clientDir] = process.argv.slice(2);
const bundle = await readServerBundle(resolve(serverDir ?? ''));
const client = await readPgBundle(resolve(clientDir ?? ''));
if (!bundle || !client)
  throw new Error(`no server bundle at ${serverDir} or no client bundle at ${clientDir}`);

const server = await startScratchServer({ bundle });
try {
  const connection = server.connection;
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
  const dumpFile = `${server.directory}/probe.dump`;
  const dumped = await runPgProcess(
    client,
    'pg_dump',
    ['--format=custom', '--compress=6', `--file=${dumpFile}`],
    {
      connection: on('probe'),
    },
  );
  if (dumped.outcome !== 'ok') throw new Error(describeExit(dumped));
  // pg_restore 17+ sets transaction_timeout, which servers before 17 reject once (docs/pg-client.md):
  // its complaints are returned for the test to judge.
  const restored = await runPgProcess(client, 'pg_restore', ['--no-owner', '--dbname=restored', dumpFile], {
    connection: on('restored'),
  });
  const seen = await withSession(on('restored'), async (session) => {
    const rows = await session.query<{ count: string; first: string; digest: string; version: string }>(
      "SELECT count(*)::text AS count, (SELECT word FROM words ORDER BY word LIMIT 1) AS first, (SELECT digest FROM words WHERE id = 1) AS digest, current_setting('server_version') AS version FROM words",
    );
    return rows.rows[0];
  });
  console.log(
    JSON.stringify({
      major: server.major,
      // What the root offers besides the bundles: the test compares it with the image's libraries.
      systemLibraries: ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64'].flatMap(
        (dir) => {
          try {
            return readdirSync(dir)
              .sort()
              .map((name) => `${dir}/${name}`);
          } catch {
            return [];
          }
        },
      ),
      restoreExit: restored.exitCode,
      restoreErrors: restored.stderr.split('\n').filter((line) => /error/i.test(line)),
      ...seen,
    }),
  );
} finally {
  await server.stop();
}
