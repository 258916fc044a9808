/**
 * The backup state machine, run from statemachines/backup.asl.json by aws-local-stepfunctions with the
 * real handlers, against real PostgreSQL servers and a real S3 API. Only SNS is mocked (at the client).
 */

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest } from '../../lib/backup/catalog.ts';
import { parseVerification } from '../../lib/backup/manifest.ts';
import { keys } from '../../lib/storage/keys.ts';
import { freePort } from '../../tools/local/postgres-server.ts';
import {
  alerts,
  answerAlertsInEachTest,
  expectFailureAlert,
  expectNothingVerifiedOrLeftOver,
} from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture, summaryTopicArn } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;

beforeAll(async () => {
  fixture = await startPipelineFixture();
}, 120_000);
afterAll(async () => {
  await fixture?.stop();
});

describe('backup state machine', () => {
  it('dumps, promotes, verifies and restores the sample database, then marks it verified', async () => {
    const { settings, store } = await fixture.freshBucket();

    const execution = await fixture.run(settings);

    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states.filter((s) => s.status === 'succeeded').map((s) => s.name)).toEqual([
      'Plan',
      'DumpWhere',
      'Dump',
      'Promote',
      'Checksum',
      'VerifyWhere',
      'Verify',
      'Notify',
      'BackupVerified',
    ]);
    // A small database dumps on Lambda; verification runs where VERIFY_VENUE says (Lambda locally).
    const plan = execution.states.find((s) => s.name === 'Plan')?.output as { plan: Record<string, unknown> };
    expect(plan.plan).toMatchObject({ dump: 'lambda', verify: 'lambda', throughputFrom: 'default' });
    expect(plan.plan.reason).toMatch(
      /estimated at 25\.0 MiB\/s \(default\) fits half the Lambda's 880 s budget/,
    );
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(true);
    const backupId = backup?.backupId ?? '';
    expect(await store.getTags(keys.dump(backupId))).toMatchObject({ verified: 'true' });
    expect(await store.list('incoming/')).toEqual([]);

    const manifest = await readManifest(store, backupId);
    const [orders] = await fixture.productionSql<{ n: string }>('SELECT count(*)::text AS n FROM orders');
    const orderRows = manifest.tables
      .filter((t) => t.schema === 'public' && t.table.startsWith('orders_'))
      .reduce((sum, t) => sum + t.rows, 0);
    expect(orderRows).toBe(Number(orders?.n));
    expect(manifest.tables.map((t) => `${t.schema}.${t.table}`)).toEqual(
      expect.arrayContaining([
        'Reporting.café_menü',
        'Reporting.CustomerNotes',
        'Reporting.empty table',
        'public.session_cache',
      ]),
    );
    expect(JSON.stringify(manifest)).not.toContain('postgres:postgres@');

    // The summary has a topic of its own: a message on the alert topic always means work to do.
    const [success, ...others] = alerts();
    expect(others).toEqual([]);
    expect(success?.topic).toBe(summaryTopicArn);
    expect(success?.subject).toContain('Backup verified');
    expect(success?.message).toContain(manifest.dump.sha256);

    // Verified on a scratch server of production's major, which is gone with every file it had.
    const verification = parseVerification(await store.getText(keys.verification(backupId)), 'record');
    expect(verification).toMatchObject({
      verificationVersion: 2,
      restoreTarget: { kind: 'scratch', serverVersion: expect.stringMatching(/^18\./) },
      proof: 'checksums',
      tablesCompared: manifest.tables.length,
    });
    expect(manifest.extensions?.map((e) => e.name)).toContain('plpgsql');
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });

  it('rejects an execution input with an unknown field before touching the database or the bucket', async () => {
    const { settings, store } = await fixture.freshBucket();

    const execution = await fixture.run(settings, { input: { trigger: 'manual', compresion: 'gzip' } });

    // Plan, the first step, checks the input before it connects anywhere.
    const message = expectFailureAlert(execution, 'InputValidationError', 'Plan');
    expect(message).toContain('compresion');
    expect(execution.states.some((s) => s.status === 'retried')).toBe(false);
    expect(await store.list('')).toEqual([]);
  });

  it('retries an unreachable database, then alerts without revealing the password', async () => {
    const port = await freePort();
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: `postgresql://postgres:Canary-Pw-7731@127.0.0.1:${port}/shop`,
    });

    const execution = await fixture.run(settings);

    // Plan is the first step to connect to production: it retries, then the alert names it.
    const message = expectFailureAlert(execution, 'DatabaseUnreachableError', 'Plan');
    expect(execution.states.filter((s) => s.name === 'Plan' && s.status === 'retried')).toHaveLength(2);
    expect(JSON.stringify(execution)).not.toContain('Canary-Pw-7731');
    expect(message).not.toContain('Canary-Pw-7731');
    await expectNothingVerifiedOrLeftOver(store);
  });

  it('fails the checksum step when a byte of the stored dump was flipped', async () => {
    const { settings, store } = await fixture.freshBucket();

    const execution = await fixture.run(settings, {
      wrap: {
        Promote: async (next) => {
          const result = (await next()) as { dumpKey: string };
          const stored = Buffer.concat(await (await store.getStream(result.dumpKey)).toArray());
          stored.writeUInt8(stored.readUInt8(stored.length >> 1) ^ 0xff, stored.length >> 1);
          await store.putObject(result.dumpKey, stored, 'application/octet-stream');
          return result;
        },
      },
    });

    const message = expectFailureAlert(execution, 'ChecksumMismatchError', 'Checksum');
    expect(message).toContain('does not match its manifest');
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(false);
    expect(await store.getTags(keys.dump(backup?.backupId ?? ''))).toMatchObject({ verified: 'false' });
  });

  it('fails with the table diff when a row count on the restored copy differs from the manifest', async () => {
    const { settings, store } = await fixture.freshBucket();

    const execution = await fixture.run(settings, {
      wrap: {
        // The manifest promises one row more than the dump holds: the restored copy comes up short.
        Verify: async (next, event) => {
          const { backupId } = event as { backupId: string };
          const manifest = await readManifest(store, backupId);
          const table = manifest.tables.find((t) => t.schema === 'Reporting' && t.table === 'café_menü');
          if (table) table.rows += 1;
          await store.putJson(keys.manifest(backupId), manifest);
          return next();
        },
      },
    });

    const message = expectFailureAlert(execution, 'RowCountMismatchError', 'Verify');
    expect(message).toContain('Reporting.café_menü: expected 4, found 3');
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(false);
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });

  it('refuses to restore into the production database and does not retry', async () => {
    const { settings, store } = await fixture.freshBucket({
      ...(await fixture.stagingSettings()),
      STAGING_DATABASE_URL: fixture.environment.settings.PRODUCTION_DATABASE_URL ?? '',
    });

    const execution = await fixture.run(settings);

    const message = expectFailureAlert(execution, 'ProductionTargetError', 'Verify');
    expect(message).toContain('production');
    expect(execution.states.some((s) => s.name === 'Verify' && s.status === 'retried')).toBe(false);
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(false);
  });

  it('refuses a staging database that has not opted in as a restore target', async () => {
    await fixture.stagingSql('DROP DATABASE IF EXISTS not_opted_in');
    await fixture.stagingSql('CREATE DATABASE not_opted_in');
    const staging = await fixture.stagingSettings();
    const stagingUrl = (staging.STAGING_DATABASE_URL ?? '').replace(/\/staging$/, '/not_opted_in');
    const { settings } = await fixture.freshBucket({ ...staging, STAGING_DATABASE_URL: stagingUrl });

    const execution = await fixture.run(settings);

    const message = expectFailureAlert(execution, 'ProductionTargetError', 'Verify');
    expect(message).toContain('has not opted in');
  });

  it('verifies in staging mode: restores into the opted-in staging database and counts there', async () => {
    const { settings, store } = await fixture.freshBucket(await fixture.stagingSettings());

    const execution = await fixture.run(settings);

    expect(execution.error).toBeUndefined();
    const [backup] = await listBackups(store);
    const verification = parseVerification(
      await store.getText(keys.verification(backup?.backupId ?? '')),
      'record',
    );
    expect(verification).toMatchObject({ restoreTarget: { kind: 'staging' } });
    const [menu] = await fixture.stagingSql<{ n: number }>(
      'SELECT count(*)::int AS n FROM "Reporting"."café_menü"',
    );
    expect(menu?.n).toBe(3);
  });
});
