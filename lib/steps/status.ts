/**
 * The status function (hourly, and after every execution of either state machine): rewrite the status
 * report in the bucket and publish the metrics (BackupAgeHours feeds the stale-backup alarm). Whatever
 * triggered it (the hourly schedule or a Step Functions status-change event, which carries no history),
 * it reads the last 30 days of executions of the stage's state machines itself, so a failed night shows
 * as the last failure and counts in VerificationFailures. Without the state machines' ARNs (local runs)
 * the caller may pass the executions; otherwise the report says its success rate came from the bucket. With a Render database configured it also checks Render's own recovery and alerts when it
 * is down.
 */
import { z } from 'zod';
import { reportStatus } from '../commands/status.ts';
import { defineStep } from '../lambda/step.ts';
import { publish } from '../notify/publish.ts';
import { executionSummarySchema } from '../report/executions.ts';

const statusEventSchema = z.object({ executions: z.array(executionSummarySchema).max(1000).optional() });

export const statusOutputSchema = z.object({
  /** The stage's state (lib/report/status-report.ts OverallState). */
  state: z.string(),
  summary: z.string(),
  withinRpo: z.boolean(),
  /** With Render watched: whether its own recovery line is fine. */
  providerOk: z.boolean().optional(),
});

const dayMs = 86_400_000;

export const statusStep = defineStep({
  event: 'status event',
  // A scheduled or status-change event carries no executions: only a local caller passes them.
  input: z.preprocess((event) => event ?? {}, statusEventSchema),
  output: statusOutputSchema,
  run: async ({ executions: passed }, { runtime, sink }) => {
    const now = runtime.now();
    const executions = (await runtime.executionHistory(new Date(now.getTime() - 30 * dayMs))) ?? passed;
    const report = await reportStatus(runtime, {
      now,
      executions,
      write: true,
      alert: async (message) => publish(message, await runtime.channels('alert')),
      metricsSink: sink,
      prices: runtime.settings.PRICE_TABLE,
    });
    return {
      state: report.state,
      summary: report.summary,
      withinRpo: report.withinRpo,
      ...(report.provider ? { providerOk: report.provider.ok } : {}),
    };
  },
});
