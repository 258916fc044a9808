import { formatDuration } from '../drill/evidence.ts';
import { drillNotifyEventSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { publish } from '../notify/publish.ts';
import { parseInput } from './input.ts';

export async function drillNotifyStep(event: unknown, { runtime }: StepContext) {
  const { backupId, evidence, target } = parseInput(drillNotifyEventSchema, event, 'Notify step event');
  // The connection URL's database keeps the subject it always had; another database is named.
  const of = target?.scope ? ` of ${target.database}` : '';
  const sent = await publish(
    {
      subject: `Restore drill passed${of}: ${evidence.drillId}`,
      text: [
        `Restore drill ${evidence.drillId} passed with backup ${backupId}${of}.`,
        `Observed RPO (backup age): ${evidence.observedRpoHours} h`,
        `Observed RTO (checksum + server start + download + restore + verification): ${formatDuration(evidence.observedRtoSeconds)}, target ${evidence.targetRtoHours} h`,
        `Evidence: ${evidence.evidenceKey}`,
      ].join('\n'),
    },
    await runtime.channels('summary'),
  );
  return { drillId: evidence.drillId, notified: sent };
}
