/**
 * `npm run runbook:evidence`: rewrite the "Restore test evidence" section of BACKUP_RUNBOOK.md from
 * the newest drill evidence in the bucket, saying whose evidence it is. By default it reads the local
 * bucket (starting only the local S3 API, no databases) and labels the section a local demo drill;
 * `-- --stage NAME` reads that deployed stage's bucket (found as `backupctl --stage` finds it) with
 * the default AWS credentials and labels it production evidence; `-- --bucket NAME` reads a bucket by
 * name. BACKUP_RUNBOOK_PATH names another runbook file (the runbook test edits a copy).
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createSfnClient } from '../../lib/aws/sfn.ts';
import { describeError, InputValidationError } from '../../lib/errors.ts';
import { bucketNamePattern } from '../../lib/settings.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { DeployedStage, loadStageSettings } from '../aws/stage.ts';
import { projectRoot, startLocalEnvironment } from '../local/environment.ts';
import { updateRunbookEvidence } from './evidence-section.ts';

async function main(): Promise<number> {
  const runbookPath = resolve(process.env.BACKUP_RUNBOOK_PATH ?? join(projectRoot, 'BACKUP_RUNBOOK.md'));
  const { values } = parseArgs({
    options: { bucket: { type: 'string' }, stage: { type: 'string' } },
    strict: true,
  });
  if (values.stage !== undefined) {
    const settings = loadStageSettings(values.stage, projectRoot);
    const bucket = await new DeployedStage(settings, createSfnClient(settings.region)).bucket();
    const store = new BackupStore({ client: createS3Client({ region: settings.region }), bucket });
    console.log(await updateRunbookEvidence(store, runbookPath, { kind: 'stage', stage: settings.stage }));
    return 0;
  }
  if (values.bucket !== undefined) {
    if (!bucketNamePattern.test(values.bucket)) {
      throw new InputValidationError('--bucket is not a valid S3 bucket name');
    }
    const store = new BackupStore({
      client: createS3Client({ region: process.env.AWS_REGION }),
      bucket: values.bucket,
    });
    console.log(await updateRunbookEvidence(store, runbookPath, { kind: 'bucket', bucket: values.bucket }));
    return 0;
  }
  const environment = await startLocalEnvironment({ need: { production: false, staging: false } });
  try {
    const client = createS3Client({ endpoint: environment.settings.AWS_ENDPOINT_URL_S3 });
    const store = new BackupStore({ client, bucket: environment.settings.BACKUP_BUCKET as string });
    console.log(await updateRunbookEvidence(store, runbookPath, { kind: 'local' }));
    return 0;
  } finally {
    await environment.stop();
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(`runbook:evidence failed: ${describeError(error)}`);
  return 1;
});
