/**
 * `backupctl restore` killed with SIGKILL mid-restore, as a real separate process. The target's
 * password was in a file (`.local/secrets/restore-…`) that nothing removed afterwards, and the
 * orphaned worker finished the restore with nobody counting it. Now the password never touches a
 * file, and the worker sees its parent gone, stops, and says in the step log that the target is
 * possibly partial.
 *
 * To catch the restore in the middle, a session on the target holds a lock on one of its tables:
 * the worker's reset of the target waits for it. The CLI is killed while it waits; then the lock goes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { openSession, type Session } from '../../lib/pg/session.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { projectRoot } from '../../tools/local/environment.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { stepLogPath } from '../../tools/local/state-machine-runner.ts';
import { runCli } from '../support/cli-run.ts';
import { sql, urlAs } from '../support/sql.ts';
import { waitFor } from '../support/wait-for.ts';

let stateDir: string;
let production: PostgresServer;
let target: PostgresServer;
const savedEnv = { ...process.env };
const targetPassword = 'target-CANARY-4f1e';

/** Every file under `dir` whose content holds `text`. */
async function filesHolding(dir: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path).catch(() => Buffer.alloc(0))).includes(text)) found.push(path);
  }
  return found;
}

/** The worker children of `pid` (the local runner's builds). */
async function workersOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const command = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (parent === pid && command.includes(join('functions', 'worker', 'handler.ts')))
      found.push(Number(entry));
  }
  return found;
}
const alive = async (pid: number) => (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')) !== '';

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'restore-killed-'));
  await chmod(stateDir, 0o755);
  production = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'production') });
  target = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'target') });
  await sql(
    production.url('postgres'),
    "CREATE ROLE app_owner LOGIN PASSWORD 'owner-secret' NOSUPERUSER",
    'CREATE DATABASE shop OWNER app_owner',
  );
  await sql(
    urlAs(production, 'app_owner', 'owner-secret', 'shop'),
    'CREATE TABLE orders (id bigint PRIMARY KEY, total numeric)',
    'INSERT INTO orders SELECT i, i FROM generate_series(1, 2000) i',
  );
  await sql(
    target.url('postgres'),
    `CREATE ROLE admin LOGIN PASSWORD '${targetPassword}' NOSUPERUSER CREATEDB`,
    'CREATE DATABASE restored OWNER admin',
  );
  await sql(
    urlAs(target, 'admin', targetPassword, 'restored'),
    optInStatement('restored'),
    'CREATE TABLE in_use (id int)',
  );
  process.env.BACKUP_LOCAL_STATE_DIR = join(stateDir, 'local');
  process.env.DATABASE_URL = urlAs(production, 'app_owner', 'owner-secret', 'shop');
}, 120_000);

afterAll(async () => {
  process.env = savedEnv;
  await target?.stop();
  await production?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe('a restore whose CLI is killed with SIGKILL', () => {
  it('leaves no file with the password, and its worker stops saying the target is possibly partial', async () => {
    expect((await runCli(['backup'])).code).toBe(exitCodes.ok);
    const targetUrl = urlAs(target, 'admin', targetPassword, 'restored');
    const holder: Session = await openSession(parseConnectionUrl(target.url('restored'), 'holder'));
    let cli: ChildProcess | undefined;
    let worker: number | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE in_use IN ACCESS SHARE MODE');
      cli = spawn(
        process.execPath,
        [join(projectRoot, 'bin', 'backupctl.js'), 'restore', 'latest', '--target-url', targetUrl],
        { env: { ...process.env }, stdio: ['ignore', 'ignore', 'ignore'] },
      );
      const cliPid = cli.pid as number;
      // The worker's reset of the target waits for the lock: the restore is under way.
      await waitFor('the worker to wait for the lock', async () => {
        const [waiting] = await sql(
          target.url('restored'),
          "SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'in_use'::regclass",
        );
        return Number(waiting?.[0]?.n) > 0 ? true : undefined;
      });
      worker = (await workersOf(cliPid))[0];
      expect(worker).toBeDefined();
      expect(await filesHolding(stateDir, targetPassword)).toEqual([]);

      const exited = new Promise((done) => cli?.once('exit', done));
      process.kill(cliPid, 'SIGKILL');
      await exited;
      await holder.query('ROLLBACK');

      const workerPid = worker as number;
      await waitFor('the worker to stop', async () => !(await alive(workerPid)), { limitMs: 60_000 });
    } finally {
      await holder.end().catch(() => undefined);
      if (cli?.exitCode === null) cli.kill('SIGKILL');
      if (worker !== undefined && (await alive(worker))) process.kill(worker, 'SIGKILL');
    }

    // Nobody finished the restore: production's table never arrived in the target.
    const [tables] = await sql(
      target.url('restored'),
      "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'orders'",
    );
    expect(tables).toEqual([{ n: 0 }]);
    const log = await readFile(stepLogPath(join(stateDir, 'local')), 'utf8');
    expect(log).toMatch(/worker stopped: the run that started it is gone/);
    expect(log).toMatch(/WorkerFailedError.*is gone; the step stopped .*possibly partial/);
    expect(await filesHolding(stateDir, targetPassword)).toEqual([]);
  }, 240_000);
});
