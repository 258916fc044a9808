/**
 * One reading of "the newest verified backup" for a stage of several databases, shared by the age
 * alarm's metric, status, the drills and retention (lib/backup/catalog.ts, vaultFreshness), on a real
 * S3 API (s3rver). The stage is as fresh as its stalest database. A database with no verified backup
 * yet is said to be so; its age counts from its first backup, so the night it is added it is new, not
 * a page, and it pages once that age passes the RPO like any database whose backups stopped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readCatalog, vaultFreshness } from '../../lib/backup/catalog.ts';
import { planRetention } from '../../lib/backup/retention.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { buildStageReport } from '../../lib/report/status-report.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { selectBackupStep } from '../../lib/steps/drill-select-backup.ts';
import { listVaultsStep } from '../../lib/steps/list-vaults.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { keys } from '../../lib/storage/keys.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { exampleManifest, exampleVerification } from '../support/status-fixture.ts';
import { stepContext } from '../support/step-context.ts';

let s3: LocalS3Server;
let dir: string;
let buckets = 0;
// The clock of ListVaults is the real one: the backups are aged from it.
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const hour = 3_600_000;
const options = { now, rpoHours: 24, rtoHours: 2 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'newest-verified-'));
  s3 = await startLocalS3Server({ directory: dir });
});

afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function freshBucket(): Promise<{ store: BackupStore; bucket: string }> {
  const client = createS3Client({ endpoint: s3.endpoint });
  const bucket = `newest-${++buckets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { store: new BackupStore({ client, bucket }), bucket };
}

let serial = 0;
/** A promoted backup of `database`, `hoursAgo` old, verified or still waiting for its verification. */
async function putBackup(store: BackupStore, database: string, hoursAgo: number, verified: boolean) {
  const createdAt = new Date(now.getTime() - hoursAgo * hour);
  const backupId = `${createdAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')}-${(++serial).toString(16).padStart(6, '0')}`;
  const manifest = exampleManifest(backupId, createdAt, 64, { database });
  await store.putObject(keys.dump(backupId), 'x'.repeat(64), 'application/octet-stream');
  await store.putJson(keys.manifest(backupId), manifest);
  if (verified) await store.putJson(keys.verification(backupId), exampleVerification(manifest));
  return backupId;
}

/** `shop` verified nightly (the newest 5 h ago); `ledger` added tonight: its first backup 1 h ago. */
async function stageWithANewDatabase(ledgerHoursAgo = 1) {
  const { store, bucket } = await freshBucket();
  await putBackup(store, 'shop', 29, true);
  const newestShop = await putBackup(store, 'shop', 5, true);
  const firstLedger = await putBackup(store.forScope('ledger'), 'ledger', ledgerHoursAgo, false);
  return { store, bucket, newestShop, firstLedger };
}

const runtimeFor = (bucket: string) =>
  createRuntime(
    readRuntimeSettings({
      BACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      RPO_HOURS: '24',
    }),
  );

describe('a database added tonight, its first backup not verified yet', () => {
  it('is reported as having no verified backup yet, and keeps the stage green', async () => {
    const { store } = await stageWithANewDatabase();
    const { report } = await buildStageReport(store, options);
    const ledger = report.databases.find((d) => d.database === 'ledger');
    expect(ledger).toMatchObject({
      state: 'no-verified-backup',
      newestVerified: null,
      ageHours: 1,
      awaitingFirstVerifiedBackup: true,
    });
    expect(report.state).toBe('ok');
    expect(report.summary).toContain('Database ledger: no verified backup yet (its first backup is 1 h old)');
  });

  it('gives the age alarm the stalest database, counting the new one from its first backup', async () => {
    const { store } = await stageWithANewDatabase();
    const { report } = await buildStageReport(store, options);
    // Absent, the metric would breach the alarm (missing data = breaching): a page for nothing.
    expect(report.metrics.BackupAgeHours).toBe(5);
  });

  it('is not drilled yet, and the drill of a named one says why there is nothing to drill', async () => {
    const { bucket } = await stageWithANewDatabase();
    const runtime = runtimeFor(bucket);
    const listed = await listVaultsStep({ execution: { trigger: 'schedule' } }, stepContext(runtime));
    expect(listed.databases.map((d) => d.database)).toEqual(['shop']);
    expect(listed.awaitingFirstVerifiedBackup).toEqual(['ledger']);
    await expect(
      selectBackupStep(
        { execution: { trigger: 'manual', database: 'ledger' }, startedAt: now.toISOString() },
        stepContext(runtime),
      ),
    ).rejects.toThrow('database ledger has no verified backup yet (its first backup is 1 h old)');
  });

  it('keeps every backup of the new database in a retention pass, as the catalog reads it', async () => {
    const { store, firstLedger } = await stageWithANewDatabase();
    const ledger = store.forScope('ledger');
    const freshness = vaultFreshness(await readCatalog(ledger), now, 24);
    expect(freshness).toMatchObject({ entry: undefined, ageHours: 1, awaitingFirst: true });
    expect(planRetention((await readCatalog(ledger)).backups, now)).toMatchObject([
      { backupId: firstLedger, keep: true, reasons: ['no backup is verified yet', 'younger than 30 days'] },
    ]);
  });
});

describe('a database that has stayed unverified for longer than the RPO', () => {
  it('turns the stage red and raises the age metric above the alarm, naming the database', async () => {
    const { store, bucket } = await stageWithANewDatabase(30);
    const { report } = await buildStageReport(store, options);
    expect(report.state).toBe('no-verified-backup');
    expect(report.metrics.BackupAgeHours).toBe(30);
    expect(report.summary).toContain('Database ledger: NO VERIFIED BACKUP (its first backup is 30 h old)');
    // A drill of it is attempted, and fails naming the cause: it is no longer new.
    const listed = await listVaultsStep(
      { execution: { trigger: 'schedule' } },
      stepContext(runtimeFor(bucket)),
    );
    expect(listed.databases.map((d) => d.database)).toEqual(['shop', 'ledger']);
  });
});

describe('the newest verified backup of each vault', () => {
  it('is the same backup for status, drills and retention, passing by a newer one whose check failed', async () => {
    const { store, bucket, newestShop } = await stageWithANewDatabase();
    const failed = await putBackup(store, 'shop', 2, true);
    await store.putJson(keys.checks(failed), {
      checksVersion: 1,
      backupId: failed,
      checks: [{ kind: 'drill', passed: false, checkedAt: now.toISOString(), reason: 'orders differ' }],
    });
    const catalog = await readCatalog(store);
    expect(vaultFreshness(catalog, now, 24).entry?.backupId).toBe(newestShop);
    const { report } = await buildStageReport(store, options);
    expect(report.newestVerified?.backupId).toBe(newestShop);
    const decisions = planRetention(catalog.backups, now);
    expect(decisions.find((d) => d.reasons.includes('the newest verified backup'))?.backupId).toBe(
      newestShop,
    );
    const selected = await selectBackupStep(
      { execution: { trigger: 'manual' }, startedAt: now.toISOString() },
      stepContext(runtimeFor(bucket)),
    );
    expect(selected.backupId).toBe(newestShop);
  });
});
