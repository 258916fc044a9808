/**
 * The nights' globals/ (the server's roles, lib/backup/globals.ts) have a lifecycle: the daily
 * retention step marks the ones no kept backup needs, and the bucket's lifecycle rule
 * (`globals/` objects tagged `expirable=true`, tools/deploy/resources/storage.yml) deletes them. On a
 * real S3 API (s3rver, which runs no lifecycle: `expireLikeTheLifecycleRule` applies the rule's filter
 * as S3 would). What must hold: after the deletion, a restore with roles of every kept backup, in
 * every vault, still finds the very globals it found before (lib/verify/roles.ts, globalsFor).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups } from '../../lib/backup/catalog.ts';
import { type GlobalsRecord, globalsKeys, globalsPrefix } from '../../lib/backup/globals.ts';
import type { Verification } from '../../lib/backup/manifest.ts';
import { expirableTag } from '../../lib/commands/retention.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { ManifestInvalidError } from '../../lib/errors.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { retentionStep } from '../../lib/steps/retention.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { backupIdTime, keys, newBackupId } from '../../lib/storage/keys.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { globalsFor } from '../../lib/verify/roles.ts';
import { awsCaller } from '../../tools/local/aws-caller.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { exampleManifest } from '../support/status-fixture.ts';
import { stepContext } from '../support/step-context.ts';

const day = 86_400_000;
let s3: LocalS3Server;
let directory: string;
let buckets = 0;
// The retention step's clock is the real one: night 0's roles are taken 6 h before it, night d's d days
// earlier, so a backup of night d (10 minutes later) is d days and 5 h 50 min old, whatever the hour.
const anchor = Date.now() - 6 * 3_600_000;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'globals-retention-'));
  s3 = await startLocalS3Server({ directory, buckets: [] });
});
afterAll(async () => {
  await s3?.stop();
  await rm(directory, { recursive: true, force: true });
});

async function freshBucket(): Promise<{ store: BackupStore; bucket: string }> {
  const client = createS3Client({ endpoint: s3.endpoint });
  const bucket = `globals-retention-${++buckets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { store: new BackupStore({ client, bucket }), bucket };
}

const nightAt = (daysAgo: number, minutes: number) => new Date(anchor - daysAgo * day + minutes * 60_000);

/** The Globals state of a night (`minutes` after its start): its SQL and record, as dumpGlobals leaves them. */
async function globalsOfNight(store: BackupStore, daysAgo: number, minutes = 0): Promise<string> {
  const createdAt = nightAt(daysAgo, minutes);
  const id = newBackupId(createdAt);
  const sql = `CREATE ROLE app_${daysAgo}_${minutes};\n`;
  const record: GlobalsRecord = {
    globalsVersion: 1,
    id,
    createdAt: createdAt.toISOString(),
    serverVersion: '18.4',
    sha256: createHash('sha256').update(sql).digest('hex'),
    bytes: sql.length,
    roles: [`app_${daysAgo}_${minutes}`],
    skipped: [],
  };
  await store.putObject(globalsKeys(id).sql, sql, 'application/sql');
  await store.putJson(globalsKeys(id).record, record);
  return id;
}

/** A database's backup of that night, 10 minutes in, verified with `globalsId`'s roles (or not verified). */
async function backupOfNight(store: BackupStore, daysAgo: number, globalsId: string | undefined) {
  const backupId = newBackupId(nightAt(daysAgo, 10));
  const manifest = exampleManifest(backupId, backupIdTime(backupId), 'dump bytes'.length);
  await store.putObject(keys.dump(backupId), 'dump bytes', 'application/octet-stream');
  await store.putJson(keys.manifest(backupId), manifest);
  if (globalsId !== undefined) {
    const verification: Verification = {
      verificationVersion: 2,
      backupId,
      verifiedAt: manifest.createdAt,
      sha256: manifest.dump.sha256,
      bytes: manifest.dump.bytes,
      sourceServerVersion: '17.4',
      restoreTarget: { kind: 'scratch', serverVersion: '17.4' },
      proof: 'counts',
      proofLabel: 'counts',
      roles: { globalsId, ownership: 'match' },
      downloadSeconds: 1,
      restoreSeconds: 2,
      compareSeconds: 1,
      tablesCompared: 1,
      rowsCompared: 10,
      benignRestoreMessages: [],
    };
    await store.putJson(keys.verification(backupId), verification);
  }
  return backupId;
}

/** What the lifecycle rules delete: objects under globals/ and backups/ (every vault) tagged expirable=true. */
async function expireLikeTheLifecycleRule(store: BackupStore, ...vaults: BackupStore[]): Promise<string[]> {
  const deleted: string[] = [];
  const listings: [BackupStore, string][] = [
    [store, globalsPrefix],
    ...[store, ...vaults].map((vault): [BackupStore, string] => [vault, 'backups/']),
  ];
  for (const [store, prefix] of listings) {
    for (const object of await store.list(prefix)) {
      if ((await store.getTags(object.key))[expirableTag] === 'true') {
        await store.delete(object.key);
        deleted.push(object.key);
      }
    }
  }
  return deleted;
}

/**
 * The daily retention step, as the retention function: every request it makes is checked against that
 * function's role in the packaged template (test/support/iam/), so the globals/ grants are proved too.
 */
const retention = (bucket: string) => {
  const settings = {
    BACKUP_BUCKET: bucket,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    RETENTION_KEEP_LAST_VERIFIED: '3',
    RETENTION_DAILY_DAYS: '10',
    RETENTION_WEEKLY_WEEKS: '0',
    RETENTION_MONTHLY_MONTHS: '0',
  };
  return awsCaller.run({ principal: 'retention', settings }, () =>
    retentionStep({}, stepContext(createRuntime(readRuntimeSettings(settings)))),
  );
};

/** Which globals a restore with roles of each backup of `store` finds now. */
async function rolesOfEachBackup(store: BackupStore): Promise<Map<string, string | undefined>> {
  const found = new Map<string, string | undefined>();
  for (const backup of await listBackups(store)) {
    found.set(backup.backupId, (await globalsFor(store.forScope(undefined), backup.createdAt))?.record.id);
  }
  return found;
}

describe('globals/ retention', () => {
  it('lets go of old nights no kept backup needs, and never of one a kept backup of any vault needs', async () => {
    const { store, bucket } = await freshBucket();
    const queue = store.forScope('queue');
    const globals = new Map<number, string>();
    // 41 nights of globals (tonight's backups not promoted yet); shop backed up each night since; queue
    // (another vault) on nights 40 (never verified) and 25: only queue's newest verified keeps night 25's.
    for (let daysAgo = 40; daysAgo >= 0; daysAgo--)
      globals.set(daysAgo, await globalsOfNight(store, daysAgo));
    for (let daysAgo = 40; daysAgo >= 1; daysAgo--) {
      await backupOfNight(store, daysAgo, daysAgo === 33 ? undefined : globals.get(daysAgo));
    }
    await backupOfNight(queue, 40, undefined);
    const queueKept = await backupOfNight(queue, 25, globals.get(25));
    const before = new Map([...(await rolesOfEachBackup(store)), ...(await rolesOfEachBackup(queue))]);

    const outcome = await retention(bucket);
    const deleted = await expireLikeTheLifecycleRule(store, queue);

    // Shop keeps its last 10 days (nights 1-9); queue keeps its newest verified backup (night 25).
    const keptBackups = [...(await listBackups(store)), ...(await listBackups(queue))].map((b) => b.backupId);
    expect(keptBackups).toContain(queueKept);
    // Every kept backup's restore with roles still finds the globals it found before.
    const after = new Map([...(await rolesOfEachBackup(store)), ...(await rolesOfEachBackup(queue))]);
    for (const [backupId, globalsId] of after) {
      expect([backupId, globalsId]).toEqual([backupId, before.get(backupId)]);
      expect(globalsId).toBeDefined();
    }
    const left = new Set((await store.list(globalsPrefix)).map((o) => o.key));
    for (const daysAgo of [0, 1, 2, 5, 9, 25]) {
      const id = globals.get(daysAgo) ?? '';
      expect([daysAgo, left.has(globalsKeys(id).sql), left.has(globalsKeys(id).record)]).toEqual([
        daysAgo,
        true,
        true,
      ]);
    }
    // The rest went: nights 10-24 and 26-40 (30 nights, SQL and record each).
    const globalsDeleted = deleted.filter((key) => key.startsWith(globalsPrefix));
    expect(globalsDeleted).toHaveLength(2 * 30);
    expect(outcome.globals).toEqual({ records: 41, kept: 11, marked: 60, unmarked: 0 });
  });

  it('keeps the globals a kept backup was verified with, and the ones a restore of it would pick now', async () => {
    const { store, bucket } = await freshBucket();
    const first = await globalsOfNight(store, 20);
    // A second Globals run of that night, before the backup: a restore with roles picks it now.
    const rerun = await globalsOfNight(store, 20, 5);
    const backup = await backupOfNight(store, 20, first);
    const later = await globalsOfNight(store, 20, 30);
    await globalsOfNight(store, 0);
    expect((await globalsFor(store, backupIdTime(backup)))?.record.id).toBe(rerun);

    await retention(bucket);
    await expireLikeTheLifecycleRule(store);

    const left = (await store.list(globalsPrefix)).map((o) => o.key);
    expect(left).toEqual(expect.arrayContaining([globalsKeys(first).record, globalsKeys(rerun).record]));
    expect(left).not.toContain(globalsKeys(later).record);
    expect((await globalsFor(store, backupIdTime(backup)))?.record.id).toBe(rerun);
  });

  it('marks nothing when there is no globals/ record, and keeps a single one', async () => {
    const { store, bucket } = await freshBucket();
    await backupOfNight(store, 3, undefined);
    expect((await retention(bucket)).globals).toEqual({ records: 0, kept: 0, marked: 0, unmarked: 0 });
    const only = await globalsOfNight(store, 90);
    expect((await retention(bucket)).globals).toEqual({ records: 1, kept: 1, marked: 0, unmarked: 0 });
    expect((await store.getTags(globalsKeys(only).sql))[expirableTag]).toBeUndefined();
  });
});

describe('a globals/ record read back for a restore with roles', () => {
  it('is refused by name when it is not the record dumpGlobals writes', async () => {
    const { store } = await freshBucket();
    const id = await globalsOfNight(store, 2);
    const { record } = globalsKeys(id);
    await store.putObject(record, Buffer.from('{"globalsVersion":1,'), 'application/json');
    await expect(globalsFor(store, nightAt(2, 10))).rejects.toThrow(ManifestInvalidError);
    await expect(globalsFor(store, nightAt(2, 10))).rejects.toThrow(record);

    await store.putJson(record, { globalsVersion: 1, id, roles: 'app' });
    await expect(globalsFor(store, nightAt(2, 10))).rejects.toThrow(ManifestInvalidError);
  });

  it('ignores keys outside the globals/<yyyy>/<mm>/<dd>/ layout, as retention does', async () => {
    const { store } = await freshBucket();
    const id = await globalsOfNight(store, 2);
    const stray = newBackupId(nightAt(2, 5));
    await store.putJson(`globals/copied/${stray}.json`, { note: 'an operator copy' });
    expect((await globalsFor(store, nightAt(2, 10)))?.record.id).toBe(id);
  });
});
