/**
 * The real binary (bin/backupctl.js) told to stop in the middle of a local backup's dump, as an
 * operator does with Ctrl-C (SIGINT to the terminal's process group) or `kill -TERM <pid>`: the run stops
 * where it is (no Verify, no "verified"), exits with the documented code, and leaves an execution
 * record that `backupctl audit` shows with its reason. The dump is held mid-way by a table lock (as a
 * migration would hold it), so the signal lands while the Dump state runs, whatever the machine's speed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { exitCodes } from '../../tools/cli/exit-codes.ts';
import { projectRoot } from '../../tools/local/environment.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { sql, urlAs } from '../support/sql.ts';
import { waitFor } from '../support/wait-for.ts';

let stateDir: string;
let server: PostgresServer;
const ownerUrl = () => urlAs(server, 'owner', 'owner-password', 'app');

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'backupctl-interrupt-'));
  await chmod(stateDir, 0o755);
  server = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'owner') });
  await sql(
    server.url('postgres'),
    "CREATE ROLE owner LOGIN PASSWORD 'owner-password' NOSUPERUSER NOCREATEDB NOCREATEROLE",
    'CREATE DATABASE app OWNER owner',
  );
  await sql(
    ownerUrl(),
    'CREATE TABLE items (id bigint PRIMARY KEY, name text)',
    "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 500) i",
  );
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

/** The binary in its own process group (as a shell runs a job), with what it prints collected. */
function backupctl(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [join(projectRoot, 'bin', 'backupctl.js'), ...args], {
    cwd: projectRoot,
    detached: true,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      BACKUP_LOCAL_STATE_DIR: stateDir,
      DATABASE_URL: ownerUrl(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  return { child, output, exited };
}

/** A session waiting for a lock on `app`: the dump has started and is held by the lock. */
async function dumpWaitingOnLock(): Promise<boolean> {
  const [rows] = await sql(
    server.url('postgres'),
    "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = 'app' AND wait_event_type = 'Lock'",
  );
  return Number(rows?.[0]?.waiting ?? 0) > 0;
}

describe('backupctl backup --local, interrupted during the dump', () => {
  it.each([
    ['SIGTERM', 'kill -TERM <pid>', exitCodes.terminated],
    ['SIGINT', 'Ctrl-C', exitCodes.interrupted],
  ] as const)(
    'stops at the dump on %s (%s): no Verify, not "verified", exit %d, and audit lists it with its reason',
    async (signal, _how, code) => {
      const locker = new pg.Client({ connectionString: server.url('app'), application_name: 'migration' });
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
      const reason = `interrupted by ${signal}`;
      const run = backupctl(['backup', '--local', '--reason', reason]);
      try {
        await waitFor('the dump waiting on the held lock', async () => {
          if (run.child.exitCode !== null) throw new Error(`backupctl exited early: ${run.output.stderr}`);
          return dumpWaitingOnLock();
        });

        // Ctrl-C reaches every process of the terminal's foreground group; kill reaches the one pid.
        if (signal === 'SIGINT') process.kill(-(run.child.pid as number), signal);
        else run.child.kill(signal);

        expect(await run.exited).toBe(code);
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
        if (run.child.exitCode === null) process.kill(-(run.child.pid as number), 'SIGKILL');
      }
      const printed = `${run.output.stdout}\n${run.output.stderr}`;
      expect(printed).not.toMatch(/verified/i);
      expect(printed).not.toMatch(/Verify/);
      expect(printed).toContain(`Backup interrupted by ${signal} during Dump`);

      const audit = backupctl(['audit', '--local', '--json']);
      expect(await audit.exited).toBe(exitCodes.ok);
      const entries = JSON.parse(audit.output.stdout) as {
        status: string;
        reason?: string;
        error?: { name: string; cause: string };
        steps: { name: string }[];
      }[];
      const entry = entries.find((e) => e.reason === reason);
      expect(entry).toMatchObject({
        status: 'ABORTED',
        error: { name: 'Interrupted', cause: expect.stringContaining(`${signal} during Dump`) },
      });
      expect(entry?.steps.map((s) => s.name)).not.toContain('Verify');

      const human = backupctl(['audit', '--local']);
      await human.exited;
      expect(human.output.stdout).toContain(`reason: ${reason}`);
    },
    180_000,
  );
});

describe('backupctl backup --local, killed with SIGKILL during the dump', () => {
  it('leaves a RUNNING record that audit, status and list show as ended without a record once the process is gone', async () => {
    const locker = new pg.Client({ connectionString: server.url('app'), application_name: 'migration' });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
    const reason = 'killed with SIGKILL';
    const run = backupctl(['backup', '--local', '--reason', reason]);
    const pid = run.child.pid as number;
    try {
      await waitFor('the dump waiting on the held lock', async () => {
        if (run.child.exitCode !== null) throw new Error(`backupctl exited early: ${run.output.stderr}`);
        return dumpWaitingOnLock();
      });
      // While it runs, its record says so: RUNNING in Dump, naming its process.
      await waitFor('the running record in Dump', async () => {
        const dir = join(stateDir, 'executions');
        const names = await readdir(dir).catch(() => [] as string[]);
        for (const name of names.filter((n) => n.endsWith('.json'))) {
          const record = JSON.parse(await readFile(join(dir, name), 'utf8')) as {
            input?: { reason?: string };
            status: string;
            runningState?: string;
            runner?: { pid: number };
          };
          if (record.input?.reason !== reason) continue;
          return record.status === 'RUNNING' && record.runningState === 'Dump' && record.runner?.pid === pid;
        }
        return false;
      });
      // The process alive, audit shows it running, not ended.
      expect((await auditJson()).find((e) => e.reason === reason)).toMatchObject({ status: 'RUNNING' });

      // `kill -9 <pid>`: no handler runs, nothing is written on the way out.
      process.kill(pid, 'SIGKILL');
      expect(await run.exited).toBeNull();
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
      // What the killed run left (its servers, pg_dump) goes with its process group.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }

    const entry = (await auditJson()).find((e) => e.reason === reason);
    expect(entry).toMatchObject({
      stateMachine: 'backup',
      status: 'ABORTED',
      error: {
        name: 'EndedWithoutRecord',
        cause: expect.stringMatching(
          new RegExp(`^ended without a record \\(killed\\?\\): its process ${pid} is gone; it was in Dump`),
        ),
      },
    });
    expect(entry?.steps.map((s) => s.name)).not.toContain('Verify');

    const human = backupctl(['audit', '--local']);
    await human.exited;
    expect(human.output.stdout).toContain('cause: EndedWithoutRecord: ended without a record (killed?)');

    const status = backupctl(['status', '--local', '--json']);
    await status.exited;
    expect(status.output.stdout).toContain('EndedWithoutRecord');

    const list = backupctl(['list', '--local']);
    expect(await list.exited).toBe(exitCodes.ok);
    expect(list.output.stdout).toMatch(
      /A backup run started \S+ ended without a record \(killed\?\); `backupctl audit` shows it\./,
    );
  }, 240_000);
});

/** `backupctl audit --local --json`, as the entries it prints. */
async function auditJson() {
  const audit = backupctl(['audit', '--local', '--json']);
  expect(await audit.exited).toBe(exitCodes.ok);
  return JSON.parse(audit.output.stdout) as {
    stateMachine: string;
    status: string;
    reason?: string;
    error?: { name: string; cause: string };
    steps: { name: string }[];
  }[];
}
