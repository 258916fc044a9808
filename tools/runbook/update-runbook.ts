/**
 * `npm run runbook:evidence`: rewrite the "Restore test evidence" section of BACKUP_RUNBOOK.md from
 * the newest drill evidence in the bucket. By default it reads the local bucket (starting only the local
 * S3 API, no databases); `-- --bucket NAME` reads a deployed bucket with the default AWS credentials.
 * BACKUP_RUNBOOK_PATH names another runbook file (the runbook test edits a copy).
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bucketNamePattern } from '../../lib/config.ts';
import { describeError, InputValidationError } from '../../lib/errors.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { projectRoot, startLocalEnvironment } from '../local/environment.ts';
import { updateRunbookEvidence } from './evidence-section.ts';

async function main(): Promise<number> {
  const runbookPath = resolve(process.env.BACKUP_RUNBOOK_PATH ?? join(projectRoot, 'BACKUP_RUNBOOK.md'));
  const { values } = parseArgs({ options: { bucket: { type: 'string' } }, strict: true });
  if (values.bucket !== undefined) {
    if (!bucketNamePattern.test(values.bucket)) {
      throw new InputValidationError('--bucket is not a valid S3 bucket name');
    }
    const store = new BackupStore({
      client: createS3Client({ region: process.env.AWS_REGION }),
      bucket: values.bucket,
    });
    console.log(await updateRunbookEvidence(store, runbookPath));
    return 0;
  }
  const environment = await startLocalEnvironment({ need: { production: false, staging: false } });
  try {
    const client = createS3Client({ endpoint: environment.settings.AWS_ENDPOINT_URL_S3 });
    const store = new BackupStore({ client, bucket: environment.settings.BACKUP_BUCKET as string });
    console.log(await updateRunbookEvidence(store, runbookPath));
    return 0;
  } finally {
    await environment.stop();
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(`runbook:evidence failed: ${describeError(error)}`);
  return 1;
});
