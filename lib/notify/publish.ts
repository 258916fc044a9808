/**
 * Sends a message to the SNS topic (e-mail subscribers) and, if configured, to a Slack incoming
 * webhook. The webhook URL is a secret: it never appears in errors or logs.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { describeError, NotificationError } from '../errors.ts';

export interface Channels {
  sns?: { client: SNSClient; topicArn: string } | undefined;
  slackWebhookUrl?: string | undefined;
  fetch?: typeof fetch;
}

export interface Message {
  subject: string;
  text: string;
}

export async function publish(
  message: Message,
  channels: Channels,
): Promise<{ sns: boolean; slack: boolean }> {
  const sent = { sns: false, slack: false };
  if (channels.sns) {
    try {
      await channels.sns.client.send(
        new PublishCommand({
          TopicArn: channels.sns.topicArn,
          Subject: message.subject,
          Message: message.text,
        }),
      );
      sent.sns = true;
    } catch (error) {
      throw new NotificationError(`SNS publish failed: ${describeError(error)}`);
    }
  }
  if (channels.slackWebhookUrl) {
    const doFetch = channels.fetch ?? fetch;
    let status: number;
    try {
      const response = await doFetch(channels.slackWebhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `*${message.subject}*\n${message.text}` }),
        signal: AbortSignal.timeout(10_000),
      });
      status = response.status;
    } catch (error) {
      // The error may quote the URL; only its class is reported.
      throw new NotificationError(`Slack webhook request failed (${(error as Error)?.name ?? 'error'})`);
    }
    if (status >= 300) throw new NotificationError(`Slack webhook answered HTTP ${status}`);
    sent.slack = true;
  }
  return sent;
}
