/**
 * The quarterly drills' RenderDrill state, on the worker: Render's newest export restored on a scratch
 * server and compared with our nearest verified backup (lib/commands/render-drill.ts). The record is
 * written either way; a failed drill then fails the step with ProviderDrillFailedError naming the
 * record, so the state machine alerts like any drill failure. Our own line's verdict is not touched.
 */
import { z } from 'zod';
import { runRenderDrill } from '../commands/render-drill.ts';
import { ProviderDrillFailedError } from '../errors.ts';
import { defineStep } from '../lambda/step.ts';
import { renderDrillKey } from '../provider/render-drill.ts';
import { executionIdField } from './input.ts';

export const renderDrillEventSchema = z.strictObject({ executionId: executionIdField });

/** A passed Render drill, as its record says it (the record itself is under provider/render/drills/). */
export const renderDrillOutputSchema = z.object({
  drillId: z.string(),
  recordKey: z.string(),
  passed: z.boolean(),
  exportId: z.string().nullable(),
  exportAgeHours: z.number().nullable(),
  comparedWith: z.string().nullable(),
  tablesCompared: z.number(),
  rtoSeconds: z.number().nullable(),
  serverVersion: z.string().nullable(),
});

export const renderDrillStep = defineStep({
  event: 'RenderDrill step event',
  input: renderDrillEventSchema,
  output: renderDrillOutputSchema,
  run: async (_event, { runtime, signal }) => {
    const record = await runRenderDrill(runtime, { signal });
    const recordKey = renderDrillKey(record.drillId);
    if (!record.passed) {
      throw new ProviderDrillFailedError(`${record.problem} (record: ${recordKey})`);
    }
    return {
      drillId: record.drillId,
      recordKey,
      passed: record.passed,
      exportId: record.export?.id ?? null,
      exportAgeHours: record.exportAgeHours,
      comparedWith: record.comparedWith?.backupId ?? null,
      tablesCompared: record.tables?.compared ?? 0,
      rtoSeconds: record.rtoSeconds,
      serverVersion: record.serverVersion,
    };
  },
});
