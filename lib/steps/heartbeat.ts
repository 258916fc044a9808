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
import type { StepContext } from '../lambda/handler.ts';
import { type HeartbeatSignal, pingHeartbeat } from '../notify/publish.ts';
import { parseInput } from './input.ts';

const heartbeatEventSchema = z.strictObject({
  /** Conclude's verdict on the night (lib/steps/conclude.ts): the failed databases, globals included. */
  conclusion: z.looseObject({ failed: z.number().int().min(0) }).optional(),
  /** The nightly state that failed before there was a conclusion. */
  failedState: z.string().optional(),
  /** The nightly execution ($$.Execution.Id), for the log lines. */
  executionId: z.string().optional(),
});

/** The night's signal: success needs a conclusion with nothing failed. */
export function nightSignal(event: z.infer<typeof heartbeatEventSchema>): HeartbeatSignal {
  return event.conclusion?.failed === 0 && event.failedState === undefined ? 'success' : 'fail';
}

export async function heartbeatStep(event: unknown, { runtime, logger }: StepContext) {
  const night = parseInput(heartbeatEventSchema, event, 'Heartbeat step event');
  const signal = nightSignal(night);
  const heartbeat = await pingHeartbeat(await runtime.heartbeatUrl(), signal);
  if (heartbeat.startsWith('failed')) logger.warn('heartbeat not delivered', { heartbeat, signal });
  return { signal, heartbeat };
}
