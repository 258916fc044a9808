/**
 * The status report, badge and metrics computed from a real S3 API (s3rver) holding backups, a drill
 * record and execution histories shaped like the runner's. `now` is injected to age the backups.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { prices } from '../../config/prices.ts';
import { publishStatus } from '../../lib/report/publish-status.ts';
import { badgeFor, renderStatusMarkdown, statusKeys } from '../../lib/report/render.ts';
import { buildStatusReport } from '../../lib/report/status-report.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { execution as fixtureExecution, putBackup as putFixtureBackup } from '../support/status-fixture.ts';

let s3: LocalS3Server;
let dir: string;
let buckets = 0;
const now = new Date('2026-03-10T12:00:00Z');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'status-'));
  s3 = await startLocalS3Server({ directory: dir });
});

afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function freshStore(): Promise<BackupStore> {
  const client = createS3Client({ endpoint: s3.endpoint });
  const bucket = `status-${++buckets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return new BackupStore({ client, bucket });
}

const putBackup = (store: BackupStore, hoursAgo: number, bytes: number, verified: boolean) =>
  putFixtureBackup(store, { now, hoursAgo, bytes, verified });
const execution = (hoursAgo: number, status: 'SUCCEEDED' | 'FAILED', error?: string) =>
  fixtureExecution({ now, hoursAgo, status, ...(error ? { error } : {}) });

const options = { now, rpoHours: 24, rtoHours: 2, prices };

describe('status report', () => {
  it('reports a fresh verified backup as OK with a green badge, size trend and projection', async () => {
    const store = await freshStore();
    await putBackup(store, 49, 1000, true);
    await putBackup(store, 25, 1100, true);
    const newest = await putBackup(store, 1, 1200, true);

    const report = await buildStatusReport(store, {
      ...options,
      executions: [execution(49, 'SUCCEEDED'), execution(25, 'SUCCEEDED'), execution(1, 'SUCCEEDED')],
    });

    expect(report).toMatchObject({
      state: 'ok',
      withinRpo: true,
      newestVerified: { backupId: newest, ageHours: 1, bytes: 1200 },
      lastFailure: null,
      lastDrill: null,
      successRate30d: { runs: 3, succeeded: 3, rate: 1, source: 'executions' },
      metrics: {
        BackupAgeHours: 1,
        DumpBytes: 1200,
        DumpSeconds: 12.5,
        RestoreSeconds: 42,
        VerificationFailures: 0,
      },
    });
    expect(report.sizeTrend.map((s) => s.bytes)).toEqual([1000, 1100, 1200]);
    // Two days of backups are not enough history for a growth rate (issue 29: two backups seconds apart
    // gave "187.5 MiB/day"); the projection then assumes none. A week's rate: the next test.
    expect(report.growthBytesPerDay).toBeNull();
    expect(report.projected30DayStorageBytes).toBe(30 * 1200);
    expect(badgeFor(report)).toEqual({ label: 'backup', message: 'verified 1 h ago', color: 'brightgreen' });
    // The month's cost from what the bucket holds (3,300 bytes) and the newest night's timings.
    expect(report.estimatedMonthlyCost?.items.find((i) => i.name === 'S3 storage')?.basis).toMatch(
      /^0\.00 GB/,
    );
    expect(report.estimatedMonthlyCost?.items.find((i) => i.name === 'Lambda')?.basis).toContain(
      'dumps of 13 s',
    );
    expect(report.estimatedMonthlyCost?.totalUsd).toBeGreaterThan(5);
    expect(renderStatusMarkdown(report)).toMatch(
      /\| estimated AWS cost per month \| \$\d+\.\d\d at list prices/,
    );
  });

  it('projects storage from a week of growth', async () => {
    const store = await freshStore();
    for (let day = 8; day >= 0; day--) await putBackup(store, day * 24 + 1, 1200 - day * 100, true);

    const report = await buildStatusReport(store, options);

    expect(report).toMatchObject({ growthBytesPerDay: 100, growthHistoryDays: 8 });
    // The next 30 daily backups: 1200 + 100 * d for d = 1..30.
    expect(report.projected30DayStorageBytes).toBe(30 * 1200 + 100 * ((30 * 31) / 2));
    expect(renderStatusMarkdown(report)).toContain('| storage growth | 100 B/day growing (over 8 days) |');
  });

  it('reports a backup older than the RPO as STALE with a red badge', async () => {
    const store = await freshStore();
    await putBackup(store, 30, 1000, true);

    const report = await buildStatusReport(store, options);

    expect(report).toMatchObject({ state: 'stale', withinRpo: false, newestVerified: { ageHours: 30 } });
    expect(report.summary).toMatch(/^STALE: newest verified backup .* is 30\.0 h old \(RPO 24 h\)/);
    expect(badgeFor(report)).toEqual({ label: 'backup', message: 'stale: verified 30 h ago', color: 'red' });
  });

  it('reports the last run failing, with its cause, while the previous backup is within the RPO', async () => {
    const store = await freshStore();
    await putBackup(store, 20, 1000, true);

    const report = await buildStatusReport(store, {
      ...options,
      executions: [execution(20, 'SUCCEEDED'), execution(2, 'FAILED', 'RowCountMismatchError')],
    });

    expect(report).toMatchObject({
      state: 'last-run-failed',
      withinRpo: true,
      lastFailure: { stateMachine: 'backup', error: 'RowCountMismatchError', cause: 'staging refused' },
      successRate30d: { runs: 2, succeeded: 1, rate: 0.5 },
      metrics: { VerificationFailures: 1 },
    });
    expect(badgeFor(report)).toEqual({
      label: 'backup',
      message: 'last run failed, verified 20 h ago',
      color: 'orange',
    });
  });

  it('reports no backups at all as NO VERIFIED BACKUP, without an age metric so the alarm breaches', async () => {
    const store = await freshStore();

    const report = await buildStatusReport(store, options);

    expect(report).toMatchObject({
      state: 'no-verified-backup',
      withinRpo: false,
      newestVerified: null,
      successRate30d: { runs: 0, rate: null, source: 'bucket' },
      growthBytesPerDay: null,
      growthHistoryDays: 0,
      projected30DayStorageBytes: 0,
    });
    expect(report.metrics).toEqual({ VerificationFailures: 0 });
    expect(badgeFor(report)).toEqual({ label: 'backup', message: 'no verified backup', color: 'red' });
  });

  it('writes status.json, BACKUP_STATUS.md and badge.svg and logs one EMF metrics line', async () => {
    const store = await freshStore();
    const backupId = await putBackup(store, 3, 2048, true);
    const lines: string[] = [];

    await publishStatus(store, { ...options, stage: 'prod', log: (line) => lines.push(line) });

    const json = JSON.parse(await store.getText(statusKeys.json)) as { state: string };
    expect(json.state).toBe('ok');
    const markdown = await store.getText(statusKeys.markdown);
    expect(markdown).toContain('**OK: newest verified backup');
    expect(markdown).toContain(backupId);
    const svg = await store.getText(statusKeys.badge);
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('verified 3 h ago');
    expect(svg).toContain('fill="#4b0"'); // badge-maker's brightgreen
    expect(lines).toHaveLength(1);
    const emf = JSON.parse(lines[0] ?? '{}');
    expect(emf).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'VerifiedPgBackups', Dimensions: [['Stage']] }] },
      Stage: 'prod',
      BackupAgeHours: 3,
      // What the age alarm watches: with no failure alert, the same age (lib/report/silence.ts).
      SilenceHours: 3,
      DumpBytes: 2048,
      BackupSizeBytes: 2048,
      RestoreSeconds: 42,
      VerificationFailures: 0,
    });
    const names = emf._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name);
    expect(names).toEqual(
      expect.arrayContaining(['BackupAgeHours', 'SilenceHours', 'DumpSeconds', 'VerificationFailures']),
    );
  });
});
