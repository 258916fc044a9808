/** The drill's summary on the SNS topic (mocked at the SDK client: no local SNS exists). */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { readRuntimeSettings } from '../../../../lib/config.ts';
import { createRuntime } from '../../../../lib/runtime.ts';
import { drillNotifyStep } from '../../../../lib/steps/drill-notify.ts';
import { stepContext } from '../../../support/step-context.ts';

const sns = mockClient(SNSClient);
beforeEach(() => {
  sns.reset();
});
afterAll(() => sns.restore());

const topicArn = 'arn:aws:sns:eu-central-1:123456789012:verified-pg-backups-test-summaries';
const runtime = createRuntime(
  readRuntimeSettings({
    BACKUP_BUCKET: 'backups-test',
    AWS_REGION: 'eu-central-1',
    SUMMARY_TOPIC_ARN: topicArn,
  }),
);

function drillEvent(database: string) {
  return {
    backupId: '20261207T030405Z-a1b2c3',
    target: { database, scope: database },
    evidence: {
      drillId: '20261207T040000Z-d4e5f6',
      evidenceKey: 'drills/2026-Q4/x.json',
      observedRpoHours: 1,
      observedRtoSeconds: 60,
      targetRtoHours: 2,
    },
  };
}

describe('drillNotifyStep', () => {
  it('keeps the SNS subject under the 100 characters SNS accepts, for a 51-character database name', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const database = `shop_${'x'.repeat(46)}`;
    expect(database).toHaveLength(51);

    await drillNotifyStep(drillEvent(database), stepContext(runtime));

    const subject = sns.commandCalls(PublishCommand)[0]?.args[0].input.Subject ?? '';
    expect(subject.length).toBeLessThan(100);
    expect(subject).toMatch(/^Restore drill passed of shop_x+/);
    // The body still names the whole database.
    expect(sns.commandCalls(PublishCommand)[0]?.args[0].input.Message).toContain(database);
  });

  it('sends a short subject unchanged', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });

    await drillNotifyStep(drillEvent('shop'), stepContext(runtime));

    expect(sns.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toBe(
      'Restore drill passed of shop: 20261207T040000Z-d4e5f6',
    );
  });
});
