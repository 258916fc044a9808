/**
 * Render's own backups in the status: a local HTTP server answers like Render's public API
 * (`GET /v1/postgres/{id}/recovery` -> {recoveryStatus, startsAt}; `GET /v1/postgres/{id}/export` ->
 * [{id, createdAt, url}]; errors as {id, message}), and the report is written to a real S3 API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { handler as statusHandler } from '../../functions/status/handler.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import type { Message } from '../../lib/notify/publish.ts';
import { checkRenderBackups } from '../../lib/provider/render.ts';
import { publishStatus } from '../../lib/report/publish-status.ts';
import { statusKeys } from '../../lib/report/render.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { main as backupctl } from '../../tools/cli/main.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';

const apiKey = 'rnd_CANARYapiKEY0123456789';
const signedExportUrl = 'https://render-exports.example/exp-signed?X-Amz-Signature=CANARYsig';
const postgresId = 'dpg-abc123xyz';
const now = new Date('2026-11-24T06:00:00Z');

type Reply = { status: number; body: unknown };
let replies: { recovery: Reply; export: Reply };
const requests: { path: string; authorization: string | undefined }[] = [];
let api: Server;
let baseUrl: string;
let s3: LocalS3Server;
let dir: string;
let buckets = 0;

beforeAll(async () => {
  api = createServer((request, response) => {
    requests.push({ path: request.url ?? '', authorization: request.headers.authorization });
    const match = /^\/v1\/postgres\/([^/]+)\/(recovery|export)$/.exec(request.url ?? '');
    const reply: Reply =
      request.headers.authorization !== `Bearer ${apiKey}`
        ? {
            status: 401,
            body: { id: 'unauthorized', message: 'Authorization information is missing or invalid.' },
          }
        : match?.[1] !== postgresId
          ? { status: 404, body: { id: 'not_found', message: 'Unable to find the requested resource.' } }
          : replies[match[2] as 'recovery' | 'export'];
    response.writeHead(reply.status, { 'content-type': 'application/json' });
    response.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
  });
  await new Promise<void>((resolveListen) => api.listen(0, '127.0.0.1', resolveListen));
  baseUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/v1`;
  dir = await mkdtemp(join(tmpdir(), 'render-'));
  s3 = await startLocalS3Server({ directory: dir });
});

afterAll(async () => {
  await new Promise((resolveClose) => api?.close(resolveClose));
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

const available = (): typeof replies => ({
  recovery: { status: 200, body: { recoveryStatus: 'AVAILABLE', startsAt: '2026-11-17T06:00:00Z' } },
  export: {
    status: 200,
    body: [
      { id: 'exp-older', createdAt: '2026-11-20T06:00:00Z', url: signedExportUrl },
      { id: 'exp-newest', createdAt: '2026-11-23T18:00:00Z', url: signedExportUrl },
    ],
  },
});

const check = (key = apiKey, id = postgresId) =>
  checkRenderBackups({ apiKey: key, postgresId: id, baseUrl, now });

describe('Render provider backups', () => {
  it('reads the recovery state and the newest export, sending the key only as a bearer header', async () => {
    replies = available();
    requests.length = 0;
    const status = await check();
    expect(status).toEqual({
      provider: 'render',
      postgresId,
      checkedAt: now.toISOString(),
      recoveryStatus: 'AVAILABLE',
      recoveryWindowStartsAt: '2026-11-17T06:00:00Z',
      newestExport: { id: 'exp-newest', createdAt: '2026-11-23T18:00:00.000Z', ageHours: 12 },
      ok: true,
      problem: null,
    });
    expect(requests.map((r) => r.path)).toEqual([
      `/v1/postgres/${postgresId}/recovery`,
      `/v1/postgres/${postgresId}/export`,
    ]);
    expect(requests.every((r) => r.authorization === `Bearer ${apiKey}`)).toBe(true);
  });

  it.each(['BACKUP_NOT_READY', 'NOT_AVAILABLE'])('is not ok when recovery is %s', async (recoveryStatus) => {
    replies = { ...available(), recovery: { status: 200, body: { recoveryStatus } } };
    const status = await check();
    expect(status.ok).toBe(false);
    expect(status.recoveryStatus).toBe(recoveryStatus);
    expect(status.problem).toContain(`point-in-time recovery is ${recoveryStatus}`);
  });

  it('reports a rejected key, a server error, a wrong shape and non-JSON as failed checks, never as ok', async () => {
    replies = available();
    const rejected = await check('rnd_wrong');
    expect(rejected).toMatchObject({ ok: false, recoveryStatus: null });
    expect(rejected.problem).toMatch(/answered 401 \(unauthorized: .*\) \(check the Render API key secret\)/);

    replies = { ...available(), export: { status: 500, body: { id: 'server_error', message: 'boom' } } };
    expect((await check()).problem).toMatch(/export answered 500 \(server_error: boom\)/);

    replies = { ...available(), recovery: { status: 200, body: { recoveryStatus: 'MAYBE' } } };
    expect((await check()).problem).toMatch(/unexpected shape at recoveryStatus/);

    replies = { ...available(), export: { status: 200, body: 'not json' } };
    expect((await check()).problem).toMatch(/not JSON/);

    expect((await check(apiKey, 'dpg-unknown')).problem).toMatch(/404 \(not_found/);
  });

  it('refuses a Postgres id that could change the request path', async () => {
    await expect(check(apiKey, '../../v1/services')).rejects.toThrow(ConfigurationError);
  });

  it('puts the provider in the written status and alerts when recovery is unavailable, without key or export URL', async () => {
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

    replies = available();
    const healthy = await publishStatus(store, options);
    expect(healthy.provider?.ok).toBe(true);
    expect(healthy.metrics.ProviderRecoveryAvailable).toBe(1);
    expect(alerts).toEqual([]);

    replies = { ...available(), recovery: { status: 200, body: { recoveryStatus: 'NOT_AVAILABLE' } } };
    const report = await publishStatus(store, options);
    expect(report.summary).toContain('Provider: Render point-in-time recovery is NOT_AVAILABLE');
    expect(report.metrics.ProviderRecoveryAvailable).toBe(0);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.subject).toBe('[prod] Render backups need attention: NOT_AVAILABLE');
    expect(alerts[0]?.text).toContain('ProviderBackupError');

    const markdown = await store.getText(statusKeys.markdown);
    expect(markdown).toContain('| point-in-time recovery | NOT_AVAILABLE: ok **NO** |');
    expect(markdown).toContain('exp-newest of 2026-11-23T18:00:00.000Z (12 h old)');
    const written = [await store.getText(statusKeys.json), markdown, JSON.stringify(alerts), ...logs].join(
      '\n',
    );
    expect(written).not.toContain(apiKey);
    expect(written).not.toContain('CANARYsig');
    expect(written).not.toContain('render-exports.example');
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
      RENDER_API_URL: baseUrl,
    });
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      replies = { ...available(), recovery: { status: 200, body: { recoveryStatus: 'BACKUP_NOT_READY' } } };
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
      RENDER_API_URL: baseUrl,
    });
    const out: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
    try {
      replies = { ...available(), recovery: { status: 200, body: { recoveryStatus: 'NOT_AVAILABLE' } } };
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
