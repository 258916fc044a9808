/**
 * Fault matrix, staging and time: staging cannot be reached, and a step runs out of time. The timeout
 * case drives the real Dump handler (middy + the step's deadline signal) with a Lambda context that
 * has little time left, while the store holds the first part back until the step gives up on it, so
 * the deadline falls mid-upload however fast the dump reaches that part.
 * (pg_restore errors, a row-count diff and staging = production: backup-faults/backup-pipeline.test.ts;
 * the scratch server's own faults: faults-scratch.test.ts.)
 */

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { freePort } from '../../tools/local/postgres-server.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import {
  alerts,
  answerAlertsInEachTest,
  captureBaseline,
  expectFaultContained,
  seedVerifiedBackup,
  vaultOfRun,
} from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

const bigDatabase = 'bigshop_time_faults';
const bigTableRows = 400_000;

let fixture: PipelineFixture;
let proxy: FaultProxy;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  await fixture.createIncompressibleDatabase(bigDatabase, bigTableRows);
  proxy = await startFaultProxy(fixture.environment.settings.AWS_ENDPOINT_URL_S3 ?? '');
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await fixture?.stop();
});
beforeEach(() => {
  proxy.clear();
});

async function faultyBucket(overrides: Record<string, string> = {}) {
  const bucket = await fixture.freshBucket(overrides);
  await seedVerifiedBackup(fixture, bucket.store);
  return { ...bucket, baseline: await captureBaseline(fixture, bucket.store) };
}

describe('staging faults', () => {
  it('retries an unreachable staging server, then fails named without its password', async () => {
    const canary = 'Staging-Canary-Pw-3307';
    const port = await freePort();
    const { settings, store, baseline } = await faultyBucket({
      ...(await fixture.stagingSettings()),
      STAGING_DATABASE_URL: `postgresql://postgres:${canary}@127.0.0.1:${port}/staging`,
    });

    const execution = await fixture.run(settings);

    await expectFaultContained(fixture, execution, baseline, {
      area: 'staging',
      fault: 'staging unreachable (connection refused)',
      error: 'DatabaseUnreachableError',
      step: 'Verify',
      cause: new RegExp(`could not connect to postgres@127\\.0\\.0\\.1:${port}/staging`),
      retries: 2,
      staging: 'unreachable',
    });
    expect(JSON.stringify([execution, alerts()])).not.toContain(canary);
    // The promoted dump stays, whole and unverified, for a later verification.
    const promoted = (await store.list('backups/')).filter((o) => !baseline.vault.has(o.key));
    expect(promoted.map((o) => o.key.split('.').slice(1).join('.')).sort()).toEqual([
      'dump',
      'manifest.json',
    ]);
  });
});

describe('time faults', () => {
  it('stops a dump about to hit the Lambda timeout: upload aborted, StepTimeoutError, no retry', async () => {
    const { settings, baseline, store } = await faultyBucket({
      PRODUCTION_DATABASE_URL: fixture.environment.production?.url(bigDatabase) ?? '',
      DUMP_COMPRESSION: 'none',
      STEP_TIMEOUT_RESERVE_MS: '500',
    });
    // The store holds the first part until the step gives up on it, so the upload is observably open
    // (CreateMultipartUpload done, a part in flight) from the moment the part arrives at the proxy until
    // the deadline signal aborts it. 15 s left and a 0.5 s reserve: the signal fires at 14.5 s, time
    // enough to reach the first part on a busy machine; the test asserts that it was reached before.
    proxy.inject({ operation: 'UploadPart', nth: 1, times: 1, action: { kind: 'hold' } });
    let openUploadsWhileHeld = -1;
    let heldBeforeDeadline = false;

    const execution = await fixture.run(
      { ...settings, AWS_ENDPOINT_URL_S3: proxy.endpoint },
      {
        wrap: {
          Dump: async (next, event) => {
            const deadline = Date.now() + 15_000;
            const stepEnded = new AbortController();
            // The big database's vault: its own, since the seeded backup is the sample database's.
            const scope = (event as { target?: { scope?: string | null } }).target?.scope ?? undefined;
            const watch = proxy.whenHeld(stepEnded.signal).then(async () => {
              heldBeforeDeadline = Date.now() < deadline - 500;
              openUploadsWhileHeld = (await store.forScope(scope).listIncompleteUploads('incoming/')).length;
            });
            try {
              return await next({ getRemainingTimeInMillis: () => deadline - Date.now() });
            } finally {
              stepEnded.abort('the step ended');
              await watch.catch(() => undefined);
            }
          },
        },
      },
    );

    await expectFaultContained(fixture, execution, baseline, {
      area: 'time',
      fault: 'Lambda about to time out mid-upload (deadline signal)',
      error: 'StepTimeoutError',
      step: 'Dump',
      cause: /before the Lambda timeout/,
      retries: 0,
      staging: 'untouched',
    });
    expect(proxy.count('CreateMultipartUpload')).toBe(1);
    expect({ heldBeforeDeadline, openUploadsWhileHeld }).toEqual({
      heldBeforeDeadline: true,
      openUploadsWhileHeld: 1,
    });
    expect(proxy.injected).toEqual([{ operation: 'UploadPart', action: 'hold' }]);
    expect(proxy.count('AbortMultipartUpload')).toBeGreaterThanOrEqual(1);
    expect(await store.list('incoming/')).toEqual([]);
    expect(await vaultOfRun(execution, store).list('incoming/')).toEqual([]);
  });
});
