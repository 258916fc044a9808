/**
 * Two executions never interleave on staging (staging mode). The second one is started while the first
 * holds the staging lease: the first is a verification paused at a known point (its download waits for
 * the test, or its checks run on the restored copy), so the overlap is exact, not a matter of timing.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest } from '../../lib/backup/catalog.ts';
import { verifyBackup } from '../../lib/commands/verify-backup.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { StagingBusyError } from '../../lib/errors.ts';
import { parseConnectionUrl, withDatabase } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { createRuntime, type Runtime } from '../../lib/runtime.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { keys } from '../../lib/storage/keys.ts';
import {
  acquireStagingLease,
  type Lease,
  leaseSchema,
  readStagingLease,
  releaseStagingLease,
} from '../../lib/verify/staging-lease.ts';
import type { ExecutionRecord } from '../../tools/local/state-machine-runner.ts';
import { answerAlertsInEachTest, expectFailureAlert } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let stagingUrl: string;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  stagingUrl = (await fixture.stagingSettings()).STAGING_DATABASE_URL ?? '';
}, 120_000);
afterAll(async () => {
  await fixture?.stop();
});
afterEach(async () => {
  await fixture.stagingSql(`DROP SCHEMA IF EXISTS ${leaseSchema} CASCADE`);
});

const stagingConnection = () => parseConnectionUrl(stagingUrl, 'staging');
const currentLease = () => withSession(stagingConnection(), readStagingLease);

/** A bucket in staging mode that already holds one verified backup, and the runtime of its settings. */
async function stagingBucket() {
  const bucket = await fixture.freshBucket(await fixture.stagingSettings());
  const seeded = await fixture.run(bucket.settings, { input: { trigger: 'manual', reason: 'first' } });
  if (seeded.status !== 'SUCCEEDED') throw new Error(`seeding failed: ${JSON.stringify(seeded.error)}`);
  const backupId = (seeded.output as { dump: { backupId: string } }).dump.backupId;
  const runtime = createRuntime(readRuntimeSettings(bucket.settings));
  return { ...bucket, backupId, runtime, manifest: await readManifest(bucket.store, backupId) };
}

/** The same runtime, whose store holds the download of `key` until `gate` opens. */
function pausedDownload(runtime: Runtime, key: string, gate: Promise<void>, started: () => void): Runtime {
  const store = Object.create(runtime.store) as BackupStore;
  store.getStream = async (wanted: string) => {
    if (wanted === key) {
      started();
      await gate;
    }
    return runtime.store.getStream(wanted);
  };
  return { ...runtime, store };
}

function deferred() {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const verifyAttempts = (execution: ExecutionRecord) =>
  execution.states
    .filter((s) => s.name === 'Verify' && s.status !== 'failed')
    .map((s) => [s.status, s.error?.name].filter(Boolean).join(' '));

describe('the staging lease', () => {
  it('makes a second execution wait while the first holds staging, then restores it once given back', async () => {
    const { settings, store, backupId, runtime, manifest } = await stagingBucket();
    const secondWasRefused = deferred();
    const firstReleased = deferred();
    let second: Promise<ExecutionRecord> | undefined;
    let secondAttempts = 0;
    let leaseDuringFirstChecks: Lease | undefined;

    // The first verification holds the lease while its checks run on the restored copy.
    const first = await verifyBackup(runtime, manifest, {
      lease: { owner: backupId, executionId: 'execution-first' },
      checks: async () => {
        second = fixture.run(settings, {
          input: { trigger: 'manual', reason: 'second' },
          wrap: {
            Verify: async (next) => {
              secondAttempts += 1;
              if (secondAttempts === 1) return next().finally(secondWasRefused.resolve);
              await firstReleased.promise;
              return next();
            },
          },
        });
        await secondWasRefused.promise;
        leaseDuringFirstChecks = await currentLease();
      },
    });
    firstReleased.resolve();
    const secondExecution = await (second ?? Promise.reject(new Error('second execution never started')));

    expect(secondExecution.error).toBeUndefined();
    expect(secondExecution.status).toBe('SUCCEEDED');
    expect(verifyAttempts(secondExecution)).toEqual(['retried StagingBusyError', 'succeeded']);
    expect(leaseDuringFirstChecks).toMatchObject({ owner: backupId, executionId: 'execution-first' });
    // The lease row was in staging while the first verification compared, and is no difference.
    expect(first.compare).toMatchObject({ status: 'match', extra: [], missing: [] });
    const backups = await listBackups(store);
    expect(backups.map((b) => b.verified)).toEqual([true, true]);
    expect(await currentLease()).toBeUndefined();
  });

  it('refuses a second execution that never gets staging, without touching the first one’s restore', async () => {
    const { settings, store, backupId, runtime, manifest } = await stagingBucket();
    let second: ExecutionRecord | undefined;
    let probeInStaging: unknown[] = [];

    const first = await verifyBackup(runtime, manifest, {
      lease: { owner: backupId },
      checks: async () => {
        // Production changes after the first dump: had the second execution restored, staging would
        // hold this table.
        await fixture.productionSql('CREATE TABLE lease_probe AS SELECT 1 AS id');
        try {
          second = await fixture.run(settings, { input: { trigger: 'manual', reason: 'second' } });
        } finally {
          await fixture.productionSql('DROP TABLE lease_probe');
        }
        probeInStaging = await fixture.stagingSql("SELECT to_regclass('public.lease_probe') AS t");
      },
    });

    expect(second).toBeDefined();
    const message = expectFailureAlert(second as ExecutionRecord, 'StagingBusyError', 'Verify');
    expect(message).toContain(`held by backup ${backupId}`);
    // Five waits (the ASL's StagingBusyError rule), then the execution gives up loudly.
    expect(verifyAttempts(second as ExecutionRecord)).toEqual([
      ...Array(5).fill('retried StagingBusyError'),
      'caught StagingBusyError',
    ]);
    expect(probeInStaging).toEqual([{ t: null }]);
    expect(first.compare.status).toBe('match');
    const backups = await listBackups(store);
    expect(backups.filter((b) => b.verified).map((b) => b.backupId)).toEqual([backupId]);
  });

  it('takes over a lease whose holder died and let it expire', async () => {
    const { settings } = await fixture.freshBucket(await fixture.stagingSettings());
    await withSession(stagingConnection(), (session) =>
      acquireStagingLease(session, { owner: '20200101T000000Z-dead00', seconds: -1 }),
    );

    const execution = await fixture.run(settings);

    expect(execution.status).toBe('SUCCEEDED');
    expect(verifyAttempts(execution)).toEqual(['succeeded']);
    expect(await currentLease()).toBeUndefined();
  });

  it('gives staging back when the restore fails after taking the lease', async () => {
    const { settings, store } = await fixture.freshBucket(await fixture.stagingSettings());
    let leaseSchemaAfterRestore: unknown[] = [];

    const execution = await fixture.run(settings, {
      wrap: {
        // The download is re-hashed after the lease is taken: a corrupt object fails the restore there.
        Verify: async (next, event) => {
          const key = keys.dump((event as { backupId: string }).backupId);
          const stored = Buffer.concat(await (await store.getStream(key)).toArray());
          await store.putObject(key, stored.subarray(0, stored.length - 1), 'application/octet-stream');
          try {
            return await next();
          } finally {
            leaseSchemaAfterRestore = await fixture.stagingSql('SELECT to_regnamespace($1) AS s', [
              leaseSchema,
            ]);
          }
        },
      },
    });

    expectFailureAlert(execution, 'ChecksumMismatchError', 'Verify');
    expect(leaseSchemaAfterRestore).toEqual([{ s: leaseSchema }]);
    expect(await currentLease()).toBeUndefined();
  });

  it('gives staging back after a row-count mismatch', async () => {
    const { settings, store } = await fixture.freshBucket(await fixture.stagingSettings());

    const execution = await fixture.run(settings, {
      wrap: {
        // The manifest promises a row the dump does not hold.
        Verify: async (next, event) => {
          const { backupId } = event as { backupId: string };
          const manifest = await readManifest(store, backupId);
          const table = manifest.tables.find((t) => t.schema === 'Reporting' && t.table === 'café_menü');
          if (table) table.rows += 1;
          await store.putJson(keys.manifest(backupId), manifest);
          return next();
        },
      },
    });

    expectFailureAlert(execution, 'RowCountMismatchError', 'Verify');
    expect(await currentLease()).toBeUndefined();
  });

  it('fails the verification, without retrying, when another execution took the lease meanwhile', async () => {
    const { backupId, runtime, manifest } = await stagingBucket();
    const other = '20200101T000000Z-other0';
    const downloading = deferred();
    const goOn = deferred();

    // The first verification takes the lease, then waits for its download; meanwhile another takes over.
    const verifying = verifyBackup(
      pausedDownload(runtime, keys.dump(backupId), goOn.promise, downloading.resolve),
      manifest,
      { lease: { owner: backupId } },
    );
    await downloading.promise;
    await fixture.stagingSql(`UPDATE ${leaseSchema}.staging_lease SET owner = $1`, [other]);
    goOn.resolve();

    const refusal = await verifying.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(StagingBusyError);
    expect((refusal as Error).message).toContain('lease lost');
    expect(await currentLease()).toMatchObject({ owner: other });
  });

  it('never writes a lease into a target the guard refuses', async () => {
    const { settings } = await fixture.freshBucket({
      ...(await fixture.stagingSettings()),
      STAGING_DATABASE_URL: fixture.environment.settings.PRODUCTION_DATABASE_URL ?? '',
    });

    const execution = await fixture.run(settings);

    expectFailureAlert(execution, 'ProductionTargetError', 'Verify');
    expect(await fixture.productionSql('SELECT to_regnamespace($1) AS s', [leaseSchema])).toEqual([
      { s: null },
    ]);
  });
});

describe('acquireStagingLease()', () => {
  it('lets exactly one of two simultaneous takers win, even while creating its table', async () => {
    await fixture.stagingSql('DROP DATABASE IF EXISTS lease_race');
    await fixture.stagingSql('CREATE DATABASE lease_race');
    const race = withDatabase(stagingConnection(), 'lease_race');
    const take = (owner: string) =>
      withSession(race, (session) =>
        acquireStagingLease(session, { owner, executionId: `execution-${owner}` }),
      );

    const outcomes = await Promise.allSettled([take('backup-a'), take('backup-b')]);

    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o) => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<Lease>).value;
    const refusal = (lost[0] as PromiseRejectedResult).reason;
    expect(refusal).toBeInstanceOf(StagingBusyError);
    expect(refusal.message).toContain(`held by backup ${winner.owner} (execution ${winner.executionId})`);
    // The winner takes it again (a retried restore); the loser cannot give back what it does not hold.
    await expect(take(winner.owner)).resolves.toMatchObject({ acquiredAt: winner.acquiredAt });
    const loser = winner.owner === 'backup-a' ? 'backup-b' : 'backup-a';
    expect(await withSession(race, (session) => releaseStagingLease(session, loser))).toBe(false);
    expect(await withSession(race, readStagingLease)).toMatchObject({ owner: winner.owner });
    await fixture.stagingSql('DROP DATABASE lease_race');
  });
});
