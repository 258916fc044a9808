/**
 * The status function: after every execution and on its own schedule, rewrite the status report in
 * the bucket and publish the metrics (BackupAgeHours feeds the stale-backup alarm). The caller may pass
 * recent executions; a scheduled event carries none and the report says where its success rate came from.
 * With a Render database configured it also checks Render's own recovery and alerts when it is down.
 */
import middy from '@middy/core';
import { z } from 'zod';
import { publish } from '../../lib/notify/publish.ts';
import { providerCheckFor } from '../../lib/provider/provider-check.ts';
import { executionSummarySchema } from '../../lib/report/executions.ts';
import { publishStatus } from '../../lib/report/publish-status.ts';
import { getRuntime } from '../../lib/runtime.ts';
import { parseInput } from '../../lib/steps/input.ts';

const statusEventSchema = z.object({ executions: z.array(executionSummarySchema).max(1000).optional() });

export const handler = middy().handler(async (event: unknown) => {
  const { executions } = parseInput(statusEventSchema, event ?? {}, 'status event');
  const runtime = getRuntime();
  const now = new Date();
  const checkProvider = providerCheckFor(runtime, now);
  const report = await publishStatus(runtime.store, {
    now,
    rpoHours: runtime.settings.RPO_HOURS,
    rtoHours: runtime.settings.RTO_HOURS,
    stage: runtime.settings.STAGE,
    ...(executions ? { executions } : {}),
    ...(checkProvider ? { checkProvider } : {}),
    alert: async (message) => publish(message, await runtime.channels()),
  });
  return {
    state: report.state,
    summary: report.summary,
    withinRpo: report.withinRpo,
    ...(report.provider ? { providerOk: report.provider.ok } : {}),
  };
});
