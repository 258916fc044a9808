/**
 * The long-running worker, end to end: the real state machines start the worker's entry point
 * (functions/worker/handler.ts) as a child process with the environment a CodeBuild build gets, the
 * worker runs the very same step handlers and writes its result record to the (local) bucket, and the
 * `<State>Result` Task turns it back into the step's output or its error by catalog name, retried and
 * caught as the ASL says. Faults: a worker killed without a result, a malformed record, an error the
 * step raises on the worker and the Parallel state retries.
 */
import type { ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { listBackups, readVerification } from '../../lib/backup/catalog.ts';
import { removeAbandonedScratchServers } from '../../lib/verify/scratch-server.ts';
import { workerResultPrefix } from '../../lib/worker/result.ts';
import { runLocalRestore } from '../../tools/local/run-restore.ts';
import { stepLogPath } from '../../tools/local/state-machine-runner.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import {
  alerts,
  answerAlertsInEachTest,
  captureBaseline,
  expectFaultContained,
  seedVerifiedBackup,
} from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { runWhileLocked } from '../support/table-lock.ts';
import { processAlive, processesRunning, waitFor } from '../support/wait-for.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;

beforeAll(async () => {
  fixture = await startPipelineFixture();
}, 240_000);
afterAll(async () => {
  await fixture?.stop();
});

const onWorker = { DUMP_VENUE: 'worker', VERIFY_VENUE: 'worker' };

async function faultyBucket(overrides: Record<string, string> = {}) {
  const bucket = await fixture.freshBucket(overrides);
  await seedVerifiedBackup(fixture, bucket.store);
  return { ...bucket, baseline: await captureBaseline(fixture, bucket.store) };
}

/** The scratch server under `workDir`: its socket directory (its postmaster's command line names it). */
async function scratchSocketUnder(workDir: string): Promise<string | undefined> {
  const scratch = (await readdir(workDir).catch(() => [] as string[])).find((n) => n.startsWith('scratch-'));
  if (!scratch) return undefined;
  const pid = await readFile(join(workDir, scratch, 'data', 'postmaster.pid'), 'utf8').catch(() => '');
  const postmaster = Number(pid.split('\n')[0]);
  if (!(postmaster > 0)) return undefined;
  const command = await readFile(`/proc/${postmaster}/cmdline`, 'utf8').catch(() => '');
  return /unix_socket_directories=([^\0]+)/.exec(command)?.[1];
}

/**
 * Holds the restore of the worker's verification at its first catalog write, so the worker can be
 * killed while pg_restore observably runs, however fast or busy the machine. The worker's download of
 * the dump is held at the proxy (its scratch server is up and the database to restore into created);
 * a session on that database then locks pg_class (a restore creates tables: it waits for the lock),
 * and the download goes on. Resolves with the pg_restore processes under `worker` once they wait for
 * the lock, and `release` ends the session.
 */
async function holdRestoreOfWorker(
  proxy: FaultProxy,
  workDir: string,
  worker: number,
): Promise<{ restores: number[]; release: () => Promise<void> }> {
  await proxy.whenHeld();
  const socket = await waitFor('the scratch server of the verification', () => scratchSocketUnder(workDir));
  const onServer = { host: socket, port: 5432, user: 'postgres', application_name: 'restore-blocker' };
  const listing = new pg.Client({ ...onServer, database: 'postgres' });
  await listing.connect();
  const { rows } = await listing.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'",
  );
  await listing.end();
  const blocker = new pg.Client({ ...onServer, database: rows[0]?.datname ?? '' });
  // The scratch server may be killed under it: its end is not this test's error.
  blocker.on('error', () => undefined);
  const release = async () => {
    proxy.release();
    await blocker.query('ROLLBACK').catch(() => undefined);
    await blocker.end().catch(() => undefined);
  };
  try {
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE pg_catalog.pg_class IN ACCESS EXCLUSIVE MODE');
    proxy.release();
    const restores = await waitFor('pg_restore of the worker waiting for the held lock', async () => {
      const running = await processesRunning('pg_restore', worker);
      if (running.length === 0) return undefined;
      const { rows: waiting } = await blocker.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))',
      );
      return (waiting[0]?.n ?? 0) > 0 ? running : undefined;
    });
    return { restores, release };
  } catch (error) {
    await release();
    throw error;
  }
}

describe('the worker', () => {
  it('runs the dump and the verification in processes of their own and marks the backup verified', async () => {
    const { settings, store } = await fixture.freshBucket(onWorker);
    const workers: { state: string; child: ChildProcess }[] = [];

    const execution = await fixture.run(settings, {
      onWorkerStarted: (state, child) => workers.push({ state, child }),
    });

    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const succeeded = execution.states.filter((s) => s.status === 'succeeded').map((s) => s.name);
    expect(succeeded).toEqual(
      expect.arrayContaining(['DumpBuild', 'DumpResult', 'DumpOnWorker', 'VerifyBuild', 'VerifyResult']),
    );
    expect(succeeded).not.toContain('Dump');
    expect(succeeded).not.toContain('Verify');
    expect(workers.map((w) => w.state)).toEqual(['DumpBuild', 'VerifyBuild']);
    for (const { child } of workers) {
      expect(child.pid).not.toBe(process.pid);
      expect(child.exitCode).toBe(0);
    }

    // The same outputs the Lambda steps give, where the rest of the machine expects them.
    const output = execution.output as {
      dump: { backupId: string };
      verify: { compare: { status: string } };
    };
    expect(output.verify.compare.status).toBe('match');
    const [backup] = await listBackups(store);
    expect(backup).toMatchObject({ backupId: output.dump.backupId, verified: true });
    expect(await readVerification(store, output.dump.backupId)).toMatchObject({
      backupId: output.dump.backupId,
    });

    // One result record per build, under the execution and the state it ran for.
    const records = (await store.list(workerResultPrefix)).map((o) => o.key);
    const name = execution.executionArn.split(':').pop();
    expect(records.filter((key) => key.startsWith(`worker/${name}/Dump/`))).toHaveLength(1);
    expect(records.filter((key) => key.startsWith(`worker/${name}/Verify/`))).toHaveLength(1);

    // The worker's own step log lines land in the same log as the Lambda steps'.
    const lines = (await readFile(stepLogPath(fixture.stateDir), 'utf8')).split('\n');
    expect(lines.some((line) => line.includes('"function_name":"worker:dump"'))).toBe(true);
    expect(lines.some((line) => line.includes('"function_name":"worker:verify"'))).toBe(true);
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });

  it('plans the dump onto the worker when it would not fit half of one Lambda', async () => {
    const { settings } = await fixture.freshBucket({
      DUMP_LAMBDA_TIMEOUT_SECONDS: '60',
      STEP_TIMEOUT_RESERVE_MS: '59950',
    });

    const execution = await fixture.run(settings);

    expect(execution.status).toBe('SUCCEEDED');
    const planned = execution.states.find((s) => s.name === 'Plan')?.output as
      | { plan: Record<string, unknown> }
      | undefined;
    const plan = planned?.plan ?? {};
    expect(plan).toMatchObject({ dump: 'worker', verify: 'lambda', throughputFrom: 'default' });
    expect(plan.reason).toMatch(
      /s estimated at 25\.0 MiB\/s \(default\) exceeds half the Lambda's 0\.05 s budget/,
    );
    const names = execution.states.map((s) => s.name);
    expect(names).toContain('DumpBuild');
    expect(names).not.toContain('Dump');
  });

  it('runs a restore drill on the worker, with its evidence', async () => {
    const { settings, store } = await fixture.freshBucket({ VERIFY_VENUE: 'worker' });
    expect((await fixture.run(settings)).status).toBe('SUCCEEDED');

    const drill = await fixture.run(settings, { machine: 'drill', input: { trigger: 'manual' } });

    expect(drill.error).toBeUndefined();
    expect(drill.status).toBe('SUCCEEDED');
    expect(drill.states.map((s) => s.name)).toEqual(
      expect.arrayContaining(['RestoreAndCheckBuild', 'RestoreAndCheckResult', 'RecordEvidence']),
    );
    const evidence = (await store.list('drills/')).filter((o) => o.key.endsWith('.json'));
    expect(evidence).toHaveLength(1);
    const record = JSON.parse(await store.getText(evidence[0]?.key ?? '')) as {
      passed: boolean;
      rto: { serverStartSeconds: number };
    };
    expect(record.passed).toBe(true);
    expect(record.rto.serverStartSeconds).toBeGreaterThan(0);
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });

  it('restores on the worker with the target URL out of the execution, and forgets it afterwards', async () => {
    const { settings } = await fixture.freshBucket();
    expect((await fixture.run(settings)).status).toBe('SUCCEEDED');
    // Another server than production (the guard refuses production), whose owner opted this database in.
    await fixture.stagingSql('CREATE DATABASE recovered_on_worker');
    const staging = new URL((await fixture.stagingSettings()).STAGING_DATABASE_URL ?? '');
    staging.pathname = '/recovered_on_worker';
    const targetUrl = staging.toString();
    const owner = new pg.Client({ connectionString: targetUrl });
    await owner.connect();
    await owner.query("COMMENT ON DATABASE recovered_on_worker IS 'verified-pg-backups:restore-target'");
    await owner.end();

    const execution = await runLocalRestore(
      { ...fixture.environment, settings },
      { backupId: 'latest', targetUrl, jobs: 2 },
    );

    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    expect((execution.output as { restore: { compare: { status: string } } }).restore.compare.status).toBe(
      'match',
    );
    const password = new URL(targetUrl).password;
    expect(password.length).toBeGreaterThan(0);
    expect(JSON.stringify(execution)).not.toContain(password);
    expect(JSON.stringify(execution)).not.toContain(targetUrl);
    expect(await readdir(settings.LOCAL_SECRETS_DIR ?? '')).toEqual([]);
  });
});

describe('worker faults', () => {
  it('maps an error the step raises on the worker to its name, retried as on Lambda', async () => {
    const { settings, baseline } = await faultyBucket({ ...onWorker, DUMP_LOCK_WAIT_SECONDS: '1' });
    const execution = await runWhileLocked(fixture, 'products', settings);

    await expectFaultContained(fixture, execution, baseline, {
      area: 'worker',
      fault: 'the dump on the worker meets a table another session keeps locked',
      error: 'TableLockedError',
      step: 'DumpOnWorker',
      cause: /waited 1 s for a table lock and gave up: public\.products is locked \(ACCESS EXCLUSIVE\)/,
      retries: 2,
      staging: 'untouched',
    });
    // Three builds, each with its own record.
    expect(execution.states.filter((s) => s.name === 'DumpBuild' && s.status === 'succeeded')).toHaveLength(
      3,
    );
  });

  // The kill lands while pg_restore waits for a lock the test holds: mid-restore by construction, not a
  // race with the restore's speed (which the restore of the small sample database won three times in four).
  it('names a worker killed mid-restore, without a result, and its leftovers go with the next run', async () => {
    const proxy = await startFaultProxy(fixture.environment.settings.AWS_ENDPOINT_URL_S3 ?? '');
    const bucket = await faultyBucket({ VERIFY_VENUE: 'worker' });
    const { baseline } = bucket;
    const settings: Record<string, string> = { ...bucket.settings, AWS_ENDPOINT_URL_S3: proxy.endpoint };
    let killed = false;
    let killedMidRestore = false;
    let killing: Promise<{ release: () => Promise<void> }> | undefined;

    let execution: Awaited<ReturnType<typeof fixture.run>>;
    try {
      execution = await fixture.run(settings, {
        onWorkerStarted: (state, child) => {
          if (state !== 'VerifyBuild') return;
          // From here on the worker's download of the dump waits at the proxy until the lock is held.
          proxy.inject({
            operation: 'GetObject',
            path: /\.dump$/,
            nth: 1,
            times: 1,
            action: { kind: 'hold' },
          });
          killing = holdRestoreOfWorker(proxy, settings.WORK_DIR ?? '', child.pid ?? -1).then(
            async (hold) => {
              killed = child.kill('SIGKILL');
              // Still there after the kill, waiting: the restore was under way when the worker died.
              killedMidRestore = (await Promise.all(hold.restores.map(processAlive))).some(Boolean);
              return hold;
            },
          );
          // A failure to hold the restore is this test's failure, raised once the run has ended.
          killing.catch(() => undefined);
        },
      });
    } finally {
      await (await killing?.catch(() => undefined))?.release();
      await proxy.stop();
    }
    expect(killing).toBeDefined();
    await killing;
    expect({ killed, killedMidRestore }).toEqual({ killed: true, killedMidRestore: true });
    // Killed outright, the worker could not remove its scratch server: the next one on the machine does
    // (on AWS the build's container goes away with it). Its pg_restore, orphaned, ends with the server.
    await removeAbandonedScratchServers(settings.WORK_DIR ?? '');
    await waitFor('the orphaned pg_restore and scratch server gone', async () =>
      (await fixture.scratchLeftovers()).length === 0 ? true : undefined,
    );

    await expectFaultContained(fixture, execution, baseline, {
      area: 'worker',
      fault: 'the worker is killed (SIGKILL) during pg_restore',
      error: 'WorkerFailedError',
      step: 'VerifyOnWorker',
      cause:
        /VerifyOnWorker|Verify on the worker: CodeBuild build local-worker:\S+ ended FAILED in phase BUILD \(the worker was killed by SIGKILL\) without a result/,
      retries: 0,
      staging: 'untouched',
    });
    expect(alerts()[0]?.message).toContain('failed in step VerifyOnWorker');
  });

  it('never takes a malformed result record for a success', async () => {
    const { settings, store, baseline } = await faultyBucket({ VERIFY_VENUE: 'worker' });

    const execution = await fixture.run(settings, {
      wrap: {
        VerifyBuild: async (next) => {
          const build = (await next()) as { Build: { Id: string } };
          const records = await store.list(workerResultPrefix);
          const mine = records.find((o) => o.key.endsWith(`${build.Build.Id.replace(/:/g, '_')}.json`));
          const whole = await store.getText(mine?.key ?? '');
          // A record cut short, as a partial write or a tampered object would leave it.
          await store.putObject(mine?.key ?? '', whole.slice(0, whole.length / 2), 'application/json');
          return build;
        },
      },
    });

    await expectFaultContained(fixture, execution, baseline, {
      area: 'worker',
      fault: 'the worker result record is cut in half',
      error: 'WorkerResultInvalidError',
      step: 'VerifyOnWorker',
      cause: /worker result record|is not valid JSON/,
      retries: 0,
      staging: 'untouched',
    });
  });
});
