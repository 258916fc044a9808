/**
 * The second-line drill against a real export: a verified backup of a real production server made
 * by the local pipeline, and a Render-style export of the same database (pg_dump -Fd, tarred and
 * gzipped, as Render's `.dir.tar.gz`) served through a signed link by a local HTTPS server that
 * answers like Render's API. A good export restores and compares; an export lacking a table, a
 * corrupt one, a truncated one and an expired link fail the drill by name, and neither the key nor
 * the link appears in any output.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientForServer } from '../../lib/pg/client.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { runPgProcess } from '../../lib/pg/process.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { runCli } from '../support/cli-run.ts';
import { json, type RenderApi, startRenderApi } from '../support/render-api.ts';
import { sql } from '../support/sql.ts';

const apiKey = 'rnd_CANARYdrillKey77';
const postgresId = 'dpg-drill0001';
let stateDir: string;
let production: PostgresServer;
let render: RenderApi;
let goodExport: Buffer;
let exportWithoutTable: Buffer;
const savedEnv = { ...process.env };

/** pg_dump -Fd of production's shop database, tarred and gzipped as Render serves its exports. */
async function makeExport(name: string, extraArgs: string[] = []): Promise<Buffer> {
  const url = production.url('shop');
  const connection = parseConnectionUrl(url, 'production');
  const bundle = await clientForServer(180000);
  const dir = join(stateDir, name);
  await mkdir(dir);
  const dumped = await runPgProcess(bundle, 'pg_dump', ['-Fd', '-f', join(dir, 'shop'), ...extraArgs], {
    connection,
  });
  if (dumped.exitCode !== 0) throw new Error(`pg_dump failed: ${dumped.stderr}`);
  execFileSync('tar', ['-czf', `${dir}.dir.tar.gz`, '-C', dir, 'shop']);
  return readFile(`${dir}.dir.tar.gz`);
}

const signedLink = (name: string) => render.receiver.url(`/exports/${name}?X-Amz-Signature=CANARYlink`);

function serveExport(body: Buffer | string, status = 200) {
  render.reset({
    exports: json(200, [
      {
        id: 'exp-1',
        createdAt: new Date(Date.now() - 60_000).toISOString(),
        url: signedLink('exp-1.dir.tar.gz'),
      },
    ]),
    download: { status, body },
  });
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'render-drill-'));
  await chmod(stateDir, 0o755);
  production = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'production') });
  await sql(production.url('postgres'), 'CREATE DATABASE shop');
  await sql(
    production.url('shop'),
    'CREATE TABLE orders (id bigint PRIMARY KEY, total numeric)',
    'INSERT INTO orders SELECT i, i FROM generate_series(1, 500) i',
    'CREATE TABLE customers (id bigint PRIMARY KEY, name text)',
    "INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 40) i",
  );
  process.env.BACKUP_LOCAL_STATE_DIR = join(stateDir, 'local');
  process.env.DATABASE_URL = production.url('shop');
  const backup = await runCli(['backup']);
  if (backup.code !== 0) throw new Error(`the backup failed: ${backup.stdout} ${backup.stderr}`);
  goodExport = await makeExport('good');
  exportWithoutTable = await makeExport('partial', ['--exclude-table=customers']);
  render = await startRenderApi({
    apiKey,
    postgresId,
    instance: { plan: 'pro_4gb' },
    recovery: json(200, { recoveryStatus: 'AVAILABLE' }),
    exports: json(200, []),
    faults: [],
  });
  Object.assign(process.env, {
    RENDER_POSTGRES_ID: postgresId,
    RENDER_API_KEY: apiKey,
    RENDER_API_URL: render.baseUrl,
  });
}, 240_000);

afterAll(async () => {
  process.env = savedEnv;
  await render?.stop();
  await production?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

const drill = () => runCli(['drill', '--render', '--json']);

interface Record {
  passed: boolean;
  problem: string | null;
  export: { id: string; bytes: number; sha256: string } | null;
  comparedWith: { backupId: string } | null;
  tables: { compared: number; missing: string[]; extra: string[] } | null;
}

const result = (run: { stdout: string }) => JSON.parse(run.stdout) as Record;

describe('backupctl drill --render', () => {
  it("restores Render's newest export on a scratch server and matches it with our nearest verified backup", async () => {
    serveExport(goodExport);
    const result = await drill();
    const record = JSON.parse(result.stdout) as Record;
    expect(record).toMatchObject({
      passed: true,
      problem: null,
      tables: { compared: 2, missing: [], extra: [] },
    });
    expect(record.export).toEqual({
      id: 'exp-1',
      createdAt: expect.any(String),
      bytes: goodExport.length,
      sha256: createHash('sha256').update(goodExport).digest('hex'),
    });
    expect(record.comparedWith?.backupId).toMatch(/^\d{8}T\d{6}Z/);
    expect(result.code).toBe(exitCodes.ok);
    // The link was fetched once, with no API key sent to the storage behind it.
    const downloads = render.receiver.requests.filter((r) => r.path.startsWith('/exports/'));
    expect(downloads).toHaveLength(1);
    expect(downloads[0]?.authorization).toBeUndefined();
    expect(result.stdout + result.stderr).not.toContain('CANARY');
  }, 180_000);

  it('fails naming the table an export lacks', async () => {
    serveExport(exportWithoutTable);
    const result = await drill();
    const record = JSON.parse(result.stdout) as Record;
    expect(result.code).toBe(exitCodes.failed);
    expect(record.passed).toBe(false);
    expect(record.problem).toContain('tables of ours missing from the export: public.customers');
  }, 180_000);

  it('takes its allowance from RENDER_DRILL_DRIFT_PERCENT_PER_HOUR, and refuses a value outside 0-100 by name', async () => {
    // One row more than our backup: within 1 %/h of 500 rows (one row), not within 0 %/h.
    await sql(production.url('shop'), 'INSERT INTO orders VALUES (100001, 1)');
    try {
      serveExport(await makeExport('one-more'));
      const passed = await drill();
      expect(result(passed)).toMatchObject({ passed: true, problem: null });
      expect(passed.code).toBe(exitCodes.ok);

      process.env.RENDER_DRILL_DRIFT_PERCENT_PER_HOUR = '0';
      const strict = await drill();
      expect(strict.code).toBe(exitCodes.failed);
      expect(result(strict).problem).toMatch(
        /row counts beyond 0 %\/h over [\d.]+ h: public\.orders ours 500, Render 501/,
      );

      for (const bad of ['-1', '101', 'lots']) {
        process.env.RENDER_DRILL_DRIFT_PERCENT_PER_HOUR = bad;
        const refused = await drill();
        expect(refused.code).toBe(exitCodes.usage);
        expect(refused.stdout + refused.stderr).toContain('RENDER_DRILL_DRIFT_PERCENT_PER_HOUR');
      }
    } finally {
      delete process.env.RENDER_DRILL_DRIFT_PERCENT_PER_HOUR;
      await sql(production.url('shop'), 'DELETE FROM orders WHERE id = 100001');
    }
  }, 240_000);

  it('fails naming a table whose row count drifted beyond the allowance for the time between the two', async () => {
    // Minutes apart: 1 % of 500 rows per hour allows one row, not 100.
    await sql(production.url('shop'), 'INSERT INTO orders SELECT i, i FROM generate_series(501, 600) i');
    serveExport(await makeExport('grown'));
    const result = await drill();
    const record = JSON.parse(result.stdout) as Record;
    expect(result.code).toBe(exitCodes.failed);
    expect(record.problem).toMatch(
      /row counts beyond 1 %\/h over [\d.]+ h: public\.orders ours 500, Render 600/,
    );
  }, 180_000);

  it('fails by name on a corrupt export, a truncated one and an expired link, without the link', async () => {
    const cases: [Buffer | string, number, RegExp][] = [
      ['this is not an archive', 200, /not a gzip'd archive/],
      [goodExport.subarray(0, Math.floor(goodExport.length / 2)), 200, /truncated/],
      [
        '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
        403,
        /answered 403: the signed link has expired/,
      ],
    ];
    for (const [body, status, expected] of cases) {
      serveExport(body, status);
      const result = await drill();
      const record = JSON.parse(result.stdout) as Record;
      expect(result.code).toBe(exitCodes.failed);
      expect(record.problem).toMatch(expected);
      expect(result.stdout + result.stderr).not.toContain('CANARY');
    }
  }, 240_000);
});
