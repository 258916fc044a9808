import { describe, expect, it } from '@jest/globals';
import { readRuntimeSettings } from '../../../lib/config.ts';
import { ConfigurationError } from '../../../lib/errors.ts';

const base = { BACKUP_BUCKET: 'backups-test' };

function errorFor(env: Record<string, string>): ConfigurationError {
  try {
    readRuntimeSettings({ ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error('expected a ConfigurationError');
}

describe('runtime settings for the alert channels', () => {
  it('accepts an SNS topic ARN and an https webhook', () => {
    const settings = readRuntimeSettings({
      ...base,
      ALERT_TOPIC_ARN: 'arn:aws:sns:eu-central-1:123456789012:backup-alerts',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.example/services/T000/B000/XXXX',
    });
    expect(settings.ALERT_TOPIC_ARN).toBe('arn:aws:sns:eu-central-1:123456789012:backup-alerts');
  });

  it.each([
    ['ALERT_TOPIC_ARN', 'must be an SNS topic ARN', 'backup-alerts'],
    ['ALERT_TOPIC_ARN', 'must be an SNS topic ARN', 'arn:aws:sqs:eu-central-1:123456789012:q'],
    ['ALERT_TOPIC_ARN', 'is too long', `arn:aws:sns:eu-central-1:123456789012:${'a'.repeat(2000)}`],
    ['SLACK_WEBHOOK_URL', 'must be an https:// URL', 'http://hooks.slack.example/services/CANARY'],
    ['SLACK_WEBHOOK_URL', 'must be an https:// URL', 'https://'],
    ['SLACK_WEBHOOK_URL', 'must be an https:// URL', 'hooks.slack.example/CANARY'],
    ['SLACK_WEBHOOK_URL', 'is too long', `https://hooks.slack.example/${'CANARY'.repeat(400)}`],
  ])('names %s (%s) without echoing the value', (name, message, value) => {
    const error = errorFor({ [name]: value });
    expect(error.message.startsWith(`environment variable ${name} ${message}`)).toBe(true);
    expect(`${error.message}${JSON.stringify(error.details)}`).not.toContain('CANARY');
  });
});

describe("the Render drill's row-count allowance", () => {
  it('defaults to 1 percent per hour and takes 0 to 100', () => {
    expect(readRuntimeSettings(base).RENDER_DRILL_DRIFT_PERCENT_PER_HOUR).toBe(1);
    expect(
      readRuntimeSettings({ ...base, RENDER_DRILL_DRIFT_PERCENT_PER_HOUR: '0' })
        .RENDER_DRILL_DRIFT_PERCENT_PER_HOUR,
    ).toBe(0);
    expect(
      readRuntimeSettings({ ...base, RENDER_DRILL_DRIFT_PERCENT_PER_HOUR: '2.5' })
        .RENDER_DRILL_DRIFT_PERCENT_PER_HOUR,
    ).toBe(2.5);
  });

  it.each([
    ['-1', 'must be 0 or more'],
    ['101', 'must be at most 100'],
    ['lots', 'must be a number'],
  ])('refuses %s as a ConfigurationError naming the setting', (value, message) => {
    const error = errorFor({ RENDER_DRILL_DRIFT_PERCENT_PER_HOUR: value });
    expect(error.message).toContain(`environment variable RENDER_DRILL_DRIFT_PERCENT_PER_HOUR ${message}`);
    expect(error.details).toEqual({ field: 'RENDER_DRILL_DRIFT_PERCENT_PER_HOUR' });
  });
});
