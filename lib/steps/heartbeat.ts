/**
 * The nightly run's Heartbeat states: one ping of the healthchecks.io-style check per night, for the
 * whole stage. After Conclude it is `success` only when every database verified and the roles were
 * captured, `fail` otherwise; after the night's own failure (no list of databases, no conclusion) it is
 * `fail`. The backup machine pings nothing: with several databases each execution's ping would make
 * the check's state the last database's, and an on-demand backup of one database says nothing about
 * the schedule the check watches. A check that cannot be reached never fails the night: the answer is
 * logged and returned.
 */
import { z } from 'zod';
import { defineStep } from '../lambda/step.ts';
import { type HeartbeatSignal, pingHeartbeat } from '../notify/publish.ts';
import { conclusionSchema } from './conclude.ts';

const heartbeatEventSchema = z.strictObject({
  /** Conclude's verdict on the night (lib/steps/conclude.ts): the failed databases, globals included. */
  conclusion: conclusionSchema.pick({ failed: true }).loose().optional(),
  /** The nightly state that failed before there was a conclusion. */
  failedState: z.string().optional(),
  /** The nightly execution ($$.Execution.Id), for the log lines. */
  executionId: z.string().optional(),
});

export const heartbeatOutputSchema = z.object({
  signal: z.enum(['success', 'fail']),
  heartbeat: z.string(),
});

/** The night's signal: success needs a conclusion with nothing failed. */
export function nightSignal(event: z.infer<typeof heartbeatEventSchema>): HeartbeatSignal {
  return event.conclusion?.failed === 0 && event.failedState === undefined ? 'success' : 'fail';
}

export const heartbeatStep = defineStep({
  event: 'Heartbeat step event',
  input: heartbeatEventSchema,
  output: heartbeatOutputSchema,
  run: async (night, { runtime, logger }) => {
    const signal = nightSignal(night);
    const heartbeat = await pingHeartbeat(await runtime.heartbeatUrl(), signal);
    if (heartbeat.startsWith('failed')) logger.warn('heartbeat not delivered', { heartbeat, signal });
    return { signal, heartbeat };
  },
});
