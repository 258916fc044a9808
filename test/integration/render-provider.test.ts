/**
 * Render's own backups in the status: a local HTTPS server answers like Render's public API
 * (test/support/render-api.ts, shapes from Render's API reference), and the report is written to a
 * real S3 API. The key and the signed export links are canaries: they must appear in no output.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { handler as statusHandler } from '../../functions/status/handler.ts';
import { reportStatus } from '../../lib/commands/status.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import type { Message } from '../../lib/notify/publish.ts';
import { providerAlertStateKey } from '../../lib/provider/alerts.ts';
import { checkRenderBackups, type RenderCheckOptions } from '../../lib/provider/render.ts';
import { type RenderDrillRecord, renderDrillKey } from '../../lib/provider/render-drill.ts';
import { renderStatusHtml } from '../../lib/report/html.ts';
import { publishStatus as publishStatusAsItsRole } from '../../lib/report/publish-status.ts';
import { renderStatusMarkdown, statusKeys } from '../../lib/report/render.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { main as backupctl } from '../../tools/cli/main.ts';
import { awsCaller } from '../../tools/local/aws-caller.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { json, type RenderApi, type RenderApiState, startRenderApi } from '../support/render-api.ts';

const apiKey = 'rnd_CANARYapiKEY0123456789';
const signedExportUrl = 'https://render-exports.example/exp-signed?X-Amz-Signature=CANARYsig';
const postgresId = 'dpg-abc123xyz';
const now = new Date('2026-11-24T06:00:00Z');

let render: RenderApi;
let s3: LocalS3Server;
let dir: string;
let buckets = 0;

const available = (): RenderApiState => ({
  apiKey,
  postgresId,
  instance: { name: 'shop-db', plan: 'pro_4gb', version: '16', status: 'available' },
  recovery: json(200, { recoveryStatus: 'AVAILABLE', startsAt: '2026-11-17T06:00:00Z' }),
  exports: json(200, [
    { id: 'exp-older', createdAt: '2026-11-20T06:00:00Z', url: signedExportUrl },
    { id: 'exp-newest', createdAt: '2026-11-23T18:00:00Z', url: signedExportUrl },
  ]),
  faults: [],
});

beforeAll(async () => {
  render = await startRenderApi(available());
  dir = await mkdtemp(join(tmpdir(), 'render-'));
  s3 = await startLocalS3Server({ directory: dir });
});

afterAll(async () => {
  await render?.stop();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Retries with pauses of a millisecond or two: the attempts are counted, not timed. */
const quickRetry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

const check = (key = apiKey, id = postgresId, extra: Partial<RenderCheckOptions> = {}) =>
  checkRenderBackups({
    apiKey: key,
    postgresId: id,
    baseUrl: render.baseUrl,
    now,
    retry: quickRetry,
    ...extra,
  });

const withRecoverySince = (startsAt: string): Partial<RenderApiState> => ({
  recovery: json(200, { recoveryStatus: 'AVAILABLE', startsAt }),
});

describe('Render provider backups', () => {
  it('reads the instance, the recovery state and the newest export, sending the key only as a bearer header', async () => {
    render.reset({});
    const status = await check();
    expect(status).toEqual({
      provider: 'render',
      postgresId,
      checkedAt: now.toISOString(),
      instance: { name: 'shop-db', plan: 'pro_4gb', version: '16' },
      recoveryStatus: 'AVAILABLE',
      recoveryWindowStartsAt: '2026-11-17T06:00:00Z',
      recoveryWindowDays: 7,
      minRecoveryDays: 7,
      newestExport: { id: 'exp-newest', createdAt: '2026-11-23T18:00:00.000Z', ageHours: 12 },
      maxExportAgeHours: 26,
      ok: true,
      problem: null,
      findings: [],
    });
    expect(render.paths()).toEqual([
      `/v1/postgres/${postgresId}`,
      `/v1/postgres/${postgresId}/recovery`,
      `/v1/postgres/${postgresId}/export`,
    ]);
    expect(render.receiver.requests.every((r) => r.authorization === `Bearer ${apiKey}`)).toBe(true);
    expect(JSON.stringify(status)).not.toContain('CANARYsig');
  });

  it.each(['BACKUP_NOT_READY', 'NOT_AVAILABLE'])('is not ok when recovery is %s', async (recoveryStatus) => {
    render.reset({ recovery: json(200, { recoveryStatus }) });
    const status = await check();
    expect(status.ok).toBe(false);
    expect(status.recoveryStatus).toBe(recoveryStatus);
    expect(status.problem).toContain(`point-in-time recovery is ${recoveryStatus}`);
    expect(status.findings.map((f) => f.error)).toEqual(['ProviderBackupError']);
  });

  it('names a recovery window shorter than the plan needs, and passes one as long', async () => {
    render.reset(withRecoverySince('2026-11-21T06:00:00Z'));
    const hobby = await check();
    expect(hobby).toMatchObject({ ok: false, recoveryWindowDays: 3, minRecoveryDays: 7 });
    expect(hobby.findings).toEqual([
      {
        kind: 'recovery-window',
        error: 'ProviderRecoveryWindowError',
        message: 'Render keeps 3 days; the plan needs 7 (point-in-time recovery since 2026-11-21T06:00:00Z)',
      },
    ]);
    // The plan may accept the shorter window.
    expect((await check(apiKey, postgresId, { minRecoveryDays: 3 })).ok).toBe(true);

    // A window's start read minutes after Render moved it is not a short window.
    render.reset(withRecoverySince('2026-11-17T06:40:00Z'));
    expect(await check()).toMatchObject({ ok: true, recoveryWindowDays: 7 });
    render.reset(withRecoverySince('2026-11-17T09:00:00Z'));
    expect(await check()).toMatchObject({ ok: false, recoveryWindowDays: 6.9 });

    render.reset({ recovery: json(200, { recoveryStatus: 'AVAILABLE' }) });
    expect((await check()).problem).toBe(
      'Render did not say where its recovery window starts; the plan needs 7 days',
    );
  });

  it('names an export older than the plan allows, and none at all', async () => {
    render.reset({
      exports: json(200, [{ id: 'exp-old', createdAt: '2026-11-21T06:00:00Z', url: signedExportUrl }]),
    });
    const stale = await check();
    expect(stale.findings).toEqual([
      {
        kind: 'export-stale',
        error: 'ProviderExportStaleError',
        message: "Render's newest export exp-old is 72 h old; the plan wants one newer than 26 h",
      },
    ]);
    expect((await check(apiKey, postgresId, { maxExportAgeHours: 96 })).ok).toBe(true);

    render.reset({ exports: json(200, []) });
    expect((await check()).problem).toBe('Render has no logical export; the plan wants one newer than 26 h');
  });

  it('names the setting for a rejected key or an unknown id: a configuration error, not an outage', async () => {
    render.reset({});
    const rejected = await check('rnd_wrong');
    expect(rejected).toMatchObject({ ok: false, recoveryStatus: null, instance: null });
    expect(rejected.problem).toMatch(/answered 401 \(unauthorized: .*\) \(check the Render API key secret\)/);
    expect(rejected.findings).toEqual([
      expect.objectContaining({ kind: 'configuration', error: 'ConfigurationError' }),
    ]);
    expect(rejected.problem).toContain('RENDER_API_KEY (stage config: render.apiKeySecretArn)');
    // Not retried: a wrong key stays wrong.
    expect(render.paths()).toEqual([`/v1/postgres/${postgresId}`]);

    const unknown = await check(apiKey, 'dpg-unknown');
    expect(unknown.problem).toMatch(/404 \(not_found/);
    expect(unknown.problem).toContain('RENDER_POSTGRES_ID (stage config: render.postgresId) dpg-unknown');
    expect(unknown.findings[0]?.error).toBe('ConfigurationError');
  });

  it('retries an outage and a rate limit with pauses, then answers; gives up after the bounded attempts', async () => {
    const down = json(503, { id: 'service_unavailable', message: 'Service unavailable.' });
    render.reset({
      faults: [down, json(429, { id: 'rate_limited', message: 'slow down' }, { 'retry-after': '0' })],
    });
    const pauses: number[] = [];
    const recovered = await check(apiKey, postgresId, {
      pause: async (ms) => void pauses.push(ms),
    });
    expect(recovered.ok).toBe(true);
    expect(render.paths()).toHaveLength(5); // instance 3 times (503, 429, 200), recovery, export
    expect(pauses).toHaveLength(2);
    expect(pauses[1]).toBe(0); // Retry-After: 0 is taken as said

    render.reset({ faults: [down, down, down, down] });
    const outage = await check();
    expect(outage.findings).toEqual([
      {
        kind: 'check-failed',
        error: 'ProviderBackupError',
        message: `Render API /postgres/${postgresId} answered 503 (service_unavailable: Service unavailable.) after 3 attempt(s)`,
      },
    ]);
    expect(render.paths()).toHaveLength(3);

    // Growing pauses, capped.
    render.reset({ faults: [down, down, down, down] });
    const grown: number[] = [];
    await check(apiKey, postgresId, {
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 300 },
      pause: async (ms) => void grown.push(ms),
    });
    expect(grown).toHaveLength(3);
    expect(grown[0]).toBeGreaterThanOrEqual(50);
    expect(grown[0]).toBeLessThanOrEqual(100);
    expect(grown[2]).toBeGreaterThanOrEqual(150);
    expect(grown[2]).toBeLessThanOrEqual(300);
  });

  it('reports a wrong shape, non-JSON and an unreachable API as failed checks, never as ok', async () => {
    render.reset({ recovery: json(200, { recoveryStatus: 'MAYBE' }) });
    expect((await check()).problem).toMatch(/unexpected shape at recoveryStatus/);

    render.reset({ exports: json(200, 'not json') });
    expect((await check()).problem).toMatch(/not JSON/);

    const unreachable = await check(apiKey, postgresId, { baseUrl: 'https://127.0.0.1:1/v1' });
    expect(unreachable.findings[0]).toMatchObject({ kind: 'check-failed', error: 'ProviderBackupError' });
    expect(unreachable.problem).toMatch(/unreachable .* after 3 attempt\(s\)/);
  });

  it('keeps the key and signed links out of what it reports, even when Render quotes them back', async () => {
    render.reset({
      faults: [json(400, { id: 'bad_request', message: `key ${apiKey} cannot fetch ${signedExportUrl}` })],
    });
    const status = await check();
    expect(status.problem).toContain('answered 400');
    expect(JSON.stringify(status)).not.toContain('CANARY');
    expect(JSON.stringify(status)).not.toContain('render-exports.example');
  });

  it('refuses a Postgres id that could change the request path', async () => {
    await expect(check(apiKey, '../../v1/services')).rejects.toThrow(ConfigurationError);
  });

  it('puts the second line in the written status and alerts, standing states once per start, without key or link', async () => {
    const client = createS3Client({ endpoint: s3.endpoint });
    const bucket = `render-${++buckets}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new BackupStore({ client, bucket });
    const alerts: Message[] = [];
    const logs: string[] = [];
    const options = {
      now,
      rpoHours: 24,
      rtoHours: 2,
      stage: 'prod',
      checkProvider: () => check(),
      alert: async (message: Message) => alerts.push(message),
      log: (line: string) => logs.push(line),
    };
    // As the status function's role: its reads and writes of the alert record are checked against it.
    const publishStatus = (target: BackupStore, given: typeof options) =>
      awsCaller.run({ principal: 'status', settings: { BACKUP_BUCKET: bucket } }, () =>
        publishStatusAsItsRole(target, given),
      );

    render.reset({});
    const healthy = await publishStatus(store, options);
    expect(healthy.provider?.ok).toBe(true);
    expect(healthy.metrics.ProviderRecoveryAvailable).toBe(1);
    expect(alerts).toEqual([]);

    render.reset({ recovery: json(200, { recoveryStatus: 'NOT_AVAILABLE' }) });
    const report = await publishStatus(store, options);
    expect(report.summary).toContain('Provider: Render point-in-time recovery is NOT_AVAILABLE');
    expect(report.metrics.ProviderRecoveryAvailable).toBe(0);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.subject).toBe('[prod] Render backups need attention: NOT_AVAILABLE');
    expect(alerts[0]?.text).toContain('ProviderBackupError');
    // An unavailable recovery is alerted on every run while it lasts.
    await publishStatus(store, options);
    expect(alerts).toHaveLength(2);

    const markdown = await store.getText(statusKeys.markdown);
    expect(markdown).toContain('| point-in-time recovery | NOT_AVAILABLE | **NO** |');
    expect(markdown).toContain('exp-newest of 2026-11-23T18:00:00.000Z (12 h old)');

    // A Hobby window and a stale export: alerted when they start, not again on the next runs.
    alerts.length = 0;
    render.reset({
      ...withRecoverySince('2026-11-21T06:00:00Z'),
      exports: json(200, [{ id: 'exp-old', createdAt: '2026-11-21T06:00:00Z', url: signedExportUrl }]),
    });
    await publishStatus(store, options);
    expect(alerts.map((a) => a.subject)).toEqual([
      '[prod] Render backups need attention: recovery window 3 of 7 days',
    ]);
    expect(alerts[0]?.text).toContain('ProviderRecoveryWindowError: Render keeps 3 days; the plan needs 7');
    expect(alerts[0]?.text).toContain("ProviderExportStaleError: Render's newest export exp-old is 72 h old");
    expect(alerts[0]?.text).toContain('(plan pro_4gb)');
    await publishStatus(store, options);
    expect(alerts).toHaveLength(1);
    expect(JSON.parse(await store.getText(providerAlertStateKey))).toMatchObject({
      postgresId,
      standing: ['recovery-window', 'export-stale'],
    });

    const page = await store.getText(statusKeys.html);
    expect(page).toContain('<tr class="unverified"><th>recovery window</th>');
    expect(page).toContain('Render keeps 3 days; the plan needs 7');
    const shortMarkdown = await store.getText(statusKeys.markdown);
    expect(shortMarkdown).toMatch(/\| recovery window \| 3 days .*the plan needs 7 \| \*\*NO\*\* \|/);
    expect(shortMarkdown).toContain('| problem | `ProviderExportStaleError`');

    // An outage in between says nothing about the window or the exports: no re-alert of them after it.
    render.reset({ faults: [json(503, {}), json(503, {}), json(503, {})] });
    await publishStatus(store, options);
    expect(alerts.map((a) => a.subject).slice(1)).toEqual([
      '[prod] Render backups need attention: check failed',
    ]);
    expect(await store.getText(statusKeys.markdown)).toContain(
      '| newest logical export | unknown (the check failed); the plan wants one newer than 26 h | ok |',
    );
    render.reset({
      ...withRecoverySince('2026-11-21T06:00:00Z'),
      exports: json(200, [{ id: 'exp-old', createdAt: '2026-11-21T06:00:00Z', url: signedExportUrl }]),
    });
    await publishStatus(store, options);
    expect(alerts).toHaveLength(2);

    // A fresh export ends that state; a stale one later starts it again and is alerted again.
    render.reset(withRecoverySince('2026-11-21T06:00:00Z'));
    await publishStatus(store, options);
    expect(alerts).toHaveLength(2);
    render.reset({ ...withRecoverySince('2026-11-21T06:00:00Z'), exports: json(200, []) });
    await publishStatus(store, options);
    expect(alerts.map((a) => a.subject).slice(2)).toEqual([
      '[prod] Render backups need attention: no logical export',
    ]);
    expect(alerts[2]?.text).not.toContain('ProviderRecoveryWindowError');

    const written = [
      await store.getText(statusKeys.json),
      markdown,
      await store.getText(statusKeys.html),
      await store.getText(providerAlertStateKey),
      JSON.stringify(alerts),
      ...logs,
    ].join('\n');
    expect(written).not.toContain(apiKey);
    expect(written).not.toContain('CANARYsig');
    expect(written).not.toContain('render-exports.example');
  });

  it("shows Render's newest drill (result, RTO, export age) in the report and on the page, a failed one red", async () => {
    const bucket = `render-${++buckets}`;
    await createS3Client({ endpoint: s3.endpoint }).send(new CreateBucketCommand({ Bucket: bucket }));
    const settings = {
      BACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      RENDER_POSTGRES_ID: postgresId,
      RENDER_API_KEY: apiKey,
      RENDER_API_URL: render.baseUrl,
    };
    const runtime = createRuntime(readRuntimeSettings(settings));
    // As the status function's role: reading provider/render/drills/ is checked against its grants.
    const status = () =>
      awsCaller.run({ principal: 'status', settings }, () => reportStatus(runtime, { now, write: false }));
    const record = (drillId: string, passed: boolean): RenderDrillRecord => ({
      line: 'render',
      drillId,
      postgresId,
      startedAt: '2026-11-24T04:00:00.000Z',
      finishedAt: '2026-11-24T04:02:00.000Z',
      export: { id: 'exp-newest', createdAt: '2026-11-23T18:00:00.000Z', bytes: 10, sha256: 'a'.repeat(64) },
      exportAgeHours: 10,
      comparedWith: {
        backupId: '20261124T020000Z-a1b2c3',
        createdAt: '2026-11-24T02:00:00.000Z',
        hoursApart: 8,
      },
      serverVersion: '18.1',
      downloadSeconds: 1,
      restoreSeconds: 2,
      rtoSeconds: 7.5,
      benignMessages: [],
      tables: { compared: 2, missing: passed ? [] : ['public.customers'], extra: [], outsideDrift: [] },
      missingExtensions: [],
      roles: null,
      driftPerHour: 0.01,
      passed,
      problem: passed ? null : 'tables of ours missing from the export: public.customers',
    });

    render.reset({});
    expect((await status()).renderDrill).toBeNull();
    expect(renderStatusMarkdown(await status())).toContain(
      '| last Render drill | none yet (the quarterly drills restore Render’s newest export) | ok |',
    );

    await runtime.store.putJson(
      renderDrillKey('render-2026-11-24T04-00-00-000Z'),
      record('render-2026-11-24T04-00-00-000Z', true),
    );
    const passed = await status();
    expect(passed.renderDrill).toMatchObject({ passed: true, rtoSeconds: 7.5, exportAgeHours: 10 });
    expect(renderStatusMarkdown(passed)).toContain(
      '| last Render drill | render-2026-11-24T04-00-00-000Z of 2026-11-24T04:00:00.000Z: passed; RTO 7.5 s, export exp-newest 10 h old, compared with our 20261124T020000Z-a1b2c3 | ok |',
    );

    await runtime.store.putJson(
      renderDrillKey('render-2026-11-24T05-00-00-000Z'),
      record('render-2026-11-24T05-00-00-000Z', false),
    );
    const failed = await status();
    expect(failed.renderDrill).toMatchObject({ drillId: 'render-2026-11-24T05-00-00-000Z', passed: false });
    expect(renderStatusHtml(failed)).toContain(
      '<tr class="unverified"><th>last Render drill</th><td>render-2026-11-24T05-00-00-000Z of 2026-11-24T04:00:00.000Z: FAILED (tables of ours missing from the export: public.customers)',
    );
    // Our own line's verdict is not the Render drill's.
    expect(failed.state).toBe(passed.state);
    expect(JSON.stringify(failed)).not.toContain(apiKey);
  });

  it('is checked by the status function when a Render id is configured, and the alert goes to SNS', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const bucket = `render-${++buckets}`;
    await createS3Client({ endpoint: s3.endpoint }).send(new CreateBucketCommand({ Bucket: bucket }));
    const saved = { ...process.env };
    Object.assign(process.env, {
      BACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      ALERT_TOPIC_ARN: 'arn:aws:sns:eu-central-1:123456789012:alerts',
      STAGE: 'prod',
      RENDER_POSTGRES_ID: postgresId,
      RENDER_API_KEY: apiKey,
      RENDER_API_URL: render.baseUrl,
    });
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      render.reset({ recovery: json(200, { recoveryStatus: 'BACKUP_NOT_READY' }) });
      const result = await statusHandler({}, {} as never);
      expect(result).toMatchObject({ state: 'no-verified-backup', providerOk: false });
      const published = sns.commandCalls(PublishCommand).map((call) => call.args[0].input);
      expect(published).toHaveLength(1);
      expect(published[0]?.Subject).toBe('[prod] Render backups need attention: BACKUP_NOT_READY');
      expect(JSON.stringify(published)).not.toContain(apiKey);

      // A missing key is a failed check, alerted on; the report (and its metrics) is still published.
      delete process.env.RENDER_API_KEY;
      sns.resetHistory();
      await expect(statusHandler({}, {} as never)).resolves.toMatchObject({ providerOk: false });
      const keyAlert = sns.commandCalls(PublishCommand)[0]?.args[0].input;
      expect(keyAlert?.Subject).toBe('[prod] Render backups need attention: check failed');
      expect(keyAlert?.Message).toContain('neither RENDER_API_KEY nor RENDER_API_KEY_SECRET_ARN');
    } finally {
      log.mockRestore();
      process.env = saved;
      sns.restore();
    }
  });

  it('shows in `backupctl status` with the key from the environment, and the key stays out of the output', async () => {
    const saved = { ...process.env };
    const stateDir = await mkdtemp(join(tmpdir(), 'render-cli-'));
    Object.assign(process.env, {
      BACKUP_LOCAL_STATE_DIR: stateDir,
      RENDER_POSTGRES_ID: postgresId,
      RENDER_API_KEY: apiKey,
      RENDER_API_URL: render.baseUrl,
    });
    const out: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
    try {
      render.reset({ recovery: json(200, { recoveryStatus: 'NOT_AVAILABLE' }) });
      const code = await backupctl(['status', '--json']);
      expect(code).toBe(1); // no verified backup yet: outside the RPO
      const report = JSON.parse(out.join('\n')) as { provider: { recoveryStatus: string; ok: boolean } };
      expect(report.provider).toMatchObject({ recoveryStatus: 'NOT_AVAILABLE', ok: false });
      expect(out.join('\n')).not.toContain(apiKey);
    } finally {
      log.mockRestore();
      process.env = saved;
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
