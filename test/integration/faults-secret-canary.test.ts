/**
 * Secret hygiene, suite level: canary values are planted where real secrets live (the production
 * database password, the Slack webhook URL, the Render API key), then a verified backup, a failing
 * backup, the status function and the CLI run against them. Everything they leave behind is scanned:
 * console and stdout/stderr writes, every step log line (Powertools, local log file), step outputs and
 * errors, saved execution histories, the alert log, SNS messages, Slack payloads, status reports and
 * every object in the bucket. Any hit fails.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PublishCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { handler as statusHandler } from '../../functions/status/handler.ts';
import { main as backupctl } from '../../tools/cli/main.ts';
import { freePort } from '../../tools/local/postgres-server.ts';
import { type ExecutionRecord, stepLogPath } from '../../tools/local/state-machine-runner.ts';
import { alerts, sns } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { recordReliability } from '../support/reliability-recorder.ts';

const canaries = {
  databasePassword: 'CanaryDbPw-7f3k-Q9z',
  slackWebhook: 'https://hooks.slack.example/services/T0CANARY/B0CANARY/CanaryHook-x81m',
  renderApiKey: 'rnd_CanaryApiKey-4e2p',
};
/** The parts of the webhook URL that are secret on their own. */
const needles = [...Object.values(canaries), 'CanaryHook-x81m', 'T0CANARY/B0CANARY'];

let fixture: PipelineFixture;
const captured: { source: string; text: string }[] = [];
const capture = (source: string, value: unknown) =>
  captured.push({ source, text: typeof value === 'string' ? value : JSON.stringify(value) });

beforeAll(async () => {
  fixture = await startPipelineFixture();
  await fixture.productionSql('DROP ROLE IF EXISTS canary_owner');
  await fixture.productionSql(
    `CREATE ROLE canary_owner LOGIN SUPERUSER PASSWORD '${canaries.databasePassword}'`,
  );
}, 120_000);
afterAll(async () => {
  await fixture?.stop();
  sns.restore();
});

describe('canary secrets', () => {
  it('appear in no log, output, history, alert, report, CLI output or stored object', async () => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
    const productionUrl = new URL(fixture.environment.settings.PRODUCTION_DATABASE_URL ?? '');
    productionUrl.username = 'canary_owner';
    productionUrl.password = canaries.databasePassword;
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: productionUrl.toString(),
      SLACK_WEBHOOK_URL: canaries.slackWebhook,
      RENDER_POSTGRES_ID: 'dpg-canary0000000000000a',
      RENDER_API_KEY: canaries.renderApiKey,
    });

    // Slack and Render answer through a stub; what is sent (not where) is scanned.
    const realFetch = globalThis.fetch;
    const slackPayloads: string[] = [];
    globalThis.fetch = (async (url: string | URL | Request, init?: RequestInit) => {
      const target = String(url);
      capture('outgoing request body', String(init?.body ?? ''));
      if (target === canaries.slackWebhook) {
        slackPayloads.push(String(init?.body ?? ''));
        return new Response('ok', { status: 200 });
      }
      // Render's API is down: the failure must be reported without the key it was called with.
      return new Response(`upstream error for ${canaries.renderApiKey}`, { status: 503 });
    }) as typeof fetch;
    // Everything written to the console or the process streams while the pipeline runs.
    const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
    const consoleMethods = ['log', 'error', 'warn', 'info', 'debug'] as const;
    const savedConsole = consoleMethods.map((name) => console[name]);
    for (const name of consoleMethods)
      console[name] = (...args: unknown[]) => capture(`console.${name}`, args.map(String).join(' '));
    process.stdout.write = ((chunk: unknown) => (
      capture('stdout', String(chunk)), true
    )) as typeof process.stdout.write;
    process.stderr.write = ((chunk: unknown) => (
      capture('stderr', String(chunk)), true
    )) as typeof process.stderr.write;
    const savedEnv = { ...process.env };

    const executions: ExecutionRecord[] = [];
    const exitCodes: number[] = [];
    try {
      executions.push(await fixture.run(settings));
      const unreachable = `postgresql://canary_owner:${canaries.databasePassword}@127.0.0.1:${await freePort()}/staging`;
      executions.push(
        await fixture.run({
          ...settings,
          ...(await fixture.stagingSettings()),
          STAGING_DATABASE_URL: unreachable,
        }),
      );

      Object.assign(process.env, settings);
      capture('status function result', await statusHandler({}, {} as never));
      process.env = { ...savedEnv };
      Object.assign(process.env, {
        BACKUP_LOCAL_STATE_DIR: fixture.stateDir,
        BACKUP_BUCKET: settings.BACKUP_BUCKET,
        AWS_ENDPOINT_URL_S3: settings.AWS_ENDPOINT_URL_S3,
        DATABASE_URL: productionUrl.toString(),
        STAGING_DATABASE_URL: unreachable,
        SLACK_WEBHOOK_URL: canaries.slackWebhook,
        RENDER_API_KEY: canaries.renderApiKey,
      });
      for (const argv of [
        ['list', '--local'],
        ['verify', 'latest', '--local'],
        ['status', '--local', '--json'],
        ['audit', '--local'],
        ['restore', 'latest', '--local', '--target-url', unreachable],
      ]) {
        exitCodes.push(await backupctl(argv));
      }
    } finally {
      process.env = savedEnv;
      globalThis.fetch = realFetch;
      process.stdout.write = writes.stdout;
      process.stderr.write = writes.stderr;
      consoleMethods.forEach((name, i) => {
        console[name] = savedConsole[i] as (typeof console)[typeof name];
      });
    }

    // The runs did what they should, so the scan covers real success and failure paths.
    expect(executions.map((e) => e.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(executions[1]?.error?.name).toBe('DatabaseUnreachableError');
    expect(slackPayloads.length).toBeGreaterThanOrEqual(1);
    expect(exitCodes.slice(0, 2)).toEqual([0, 0]);
    expect(exitCodes[4]).not.toBe(0);

    for (const execution of executions) capture('execution record (outputs, errors)', execution);
    const historyDir = join(fixture.stateDir, 'executions');
    for (const name of await readdir(historyDir))
      capture(`history ${name}`, await readFile(join(historyDir, name), 'utf8'));
    capture('alerts.log', await readFile(join(fixture.stateDir, 'alerts.log'), 'utf8').catch(() => ''));
    const stepLog = (await readFile(stepLogPath(fixture.stateDir), 'utf8')).trim().split('\n');
    for (const line of stepLog) capture('step log line', line);
    // Both runs logged each step's start and end, the failure with its error name.
    const logged = stepLog.map((line) => JSON.parse(line) as { message: string; errorName?: string });
    expect(logged.filter((line) => line.message === 'step succeeded').length).toBeGreaterThanOrEqual(6);
    expect(logged.map((line) => line.errorName)).toContain('DatabaseUnreachableError');
    capture('SNS messages', alerts());
    const objects = await store.list('');
    expect(objects.map((o) => o.key)).toEqual(
      expect.arrayContaining([expect.stringMatching(/manifest\.json$/), 'status/status.json']),
    );
    for (const object of objects) {
      const body = Buffer.concat(await (await store.getStream(object.key)).toArray());
      // Dumps are binary; a password would still show as its bytes.
      capture(`s3://${object.key}`, `${object.key}\n${body.toString('latin1')}`);
    }

    const hits = captured.flatMap(({ source, text }) =>
      needles.filter((needle) => text.includes(needle)).map((needle) => `${source}: ${needle}`),
    );
    expect(hits).toEqual([]);
    // Something was captured from each kind of place, so an empty scan cannot pass vacuously.
    const sources = new Set(captured.map((c) => c.source.split(/[ :]/)[0] ?? c.source));
    expect(
      captured.filter((c) => c.source.startsWith('console') || c.source === 'stdout').length,
    ).toBeGreaterThan(0);
    recordReliability({
      area: 'secrets',
      fault: 'canary DB password, Slack webhook URL, Render API key planted',
      expectedError: 'no canary anywhere',
      observed: `0 hits in ${captured.length} captured texts (${objects.length} objects)`,
      invariants: [...sources].sort().map((source) => `scanned: ${source}`),
    });
  });
});
