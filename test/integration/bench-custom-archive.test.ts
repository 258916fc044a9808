/**
 * The stream-proof probe's archive reader (bench/custom-archive.ts) against real pg_dump archives: every
 * row of every table as COPY text with its escapes, nothing after a table's end marker, and the same
 * rows and row-hash sum whatever the archive's compression.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ParseResult, parseArchive } from '../../bench/custom-archive.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { describeExit, startPgProcess } from '../../lib/pg/process.ts';
import { withSession } from '../../lib/pg/session.ts';
import { pgProgramsFor } from '../../lib/runtime.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

let dir: string;
let server: PostgresServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custom-archive-'));
  await chmod(dir, 0o755);
  server = await startPostgresServer({ dataDir: join(dir, 'data') });
  await withSession(parseConnectionUrl(server.url(), 'test'), async (session) => {
    await session.query('CREATE TABLE notes (id int PRIMARY KEY, body text, extra text)');
    // A newline, a tab and a backslash inside a value: COPY text escapes them, so rows still end at '\n'.
    await session.query(
      `INSERT INTO notes SELECT g, $1 || g, CASE WHEN g % 2 = 0 THEN NULL ELSE 'x' END
         FROM generate_series(1, 5000) g`,
      ['line\nsecond\tcol\\x '],
    );
    await session.query('CREATE TABLE empty_one (id int)');
    await session.query('CREATE SCHEMA other');
    await session.query(
      'CREATE TABLE other.wide AS SELECT g AS id, repeat(md5(g::text), 100) AS pad FROM generate_series(1, 300) g',
    );
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function dumpAndRead(compression: string) {
  const file = join(dir, `dump-${compression.replace(/\W/g, '_')}.dump`);
  const bundle = await pgProgramsFor(undefined).clientForServer(server.major * 10_000);
  const dump = startPgProcess(
    bundle,
    'pg_dump',
    ['--format=custom', `--compress=${compression}`, '--no-password', `--file=${file}`],
    { connection: parseConnectionUrl(server.url(), 'test') },
  );
  const exit = await dump.exit;
  if (exit.outcome !== 'ok') throw new Error(describeExit(exit));
  const rows = new Map<string, string[]>();
  const result: ParseResult = await parseArchive(file, 'sha256', (table, row) => {
    rows.set(table, [...(rows.get(table) ?? []), row.toString('utf8')]);
  });
  return { result, rows };
}

describe('parseArchive()', () => {
  it.each(['zstd:1', 'gzip', 'none'])(
    'reads every row of a %s archive as COPY text, and nothing after a table ends',
    async (compression) => {
      const { result, rows } = await dumpAndRead(compression);

      expect(result.compression).toBe(compression.replace(/:.*/, ''));
      expect(result.tables).toBe(3);
      expect(result.rows).toBe(5300);
      expect(rows.get('public.notes')).toHaveLength(5000);
      expect(rows.get('other.wide')).toHaveLength(300);
      expect(rows.has('public.empty_one')).toBe(false);
      expect(rows.get('public.notes')).toContain('1\tline\\nsecond\\tcol\\\\x 1\tx');
      expect(rows.get('public.notes')).toContain('2\tline\\nsecond\\tcol\\\\x 2\t\\N');
    },
    120_000,
  );

  it('sums the same row hashes whatever the compression', async () => {
    const sums = await Promise.all(
      ['zstd:1', 'gzip', 'none'].map(async (c) => (await dumpAndRead(c)).result.sum),
    );

    expect(sums[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(sums).size).toBe(1);
  }, 120_000);
});
