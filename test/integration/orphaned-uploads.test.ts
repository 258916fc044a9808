/**
 * A dump cleans up the incomplete uploads that are certainly dead (its own execution's earlier
 * attempts, or older than any Lambda lives) and leaves a concurrent execution's upload in progress alone.
 */
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { orphanedUploadAgeMs } from '../../lib/backup/stale-uploads.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { dumpStep } from '../../lib/steps/dump.ts';
import { newBackupId } from '../../lib/storage/keys.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { stepContext } from '../support/step-context.ts';

let fixture: PipelineFixture;

beforeAll(async () => {
  fixture = await startPipelineFixture();
}, 120_000);

afterAll(async () => {
  await fixture?.stop();
});

describe('orphaned uploads under incoming/', () => {
  it('aborts its own earlier attempts and expired ones, never a concurrent execution’s', async () => {
    const { settings } = await fixture.freshBucket();
    const client = createS3Client({ endpoint: settings.AWS_ENDPOINT_URL_S3 });
    const bucket = settings.BACKUP_BUCKET as string;
    const me = 'arn:aws:states:us-east-1:000000000000:execution:backup:me';
    const other = 'arn:aws:states:us-east-1:000000000000:execution:backup:other';
    const now = Date.now();
    const start = async (backupId: string) => {
      const key = `incoming/${backupId}.dump`;
      await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      return key;
    };
    const myEarlierAttempt = await start(newBackupId(new Date(now - 60_000), me));
    const concurrent = await start(newBackupId(new Date(now - 60_000), other));
    const expired = await start(newBackupId(new Date(now - orphanedUploadAgeMs - 60_000), other));

    const runtime = createRuntime(readRuntimeSettings(settings));
    const result = (await dumpStep(
      { execution: { trigger: 'manual' }, executionId: me },
      stepContext(runtime),
    )) as {
      abortedStaleUploads?: number;
    };

    const left = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'incoming/' }));
    const keysLeft = (left.Uploads ?? []).map((u) => u.Key);
    expect(keysLeft).toEqual([concurrent]);
    expect(keysLeft).not.toContain(myEarlierAttempt);
    expect(keysLeft).not.toContain(expired);
    expect(result.abortedStaleUploads).toBe(2);
  }, 60_000);
});
