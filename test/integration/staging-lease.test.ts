/**
 * Two executions never interleave on staging. The real backup state machine runs twice against the
 * same staging database; the second one is started while the first holds the staging lease (between
 * its restore and its comparison), so the overlap is exact, not a matter of timing.
 */

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { listBackups } from '../../lib/backup/catalog.ts';
import { StagingBusyError } from '../../lib/errors.ts';
import { parseConnectionUrl, withDatabase } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
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
let savedEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  fixture = await startPipelineFixture();
}, 120_000);
afterAll(async () => {
  await fixture?.stop();
});
beforeEach(() => {
  savedEnv = { ...process.env };
});
afterEach(async () => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  await fixture.stagingSql(`DROP SCHEMA IF EXISTS ${leaseSchema} CASCADE`);
});

const stagingConnection = () =>
  parseConnectionUrl(fixture.environment.settings.STAGING_DATABASE_URL ?? '', 'staging');
const currentLease = () => withSession(stagingConnection(), readStagingLease);

/**
 * Two executions share one process here, and the local runner puts each run's settings into
 * process.env and restores the previous environment when it ends. Both runs use the same settings;
 * putting them in first means whichever run ends first restores them, not an empty environment.
 */
async function concurrentBucket() {
  const bucket = await fixture.freshBucket();
  Object.assign(process.env, bucket.settings);
  return bucket;
}

function deferred() {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const restoreAttempts = (execution: ExecutionRecord) =>
  execution.states
    .filter((s) => s.name === 'RestoreToStaging' && s.status !== 'failed')
    .map((s) => [s.status, s.error?.name].filter(Boolean).join(' '));

describe('the staging lease', () => {
  it('makes a second execution wait while the first holds staging, then restores it once given back', async () => {
    const { settings, store } = await concurrentBucket();
    const secondWasRefused = deferred();
    const firstReleased = deferred();
    let second: Promise<ExecutionRecord> | undefined;
    let secondAttempts = 0;
    let leaseDuringFirstCompare: Lease | undefined;
    let firstCompare: unknown;

    const first = await fixture.run(settings, {
      wrap: {
        CompareRowCounts: async (next) => {
          second = fixture.run(settings, {
            input: { trigger: 'manual', reason: 'second' },
            wrap: {
              RestoreToStaging: async (nextRestore) => {
                secondAttempts += 1;
                if (secondAttempts === 1) return nextRestore().finally(secondWasRefused.resolve);
                await firstReleased.promise;
                return nextRestore();
              },
            },
          });
          await secondWasRefused.promise;
          leaseDuringFirstCompare = await currentLease();
          try {
            firstCompare = await next();
            return firstCompare;
          } finally {
            firstReleased.resolve();
          }
        },
      },
    });
    const secondExecution = await (second ?? Promise.reject(new Error('second execution never started')));

    expect(first.status).toBe('SUCCEEDED');
    expect(secondExecution.error).toBeUndefined();
    expect(secondExecution.status).toBe('SUCCEEDED');
    expect(restoreAttempts(secondExecution)).toEqual(['retried StagingBusyError', 'succeeded']);
    const firstId = (first.output as { dump: { backupId: string } }).dump.backupId;
    expect(leaseDuringFirstCompare).toMatchObject({ owner: firstId, executionId: first.executionArn });
    // The lease row was in staging while the first execution compared, and is no difference.
    expect(firstCompare).toMatchObject({ status: 'match', extra: [], missing: [] });
    const backups = await listBackups(store);
    expect(backups.map((b) => b.verified)).toEqual([true, true]);
    expect(await currentLease()).toBeUndefined();
  });

  it('refuses a second execution that never gets staging, without touching the first one’s restore', async () => {
    const { settings, store } = await concurrentBucket();
    let second: ExecutionRecord | undefined;
    let probeInStaging: unknown[] = [];

    const first = await fixture.run(settings, {
      wrap: {
        CompareRowCounts: async (next) => {
          // Production changes after the first dump: had the second execution restored, staging would
          // hold this table and the first comparison would fail.
          await fixture.productionSql('CREATE TABLE lease_probe AS SELECT 1 AS id');
          try {
            second = await fixture.run(settings, { input: { trigger: 'manual', reason: 'second' } });
          } finally {
            await fixture.productionSql('DROP TABLE lease_probe');
          }
          probeInStaging = await fixture.stagingSql("SELECT to_regclass('public.lease_probe') AS t");
          return next();
        },
      },
    });

    expect(second).toBeDefined();
    const message = expectFailureAlert(second as ExecutionRecord, 'StagingBusyError', 'RestoreToStaging');
    const firstId = (first.output as { dump: { backupId: string } }).dump.backupId;
    expect(message).toContain(`held by backup ${firstId}`);
    // Five waits (the ASL's StagingBusyError rule), then the execution gives up loudly.
    expect(restoreAttempts(second as ExecutionRecord)).toEqual([
      ...Array(5).fill('retried StagingBusyError'),
      'caught StagingBusyError',
    ]);
    expect(probeInStaging).toEqual([{ t: null }]);
    expect(first.status).toBe('SUCCEEDED');
    const backups = await listBackups(store);
    expect(backups.filter((b) => b.verified).map((b) => b.backupId)).toEqual([firstId]);
  });

  it('takes over a lease whose holder died and let it expire', async () => {
    const { settings } = await fixture.freshBucket();
    await withSession(stagingConnection(), (session) =>
      acquireStagingLease(session, { owner: '20200101T000000Z-dead00', seconds: -1 }),
    );

    const execution = await fixture.run(settings);

    expect(execution.status).toBe('SUCCEEDED');
    expect(restoreAttempts(execution)).toEqual(['succeeded']);
    expect(await currentLease()).toBeUndefined();
  });

  it('gives staging back when the restore fails after taking the lease', async () => {
    const { settings, store } = await fixture.freshBucket();
    let leaseSchemaAfterRestore: unknown[] = [];

    const execution = await fixture.run(settings, {
      wrap: {
        // The download is re-hashed after the lease is taken: a corrupt object fails the restore there.
        RestoreToStaging: async (next, event) => {
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

    expectFailureAlert(execution, 'ChecksumMismatchError', 'RestoreToStaging');
    expect(leaseSchemaAfterRestore).toEqual([{ s: leaseSchema }]);
    expect(await currentLease()).toBeUndefined();
  });

  it('gives staging back after a row-count mismatch', async () => {
    const { settings } = await fixture.freshBucket();

    const execution = await fixture.run(settings, {
      wrap: {
        RestoreToStaging: async (next) => {
          const result = await next();
          await fixture.stagingSql('DELETE FROM "Reporting"."café_menü" WHERE id = 1');
          return result;
        },
      },
    });

    expectFailureAlert(execution, 'RowCountMismatchError', 'CompareRowCounts');
    expect(await currentLease()).toBeUndefined();
  });

  it('fails the comparison, without retrying, when another execution took the lease meanwhile', async () => {
    const { settings } = await fixture.freshBucket();
    const other = '20200101T000000Z-other0';

    const execution = await fixture.run(settings, {
      wrap: {
        RestoreToStaging: async (next) => {
          const result = await next();
          await fixture.stagingSql(`UPDATE ${leaseSchema}.staging_lease SET owner = $1`, [other]);
          return result;
        },
      },
    });

    const message = expectFailureAlert(execution, 'StagingBusyError', 'CompareRowCounts');
    expect(message).toContain('lease lost');
    expect(execution.states.filter((s) => s.name === 'CompareRowCounts' && s.status !== 'failed')).toEqual([
      expect.objectContaining({ status: 'caught' }),
    ]);
    expect(await currentLease()).toMatchObject({ owner: other });
  });

  it('never writes a lease into a target the guard refuses', async () => {
    const { settings } = await fixture.freshBucket({
      STAGING_DATABASE_URL: fixture.environment.settings.PRODUCTION_DATABASE_URL ?? '',
    });

    const execution = await fixture.run(settings);

    expectFailureAlert(execution, 'ProductionTargetError', 'RestoreToStaging');
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
