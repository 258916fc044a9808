/**
 * Fault matrix, object store side. Dump traffic goes through a fault-injecting proxy in front of the
 * local S3 API (test/support/fault-proxy.ts), so 5xx answers, stalls and resets hit the real requests
 * of whichever uploader the store uses; the test's own view of the bucket goes straight to the server.
 * Damaged objects (truncated dump, missing or broken manifest) are planted between two steps.
 * (S3 stopped mid-upload and a flipped byte: backup-faults/backup-pipeline.test.ts.)
 */

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { keys } from '../../lib/storage/keys.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import {
  answerAlertsInEachTest,
  captureBaseline,
  expectFaultContained,
  expectRecovered,
  seedVerifiedBackup,
} from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { retriesOf } from '../support/reliability-recorder.ts';

answerAlertsInEachTest();

/** About 30 MB uncompressed: a dump of several 8 MiB parts. */
const bigDatabase = 'bigshop_store_faults';
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

/** A bucket with a verified backup, whose handlers reach the store through the proxy. */
async function faultyBucket(options: { big?: boolean; socketTimeoutMs?: number } = {}) {
  const bucket = await fixture.freshBucket();
  await seedVerifiedBackup(fixture, bucket.store);
  const settings = {
    ...bucket.settings,
    AWS_ENDPOINT_URL_S3: proxy.endpoint,
    // Short only where a never-answered request is the fault: elsewhere a busy machine's slow answer
    // would time out too and fail a test about something else.
    ...(options.socketTimeoutMs ? { S3_SOCKET_TIMEOUT_MS: String(options.socketTimeoutMs) } : {}),
    ...(options.big
      ? {
          PRODUCTION_DATABASE_URL: fixture.environment.production?.url(bigDatabase) ?? '',
          DUMP_COMPRESSION: 'none',
        }
      : {}),
  };
  return { settings, store: bucket.store, baseline: await captureBaseline(fixture, bucket.store) };
}

const retriedBy = (execution: Awaited<ReturnType<typeof fixture.run>>) =>
  (retriesOf(execution).Dump ?? 0) > 0
    ? 'retried by the Dump step'
    : 'retried by the S3 client (same request)';

describe('object store faults mid-upload', () => {
  it('gets past one 500 on an UploadPart', async () => {
    const { settings, baseline } = await faultyBucket({ big: true });
    proxy.inject({ operation: 'UploadPart', nth: 2, times: 1, action: { kind: 'status', status: 500 } });

    const execution = await fixture.run(settings);

    expect(proxy.injected).toEqual([{ operation: 'UploadPart', action: 'status' }]);
    await expectRecovered(execution, baseline, {
      area: 'object store',
      fault: '500 on the 2nd UploadPart, once',
      retriedBy: retriedBy(execution),
    });
  });

  it('gets past a connection reset during an UploadPart', async () => {
    const { settings, baseline } = await faultyBucket({ big: true });
    proxy.inject({ operation: 'UploadPart', nth: 2, times: 1, action: { kind: 'reset' } });

    const execution = await fixture.run(settings);

    expect(proxy.injected).toEqual([{ operation: 'UploadPart', action: 'reset' }]);
    await expectRecovered(execution, baseline, {
      area: 'object store',
      fault: 'connection reset during the 2nd UploadPart, once',
      retriedBy: retriedBy(execution),
    });
  });

  it('times out a stalled UploadPart instead of hanging, then gets past it', async () => {
    const { settings, baseline } = await faultyBucket({ big: true, socketTimeoutMs: 5_000 });
    // Held until the client's 5 s socket timeout gives up on it: never answered.
    proxy.inject({ operation: 'UploadPart', nth: 2, times: 1, action: { kind: 'hold' } });

    const execution = await fixture.run(settings);

    expect(proxy.injected).toEqual([{ operation: 'UploadPart', action: 'hold' }]);
    await expectRecovered(execution, baseline, {
      area: 'object store',
      fault: '2nd UploadPart never answered (socket timeout)',
      retriedBy: retriedBy(execution),
    });
  });

  it('fails named after its retries when every UploadPart answers 503, leaving no upload open', async () => {
    const { settings, baseline } = await faultyBucket({ big: true });
    proxy.inject({
      operation: 'UploadPart',
      nth: 2,
      times: Number.POSITIVE_INFINITY,
      action: { kind: 'status', status: 503 },
    });

    const execution = await fixture.run(settings);

    await expectFaultContained(fixture, execution, baseline, {
      area: 'object store',
      fault: '503 on every UploadPart from the 2nd on',
      error: 'StorageUnavailableError',
      step: 'Dump',
      cause: /SlowDown|503|injected by the fault proxy/,
      retries: 2,
      staging: 'untouched',
    });
    expect(proxy.count('AbortMultipartUpload')).toBeGreaterThanOrEqual(1);
  });
});

describe('object store faults around the vault', () => {
  it('fails named when the store is down during promote, and promotes nothing', async () => {
    const { settings, store, baseline } = await faultyBucket();

    const execution = await fixture.run(settings, {
      wrap: {
        Promote: async (next) => {
          proxy.down();
          return next();
        },
      },
    });
    proxy.up();

    await expectFaultContained(fixture, execution, baseline, {
      area: 'object store',
      fault: 'store down during promote',
      error: 'StorageUnavailableError',
      step: 'Promote',
      cause: /HeadObject|GetObject|ECONNRESET|socket hang up|ECONNREFUSED/,
      retries: 2,
      staging: 'untouched',
    });
    // What Dump wrote stays in incoming/ (never promoted; the 1-day lifecycle rule removes it).
    expect((await store.list('incoming/')).map((o) => o.key).sort()).toHaveLength(2);
  });

  it('promotes after the store comes back for the Promote retry', async () => {
    const { settings, baseline } = await faultyBucket();
    let attempts = 0;

    const execution = await fixture.run(settings, {
      wrap: {
        Promote: async (next) => {
          attempts += 1;
          if (attempts === 1) proxy.down();
          else proxy.up();
          return next();
        },
      },
    });
    proxy.up();

    expect(retriesOf(execution).Promote).toBe(1);
    await expectRecovered(execution, baseline, {
      area: 'object store',
      fault: 'store down for the first promote attempt',
      retriedBy: 'retried by the Upload step',
    });
  });

  it('refuses to promote a dump truncated in incoming/, leaving nothing under backups/', async () => {
    const { settings, store, baseline } = await faultyBucket();

    const execution = await fixture.run(settings, {
      wrap: {
        Dump: async (next) => {
          const result = (await next()) as { dumpKey: string };
          const stored = Buffer.concat(await (await store.getStream(result.dumpKey)).toArray());
          await store.putObject(
            result.dumpKey,
            stored.subarray(0, stored.length >> 1),
            'application/octet-stream',
          );
          return result;
        },
      },
    });

    await expectFaultContained(fixture, execution, baseline, {
      area: 'object store',
      fault: 'dump truncated in incoming/ before promote',
      error: 'ChecksumMismatchError',
      step: 'Promote',
      cause: /incoming\/.*\.dump has \d+ bytes, the manifest says \d+/,
      retries: 0,
      staging: 'untouched',
    });
  });

  it('fails the checksum of a dump truncated in backups/', async () => {
    const { settings, store, baseline } = await faultyBucket();
    let dumpKey = '';

    const execution = await fixture.run(settings, {
      wrap: {
        Promote: async (next) => {
          const result = (await next()) as { dumpKey: string };
          dumpKey = result.dumpKey;
          const stored = Buffer.concat(await (await store.getStream(dumpKey)).toArray());
          await store.putObject(
            dumpKey,
            stored.subarray(0, stored.length - 1000),
            'application/octet-stream',
          );
          return result;
        },
      },
    });

    await expectFaultContained(fixture, execution, baseline, {
      area: 'object store',
      fault: 'dump truncated in backups/ after promote',
      error: 'ChecksumMismatchError',
      step: 'Checksum',
      cause: /does not match its manifest: expected sha256 [0-9a-f]{64} \((\d+) bytes\), got [0-9a-f]{64}/,
      retries: 0,
      staging: 'untouched',
      plantedDamage: dumpKey,
    });
  });

  it('names a missing manifest at the step that reads it', async () => {
    const { settings, store, baseline } = await faultyBucket();
    let dumpKey = '';

    const execution = await fixture.run(settings, {
      wrap: {
        Promote: async (next) => {
          const result = (await next()) as { backupId: string };
          dumpKey = keys.dump(result.backupId);
          await store.delete(keys.manifest(result.backupId));
          return result;
        },
      },
    });

    await expectFaultContained(fixture, execution, baseline, {
      area: 'object store',
      fault: 'manifest deleted after promote',
      error: 'BackupNotFoundError',
      step: 'Checksum',
      cause: /manifest\.json does not exist/,
      retries: 0,
      staging: 'untouched',
      plantedDamage: dumpKey,
    });
  });

  it('names a manifest that is not valid JSON at the step that reads it', async () => {
    const { settings, store, baseline } = await faultyBucket();
    let dumpKey = '';

    const execution = await fixture.run(settings, {
      wrap: {
        Promote: async (next) => {
          const result = (await next()) as { backupId: string };
          dumpKey = keys.dump(result.backupId);
          await store.putObject(
            keys.manifest(result.backupId),
            '{"manifestVersion": 1, "backupId": ',
            'application/json',
          );
          return result;
        },
      },
    });

    await expectFaultContained(fixture, execution, baseline, {
      area: 'object store',
      fault: 'manifest replaced by invalid JSON after promote',
      error: 'ManifestInvalidError',
      step: 'Checksum',
      cause: /manifest\.json is not valid JSON/,
      retries: 0,
      staging: 'untouched',
      plantedDamage: dumpKey,
    });
  });
});
