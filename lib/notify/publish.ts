/**
 * Sends a message to an SNS topic (e-mail subscribers), a Slack incoming webhook and a generic JSON
 * webhook, whichever are configured; and pings a healthchecks.io-style heartbeat. Webhook and heartbeat
 * URLs are secrets: they never appear in errors or logs.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { describeError, NotificationError } from '../errors.ts';

export interface Channels {
  sns?: { client: SNSClient; topicArn: string } | undefined;
  slackWebhookUrl?: string | undefined;
  /** Receives `{ subject, text, ...details }` as JSON. */
  webhookUrl?: string | undefined;
  fetch?: typeof fetch;
}

/** What a failure is about, for receivers that parse rather than read (the generic webhook). */
export interface AlertDetails {
  kind: 'failure' | 'alarm' | 'recovered' | 'notice' | 'summary';
  stage?: string;
  stateMachine?: string;
  execution?: string;
  step?: string;
  error?: string;
  cause?: string;
  alarm?: string;
  /** An alarm's: where the executions behind it are found (it has none of its own). */
  findExecutions?: string;
}

export interface Message {
  subject: string;
  text: string;
  details?: AlertDetails;
}

/** Which channels took a message (step outputs say so: lib/steps/notify.ts, drill-notify.ts). */
export const sentSchema = z.object({ sns: z.boolean(), slack: z.boolean(), webhook: z.boolean() });
export type Sent = z.infer<typeof sentSchema>;

/**
 * SNS refuses a Subject of 100 characters or more, or with line breaks or anything but ASCII; a
 * subject naming a long database name would fail the step that sends it (a drill's subject reaches
 * 100 with a 51-character name). Slack and the webhook get the subject whole.
 */
export function snsSubject(subject: string): string {
  return subject.replace(/[^\x20-\x7e]/g, '?').slice(0, 99);
}

export async function publish(message: Message, channels: Channels): Promise<Sent> {
  const sent = { sns: false, slack: false, webhook: false };
  if (channels.sns) {
    try {
      await channels.sns.client.send(
        new PublishCommand({
          TopicArn: channels.sns.topicArn,
          Subject: snsSubject(message.subject),
          Message: message.text,
        }),
      );
      sent.sns = true;
    } catch (error) {
      throw new NotificationError(`SNS publish failed: ${describeError(error)}`);
    }
  }
  if (channels.slackWebhookUrl) {
    await post(
      'Slack webhook',
      channels.slackWebhookUrl,
      { text: `*${message.subject}*\n${message.text}` },
      channels,
    );
    sent.slack = true;
  }
  if (channels.webhookUrl) {
    await post(
      'alert webhook',
      channels.webhookUrl,
      { subject: message.subject, text: message.text, ...message.details },
      channels,
    );
    sent.webhook = true;
  }
  return sent;
}

async function post(label: string, url: string, body: unknown, channels: Channels): Promise<void> {
  const doFetch = channels.fetch ?? fetch;
  let status: number;
  try {
    const response = await doFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    status = response.status;
  } catch (error) {
    // The error may quote the URL; only its class is reported.
    throw new NotificationError(`${label} request failed (${(error as Error)?.name ?? 'error'})`);
  }
  if (status >= 300) throw new NotificationError(`${label} answered HTTP ${status}`);
}

/**
 * The night's verdict. healthchecks.io's `/start` is not sent: the check is pinged once a night, after
 * all its databases (lib/steps/heartbeat.ts), and a start per database would restart its timer mid-night.
 */
export type HeartbeatSignal = 'success' | 'fail';

/**
 * Pings `<url>` or `<url>/fail` (healthchecks.io's convention). A heartbeat that cannot be reached
 * must never fail a backup: the answer is whether it was delivered, and the caller logs it.
 */
export async function pingHeartbeat(
  url: string | undefined,
  signal: HeartbeatSignal,
  doFetch: typeof fetch = fetch,
): Promise<'sent' | 'not-configured' | `failed: ${string}`> {
  if (!url) return 'not-configured';
  const target = signal === 'success' ? url : `${url.replace(/\/+$/, '')}/${signal}`;
  try {
    const response = await doFetch(target, { method: 'POST', signal: AbortSignal.timeout(5_000) });
    return response.status < 300 ? 'sent' : `failed: HTTP ${response.status}`;
  } catch (error) {
    return `failed: ${(error as Error)?.name ?? 'error'}`;
  }
}
