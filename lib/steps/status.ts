/**
 * The status function (hourly, and after every execution of either state machine): rewrite the status
 * report in the bucket and publish the metrics (BackupAgeHours feeds the stale-backup alarm). The caller
 * may pass recent executions; a scheduled event carries none and the report says where its success rate
 * came from. With a Render database configured it also checks Render's own recovery and alerts when it
 * is down.
 */
import { z } from 'zod';
import { reportStatus } from '../commands/status.ts';
import type { StepContext } from '../lambda/handler.ts';
import { publish } from '../notify/publish.ts';
import { executionSummarySchema } from '../report/executions.ts';
import { parseInput } from './input.ts';

const statusEventSchema = z.object({ executions: z.array(executionSummarySchema).max(1000).optional() });

export async function statusStep(event: unknown, { runtime, sink }: StepContext) {
  const { executions } = parseInput(statusEventSchema, event ?? {}, 'status event');
  const report = await reportStatus(runtime, {
    now: new Date(),
    executions,
    write: true,
    alert: async (message) => publish(message, await runtime.channels()),
    metricsSink: sink,
  });
  return {
    state: report.state,
    summary: report.summary,
    withinRpo: report.withinRpo,
    ...(report.provider ? { providerOk: report.provider.ok } : {}),
  };
}
