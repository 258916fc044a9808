/**
 * Where messages go, end to end: the backup state machine run locally with the real handlers, the
 * alert topic's subscription served by the real alert relay, and Slack, the generic webhook and the
 * heartbeat played by a real HTTPS server. SNS itself is mocked at the client (no local server).
 *
 * A failure reaches the alert topic first (native publish: e-mail needs none of our code), then Slack
 * and the webhook with its step, error name and cause. A verified night goes to the summary topic and
 * Slack, never the alert topic and never the webhook. A backup execution pings no heartbeat: the
 * nightly run does, once a night (test/integration/nightly-heartbeat.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { handler as relayHandler } from '../../functions/alert-relay/handler.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { DatabaseAuthError } from '../../lib/errors.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { type HttpsReceiver, startHttpsReceiver } from '../support/https-receiver.ts';
import { alerts, answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import {
  alertTopicArn,
  type PipelineFixture,
  startPipelineFixture,
  summaryTopicArn,
} from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let receiver: HttpsReceiver;
let channels: Record<string, string>;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  receiver = await startHttpsReceiver();
  channels = {
    SLACK_WEBHOOK_URL: receiver.url('/services/T000/B000/CANARYslack'),
    ALERT_WEBHOOK_URL: receiver.url('/hooks/CANARYhook'),
    HEARTBEAT_URL: receiver.url('/ping/CANARYping'),
  };
}, 120_000);

afterAll(async () => {
  await receiver?.stop();
  await fixture?.stop();
});

beforeEach(() => {
  receiver.requests.length = 0;
  receiver.status = 200;
});

const received = (prefix: string) => receiver.requests.filter((r) => r.path.startsWith(prefix));

describe('a failed night', () => {
  it('reaches e-mail through the alert topic, then Slack and the webhook with step, error and cause, not the heartbeat', async () => {
    const { settings } = await fixture.freshBucket(channels);
    const execution = await fixture.run(settings, {
      wrap: {
        Dump: async () => {
          throw new DatabaseAuthError('password authentication failed for user "backup"');
        },
      },
    });
    expect(execution.status).toBe('FAILED');

    expect(alerts().map((a) => [a.topic, a.subject])).toEqual([
      [alertTopicArn, 'Backup FAILED - not verified'],
    ]);
    const [slack, ...moreSlack] = received('/services/');
    expect(moreSlack).toEqual([]);
    const slackText = JSON.parse(slack?.body ?? '{}').text as string;
    expect(slackText).toContain('FAILED - not verified: DatabaseAuthError in Dump');
    expect(slackText).toContain('Step: Dump');
    expect(slackText).toContain('Cause: password authentication failed for user "backup"');

    const [hook] = received('/hooks/');
    expect(JSON.parse(hook?.body ?? '{}')).toMatchObject({
      kind: 'failure',
      stateMachine: 'backup',
      step: 'Dump',
      error: 'DatabaseAuthError',
      cause: 'password authentication failed for user "backup"',
      execution: expect.stringContaining(':execution:'),
    });
    // One database's execution is not the night: the nightly run's Heartbeat state pings /fail.
    expect(received('/ping/')).toEqual([]);
    // The secret URLs travel nowhere: not in the execution record, the alerts or the relayed texts.
    const written = JSON.stringify([execution, alerts(), receiver.requests.map((r) => r.body)]);
    expect(written).not.toMatch(/CANARY/);
  });
});

describe('a verified night', () => {
  it('goes to the summary topic and Slack, not to the alert topic, the webhook or the heartbeat', async () => {
    const { settings } = await fixture.freshBucket(channels);
    const execution = await fixture.run(settings);
    expect(execution.status).toBe('SUCCEEDED');

    expect(alerts().map((a) => a.topic)).toEqual([summaryTopicArn]);
    const slack = received('/services/');
    expect(slack).toHaveLength(1);
    expect(JSON.parse(slack[0]?.body ?? '{}').text).toMatch(/^\*Backup verified: /);
    expect(received('/hooks/')).toEqual([]);
    expect(received('/ping/')).toEqual([]);
  });
});

describe('the alert relay', () => {
  const relay = (overrides: Record<string, string> = {}) =>
    relayHandler.withDependencies({
      runtime: () =>
        createRuntime(
          readRuntimeSettings({ BACKUP_BUCKET: 'unused-bucket', STAGE: 'prod', ...channels, ...overrides }),
        ),
      sink: () => undefined,
    });
  const alarm = (state: string) => ({
    Records: [
      {
        Sns: {
          Subject: `ALARM: "verified-pg-backups-prod-backup-age-above-rpo" in EU (Frankfurt)`,
          Message: JSON.stringify({
            AlarmName: 'verified-pg-backups-prod-backup-age-above-rpo',
            AlarmDescription: 'No verified backup for 26 h.',
            NewStateValue: state,
            NewStateReason: 'Threshold Crossed: 1 datapoint [26.4] was greater than the threshold (26.0).',
          }),
        },
      },
    ],
  });

  it('relays a CloudWatch alarm with its reason, and pings /fail for the backup-age alarm only when it fires', async () => {
    await relay()(alarm('ALARM'), {} as never);
    const slackText = JSON.parse(received('/services/')[0]?.body ?? '{}').text as string;
    expect(slackText).toContain('[prod] ALARM: verified-pg-backups-prod-backup-age-above-rpo');
    expect(slackText).toContain('greater than the threshold (26.0)');
    expect(JSON.parse(received('/hooks/')[0]?.body ?? '{}')).toMatchObject({
      kind: 'alarm',
      stage: 'prod',
      alarm: 'verified-pg-backups-prod-backup-age-above-rpo',
    });
    expect(received('/ping/').map((r) => r.path)).toEqual(['/ping/CANARYping/fail']);

    receiver.requests.length = 0;
    await relay()(alarm('OK'), {} as never);
    expect(JSON.parse(received('/services/')[0]?.body ?? '{}').text).toContain('[prod] OK: ');
    expect(received('/ping/')).toEqual([]);
  });

  it('fails with NotificationError, without the URL, when Slack refuses: Lambda retries and the relay alarm fires', async () => {
    receiver.status = 500;
    const failure = relay()(alarm('ALARM'), {} as never);
    await expect(failure).rejects.toMatchObject({ name: 'NotificationError' });
    await expect(failure).rejects.toThrow('Slack webhook answered HTTP 500');
    await expect(failure).rejects.not.toThrow(/CANARY/);
  });

  it('refuses an event that is not an SNS delivery, naming the field', async () => {
    await expect(relay()({ detail: {} }, {} as never)).rejects.toMatchObject({
      name: 'InputValidationError',
      message: expect.stringContaining('"Records"'),
    });
  });
});
