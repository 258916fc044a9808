/**
 * A catalog that never calls a bad backup good, end to end: real backups of the embedded production
 * server through the real backup state machine, a real drill that fails, real objects in a real S3 API.
 * "Verified" is a valid verification record that matches its manifest and no later failed check;
 * damaged objects are listed and skipped, never fatal; a vault holds one database; a restore proves
 * content like Verify and refuses an unverified backup without --allow-unverified.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { listBackups, readManifest, resolveBackupId } from '../../lib/backup/catalog.ts';
import { defaultRetentionPolicy } from '../../lib/backup/retention.ts';
import { restoreBackup } from '../../lib/commands/restore.ts';
import { applyRetention } from '../../lib/commands/retention.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { buildStatusReport } from '../../lib/report/status-report.ts';
import { createRuntime } from '../../lib/runtime.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { backupIdTime, keys } from '../../lib/storage/keys.ts';
import { runStateMachine } from '../../tools/local/state-machine-runner.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

const sns = mockClient(SNSClient);
let fixture: PipelineFixture;
let settings: Record<string, string>;
let store: BackupStore;
let older: string;
let newer: string;

async function backup(runSettings: Record<string, string>): Promise<string> {
  const execution = await fixture.run(runSettings);
  expect(execution.status).toBe('SUCCEEDED');
  return (execution.output as { dump: { backupId: string } }).dump.backupId;
}

const report = (at = new Date()) => buildStatusReport(store, { now: at, rpoHours: 24, rtoHours: 2 });

/** An id one second after `backupId`'s time (so it sorts as the newest), with its own suffix. */
function laterId(backupId: string, seconds: number, suffix: string): string {
  const stamp = new Date(backupIdTime(backupId).getTime() + seconds * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${suffix}`;
}

/** Copies one stored object to another key of the vault, as a person or a script could. */
async function copyObject(from: string, to: string): Promise<void> {
  const body = Buffer.concat(await (await store.getStream(from)).toArray());
  await store.putObject(to, body, 'application/octet-stream');
}

beforeAll(async () => {
  sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
  fixture = await startPipelineFixture();
  ({ settings, store } = await fixture.freshBucket());
  older = await backup(settings);
  newer = await backup(settings);
}, 600_000);

afterAll(async () => {
  await fixture?.stop();
});

describe('a catalog you can trust', () => {
  it('a failed drill of the newest backup turns the status red and moves latest to the one before', async () => {
    expect(await resolveBackupId(store, 'latest')).toBe(newer);
    const impossible = JSON.stringify([
      { name: 'a trillion orders', sql: 'SELECT count(*) FROM orders', atLeast: 1e12 },
    ]);
    const drill = await runStateMachine({
      machine: 'drill',
      input: { trigger: 'manual', reason: 'catalog test' },
      settings: { ...settings, DRILL_SANITY_CHECKS: impossible },
      stateDir: fixture.stateDir,
      retryIntervalMs: 10,
    });
    expect(drill.status).toBe('FAILED');

    expect(await resolveBackupId(store, 'latest')).toBe(older);
    const status = await report();
    expect(status.state).toBe('check-failed');
    expect(status.newestVerified?.backupId).toBe(older);
    expect(status.summary).toContain(`CHECK FAILED: backup ${newer} failed its drill check`);
    expect(status.failedChecks).toEqual([
      expect.objectContaining({
        backupId: newer,
        kind: 'drill',
        reason: expect.stringContaining('a trillion orders'),
      }),
    ]);
    // Recorded against the backup, beside it.
    expect(await store.exists(keys.checks(newer))).toBe(true);
    const listed = (await listBackups(store)).map((b) => [b.backupId, b.state, b.verified]);
    expect(listed).toEqual([
      [newer, 'check-failed', false],
      [older, 'verified', true],
    ]);
    // Retention's newest verified backup is the one latest means.
    const retention = await applyRetention(store, {
      now: new Date(),
      policy: defaultRetentionPolicy,
      apply: false,
    });
    expect(retention.decisions.find((d) => d.reasons.includes('the newest verified backup'))?.backupId).toBe(
      older,
    );
  }, 600_000);

  it('lists a garbage manifest and an old dump copied under a newer id as damaged, and skips them', async () => {
    // An old backup's dump, manifest and verification record copied under a newer id.
    const copied = laterId(newer, 60, 'c0c0c0');
    for (const key of ['dump', 'manifest', 'verification'] as const) {
      await copyObject(keys[key](older), keys[key](copied));
    }
    // A manifest that is not JSON, beside a dump, under an even newer id; a stray object.
    const garbage = laterId(newer, 120, 'bad0ba');
    await store.putObject(keys.dump(garbage), 'not a dump', 'application/octet-stream');
    await store.putObject(keys.manifest(garbage), '{"manifestVersion": 1, "backupId": ', 'application/json');
    await store.putObject('backups/notes.txt', 'hello', 'text/plain');

    expect((await listBackups(store)).map((b) => b.backupId)).toEqual([newer, older]);
    expect(await resolveBackupId(store, 'latest')).toBe(older);
    const status = await report();
    expect(status.newestVerified?.backupId).toBe(older);
    expect(status.damaged).toEqual(
      expect.arrayContaining([
        {
          key: keys.manifest(copied),
          backupId: copied,
          reason: expect.stringContaining(`describes backup ${older}`),
        },
        {
          key: keys.manifest(garbage),
          backupId: garbage,
          reason: expect.stringContaining('is not valid JSON'),
        },
        { key: 'backups/notes.txt', reason: expect.any(String) },
      ]),
    );
    const retention = await applyRetention(store, {
      now: new Date(),
      policy: defaultRetentionPolicy,
      apply: true,
    });
    expect(retention.decisions.map((d) => d.backupId)).toEqual([newer, older]);
    expect(retention.damaged).toHaveLength(3);

    for (const id of [copied, garbage]) {
      for (const key of [keys.dump(id), keys.manifest(id), keys.verification(id)]) {
        if (await store.exists(key)) await store.delete(key);
      }
    }
    await store.delete('backups/notes.txt');
  }, 300_000);

  it('an empty verification record does not make a backup verified', async () => {
    const manifest = await readManifest(store, older);
    const copy = laterId(newer, 180, 'e0e0e0');
    await copyObject(keys.dump(older), keys.dump(copy));
    await store.putJson(keys.manifest(copy), { ...manifest, backupId: copy });
    await store.putObject(keys.verification(copy), '{}', 'application/json');

    const entryOf = async (id: string) => (await listBackups(store)).find((b) => b.backupId === id);
    expect(await entryOf(copy)).toMatchObject({ verified: false, state: 'unverified' });
    expect((await entryOf(copy))?.reason).toContain('verification record is unreadable');
    expect(await resolveBackupId(store, 'latest')).toBe(older);
    // A record of another backup's SHA-256 does not prove this one either.
    await store.putJson(keys.verification(copy), {
      ...JSON.parse(await store.getText(keys.verification(older))),
      backupId: copy,
      sha256: 'f'.repeat(64),
    });
    expect((await entryOf(copy))?.verified).toBe(false);
    expect((await entryOf(copy))?.reason).toBe("its verification record's SHA-256 is not the manifest's");
  }, 120_000);
});

describe('restore with the same proof', () => {
  it('refuses an unverified backup without --allow-unverified, says why, and compares content', async () => {
    const staging = await fixture.stagingSettings();
    const runtime = createRuntime(readRuntimeSettings(settings));
    const target = parseConnectionUrl(staging.STAGING_DATABASE_URL ?? '', 'target');

    // The newest backup failed its drill (first test): not verified.
    const refused = await restoreBackup(runtime, newer, target).then(
      () => new Error('restored an unverified backup'),
      (error: Error) => error,
    );
    expect(refused.name).toBe('BackupUnverifiedError');
    expect(refused.message).toMatch(
      new RegExp(`^backup ${newer} is not verified: its last drill check failed .*--allow-unverified$`),
    );

    const allowed = await restoreBackup(runtime, newer, target, { allowUnverified: true });
    expect(allowed.unverified).toMatch(/^its last drill check failed/);
    expect(allowed.compare).toMatchObject({ status: 'match', proof: 'checksums' });

    const counted = await restoreBackup(runtime, 'latest', target, { countsOnly: true });
    expect(counted).toMatchObject({ backupId: older, compare: { status: 'match', proof: 'counts' } });
    expect(counted.unverified).toBeUndefined();
    expect(counted.skipped.map((s) => s.backupId)).toContain(newer);
  }, 600_000);
});

describe('one vault, one database', () => {
  it("backs another database of the same stage up into a vault of its own, never into the first's", async () => {
    await fixture.sqlOn('postgres', 'CREATE DATABASE other');
    await fixture.sqlOn(
      'other',
      'CREATE TABLE things (id int PRIMARY KEY)',
      'INSERT INTO things VALUES (1), (2)',
    );
    const url = new URL(settings.PRODUCTION_DATABASE_URL ?? '');
    url.pathname = '/other';
    const otherId = await backup({ ...settings, PRODUCTION_DATABASE_URL: url.toString() });

    const top = await listBackups(store);
    expect(top.map((b) => b.backupId)).not.toContain(otherId);
    expect((await readManifest(store, await resolveBackupId(store, 'latest'))).source.database).toBe('shop');
    const own = store.forScope('other');
    expect((await listBackups(own)).map((b) => [b.backupId, b.verified])).toEqual([[otherId, true]]);
    expect((await readManifest(own, otherId)).source.database).toBe('other');
    expect(JSON.parse(await store.getText(keys.vault))).toMatchObject({ database: 'shop' });
    expect(JSON.parse(await store.forScope('other').getText(keys.vault))).toMatchObject({
      database: 'other',
    });
  }, 600_000);
});
