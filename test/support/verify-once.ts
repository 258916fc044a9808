/**
 * Verifies one backup in a process of its own and prints one JSON line: `{ status }` or
 * `{ error, message }`. For tests that must change what the process sees of the machine (a mount
 * namespace without /usr/share/zoneinfo). Settings come from the environment: BACKUP_BUCKET,
 * AWS_ENDPOINT_URL_S3, WORK_DIR, BACKUP_ID.
 */
import { readManifest } from '../../lib/backup/catalog.ts';
import { verifyBackup } from '../../lib/commands/verify-backup.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { createRuntime } from '../../lib/runtime.ts';

const runtime = createRuntime(
  readRuntimeSettings({
    BACKUP_BUCKET: process.env.BACKUP_BUCKET,
    AWS_ENDPOINT_URL_S3: process.env.AWS_ENDPOINT_URL_S3,
    AWS_REGION: 'us-east-1',
    WORK_DIR: process.env.WORK_DIR,
    VERIFY_TARGET: 'scratch',
  }),
);
try {
  const manifest = await readManifest(runtime.store, process.env.BACKUP_ID ?? '');
  const outcome = await verifyBackup(runtime, manifest);
  process.stdout.write(`${JSON.stringify({ status: outcome.compare.status })}\n`);
} catch (error) {
  const { name, message } = error as Error;
  process.stdout.write(`${JSON.stringify({ error: name, message })}\n`);
}
