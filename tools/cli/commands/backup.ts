/** `backupctl backup`: run the backup state machine locally, or start and follow it on a stage. */
import { executionInputSchema, parseInput } from '../../../lib/steps/input.ts';
import { runLocalBackup } from '../../local/run-backup.ts';
import {
  type CommandContext,
  exitCodeForExecution,
  exitCodes,
  failureText,
  sfnFor,
  type Values,
  withLocal,
} from '../context.ts';
import { localRunOutput } from '../run-output.ts';
import { followOnStage, printState } from '../stage-run.ts';

function backupInput(values: Values, trigger: 'cli' | 'manual') {
  return parseInput(
    executionInputSchema,
    {
      trigger,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      ...(values.compression !== undefined ? { compression: values.compression } : {}),
    },
    'backup options',
  );
}

export async function backupCommand({ place, values, out, deps }: CommandContext): Promise<number> {
  if (place.kind === 'stage') {
    const input = backupInput(values, 'manual');
    const execution = await followOnStage(place.settings, 'backup', input, {
      api: sfnFor(place.settings, deps),
      deps,
      onState: printState(out, 'backup'),
    });
    if (execution === 'interrupted') return exitCodes.interrupted;
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Backup ${(execution.output as { dump?: { backupId?: string } } | undefined)?.dump?.backupId} verified.`
        : `Backup ${execution.status}: ${failureText(execution.error)}`,
      execution,
    );
    return exitCodeForExecution(execution);
  }
  const input = backupInput(values, 'cli');
  return withLocal({}, async (environment) => {
    const execution = await runLocalBackup(environment, input, {
      ...localRunOutput(out, values, 'backup'),
    });
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Backup ${(execution.output as { dump: { backupId: string } }).dump.backupId} verified.`
        : `Backup failed: ${failureText(execution.error)}`,
      execution,
    );
    return exitCodeForExecution(execution);
  });
}
