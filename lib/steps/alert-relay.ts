/**
 * The alert relay (subscribed to the alert topic): every failure and alarm the topic carries goes on to
 * Slack and the generic webhook with its step, error name and cause, and the backup-age alarm pings the
 * heartbeat's `/fail`. A delivery that fails throws, so Lambda retries the SNS event and the relay's
 * error alarm tells the e-mail subscribers that Slack is not hearing about failures.
 */
import { z } from 'zod';
import { defineStep } from '../lambda/step.ts';
import { heartbeatHearsFail, relayMessage } from '../notify/alert-relay.ts';
import { pingHeartbeat, publish, sentSchema } from '../notify/publish.ts';

const snsEventSchema = z.object({
  Records: z
    .array(
      z.object({
        Sns: z.object({
          Subject: z.string().nullish(),
          Message: z.string().max(262_144),
        }),
      }),
    )
    .min(1)
    .max(100),
});

/** What became of each message: the channels that took it, and the heartbeat's answer. */
export const relayedSchema = z.object({
  relayed: z.array(sentSchema.extend({ kind: z.string(), heartbeat: z.string() })),
});

export const alertRelayStep = defineStep({
  event: 'SNS event',
  input: snsEventSchema,
  output: relayedSchema,
  run: async ({ Records }, { runtime, logger }) => {
    const channels = await runtime.channels('relay');
    const heartbeatUrl = await runtime.heartbeatUrl();
    const relayed = [];
    for (const { Sns } of Records) {
      const message = relayMessage(Sns.Subject ?? undefined, Sns.Message, runtime.settings.STAGE);
      const sent = await publish(message, channels);
      const heartbeat = heartbeatHearsFail(message)
        ? await pingHeartbeat(heartbeatUrl, 'fail', channels.fetch)
        : 'not-the-age-alarm';
      if (heartbeat.startsWith('failed')) logger.warn('heartbeat not delivered', { heartbeat });
      relayed.push({ kind: message.details?.kind ?? 'notice', ...sent, heartbeat });
    }
    return { relayed };
  },
});
