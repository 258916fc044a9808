/**
 * The retention pass against a real S3 API (s3rver): what it tags, what it leaves alone, and what the
 * bucket's lifecycle rule (`backups/` objects tagged `expirable=true`, tools/deploy/resources/storage.yml)
 * would then delete. s3rver runs no lifecycle, so `expireLikeTheLifecycleRule` applies that rule's
 * filter to the listing, as S3 would on its next daily run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, newestVerifiedBackup } from '../../lib/backup/catalog.ts';
import { defaultRetentionPolicy } from '../../lib/backup/retention.ts';
import { applyRetention, expirableTag } from '../../lib/commands/retention.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { backupIdTime, backupsPrefix, keys, newBackupId } from '../../lib/storage/keys.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { exampleManifest, exampleVerification } from '../support/status-fixture.ts';

const now = new Date('2026-12-01T12:00:00Z');
const day = 86_400_000;
let s3: LocalS3Server;
let directory: string;
let bucketCount = 0;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'retention-'));
  s3 = await startLocalS3Server({ directory, buckets: [] });
});
afterAll(async () => {
  await s3?.stop();
  await rm(directory, { recursive: true, force: true });
});

async function freshStore(): Promise<BackupStore> {
  const client = createS3Client({ endpoint: s3.endpoint });
  const bucket = `retention-${++bucketCount}`;
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return new BackupStore({ client, bucket });
}

/** A nightly backup as Promote and Notify leave it: dump, manifest, and (verified) the record and tag. */
async function night(store: BackupStore, daysAgo: number, verified: boolean): Promise<string> {
  const backupId = newBackupId(new Date(Date.UTC(2026, 11, 1, 2, 0, 0) - daysAgo * day));
  const manifest = exampleManifest(backupId, backupIdTime(backupId), 'dump bytes'.length);
  await store.putObject(keys.dump(backupId), 'dump bytes', 'application/octet-stream');
  await store.putJson(keys.manifest(backupId), manifest);
  await store.setTags(keys.dump(backupId), { 'backup-id': backupId, verified: String(verified) });
  if (verified) await store.putJson(keys.verification(backupId), exampleVerification(manifest));
  return backupId;
}

/** What the lifecycle rule deletes: objects under backups/ tagged expirable=true (all older than a day). */
async function expireLikeTheLifecycleRule(store: BackupStore): Promise<number> {
  let deleted = 0;
  for (const object of await store.list(backupsPrefix)) {
    if ((await store.getTags(object.key))[expirableTag] === 'true') {
      await store.delete(object.key);
      deleted++;
    }
  }
  return deleted;
}

describe('the retention pass', () => {
  it('leaves the last verified backup in place and listed after 60 nights of failures', async () => {
    const store = await freshStore();
    const lastGood = await night(store, 61, true);
    // Every other failed night got as far as a promoted, unverified dump; the others left nothing.
    for (let i = 60; i >= 1; i--) if (i % 2 === 0) await night(store, i, false);
    expect((await listBackups(store)).filter((e) => e.verified).map((e) => e.backupId)).toEqual([lastGood]);

    const outcome = await applyRetention(store, { now, policy: defaultRetentionPolicy, apply: true });

    expect(outcome.marked).toEqual([]);
    expect(await expireLikeTheLifecycleRule(store)).toBe(0);
    expect((await newestVerifiedBackup(store))?.backupId).toBe(lastGood);
    expect((await store.getTags(keys.dump(lastGood))).verified).toBe('true');
  });

  it('lets a healthy season go down to the ladder, keeping the newest verified and its tags', async () => {
    const store = await freshStore();
    const ids: string[] = [];
    for (let i = 120; i >= 0; i--) ids.push(await night(store, i, true));
    const newest = ids.at(-1) ?? '';

    const outcome = await applyRetention(store, { now, policy: defaultRetentionPolicy, apply: true });

    const keep = outcome.decisions.filter((d) => d.keep).map((d) => d.backupId);
    expect(keep).toContain(newest);
    // 31 nights within 30 days (the 121st..91st of the season), plus weekly and monthly ones beyond.
    expect(keep.length).toBeGreaterThan(31);
    expect(keep.length).toBeLessThan(31 + 8 + 5);
    const let_go = outcome.decisions.filter((d) => !d.keep);
    expect(outcome.marked).toHaveLength(let_go.length * 3);
    // Tags are merged: what Notify set stays beside the mark.
    const marked = await store.getTags(keys.dump(let_go[0]?.backupId ?? ''));
    expect(marked).toEqual({ 'backup-id': let_go[0]?.backupId, verified: 'true', expirable: 'true' });

    expect(await expireLikeTheLifecycleRule(store)).toBe(let_go.length * 3);
    const left = await listBackups(store);
    expect(left.map((e) => e.backupId).sort()).toEqual([...keep].sort());
    expect((await newestVerifiedBackup(store))?.backupId).toBe(newest);

    // A second pass the same day changes nothing.
    const again = await applyRetention(store, { now, policy: defaultRetentionPolicy, apply: true });
    expect({ marked: again.marked, unmarked: again.unmarked }).toEqual({ marked: [], unmarked: [] });
  });

  it('takes the mark off a backup a rule keeps again, before the lifecycle rule runs', async () => {
    const store = await freshStore();
    const old = await night(store, 50, true);
    await night(store, 0, true);
    const strict = { keepLastVerified: 1, dailyDays: 30, weeklyWeeks: 0, monthlyMonths: 0 };
    expect((await applyRetention(store, { now, policy: strict, apply: true })).marked).toHaveLength(3);

    const generous = { ...strict, keepLastVerified: 2 };
    const outcome = await applyRetention(store, { now, policy: generous, apply: true });

    expect(outcome.unmarked.sort()).toEqual(
      [keys.dump(old), keys.manifest(old), keys.verification(old)].sort(),
    );
    expect(await store.getTags(keys.dump(old))).toEqual({ 'backup-id': old, verified: 'true' });
    expect(await expireLikeTheLifecycleRule(store)).toBe(0);
  });

  it('only reports without apply', async () => {
    const store = await freshStore();
    await night(store, 400, true);
    await night(store, 0, true);
    const policy = { ...defaultRetentionPolicy, keepLastVerified: 1 };
    const outcome = await applyRetention(store, { now, policy, apply: false });
    expect(outcome.decisions.filter((d) => !d.keep)).toHaveLength(1);
    expect(outcome.marked).toEqual([]);
    expect(await expireLikeTheLifecycleRule(store)).toBe(0);
  });
});
