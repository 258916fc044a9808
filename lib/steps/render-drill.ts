/**
 * The quarterly drills' RenderDrill state, on the worker: Render's newest export restored on a scratch
 * server and compared with our nearest verified backup (lib/commands/render-drill.ts). The record is
 * written either way; a failed drill then fails the step with ProviderDrillFailedError naming the
 * record, so the state machine alerts like any drill failure. Our own line's verdict is not touched.
 */
import { z } from 'zod';
import { runRenderDrill } from '../commands/render-drill.ts';
import { ProviderDrillFailedError } from '../errors.ts';
import type { StepContext } from '../lambda/handler.ts';
import { renderDrillKey } from '../provider/render-drill.ts';
import { executionIdField, parseInput } from './input.ts';

export const renderDrillEventSchema = z.strictObject({ executionId: executionIdField });

export async function renderDrillStep(event: unknown, { runtime, signal }: StepContext) {
  parseInput(renderDrillEventSchema, event, 'RenderDrill step event');
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
}
