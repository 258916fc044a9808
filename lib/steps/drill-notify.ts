/** The drill's Notify state: the summary of a passed drill, from RecordEvidence's output. */
import { z } from 'zod';
import { formatDuration } from '../drill/evidence.ts';
import { drillNotifyEventSchema } from '../drill/input.ts';
import { defineStep } from '../lambda/step.ts';
import { publish, sentSchema } from '../notify/publish.ts';

export const drillNotifiedSchema = z.object({ drillId: z.string(), notified: sentSchema });

export const drillNotifyStep = defineStep({
  event: 'Notify step event',
  input: drillNotifyEventSchema,
  output: drillNotifiedSchema,
  run: async ({ backupId, evidence, target }, { runtime }) => {
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
  },
});
