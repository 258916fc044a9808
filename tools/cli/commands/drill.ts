/** `backupctl drill [id|latest]`: a restore drill, locally or started and followed on a stage. */
import { drillInputSchema } from '../../../lib/drill/input.ts';
import { parseInput } from '../../../lib/steps/input.ts';
import { runLocalDrill } from '../../local/run-drill.ts';
import {
  type CommandContext,
  checkBackupExists,
  exitCodeForExecution,
  exitCodes,
  failureText,
  localStore,
  sfnFor,
  type Values,
  withLocal,
  withTarget,
} from '../context.ts';
import { localRunOutput } from '../run-output.ts';
import { followOnStage, printState } from '../stage-run.ts';

function drillInput(target: string | undefined, values: Values, trigger: 'cli' | 'manual') {
  return parseInput(
    drillInputSchema,
    {
      trigger,
      backupId: target ?? 'latest',
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
    },
    'drill options',
  );
}

export async function drillCommand({ place, target, values, out, deps }: CommandContext): Promise<number> {
  const verdict = (execution: {
    status: string;
    output?: unknown;
    error?: { name: string; cause: string };
  }) => {
    const evidence = (
      execution.output as { evidence?: { evidenceKey: string; markdownKey: string } } | undefined
    )?.evidence;
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Drill passed. Evidence: ${evidence?.evidenceKey} and ${evidence?.markdownKey}`
        : `Drill FAILED: ${failureText(execution.error)}`,
      execution,
    );
    return exitCodeForExecution(execution);
  };
  if (place.kind === 'stage') {
    const input = drillInput(target, values, 'manual');
    await withTarget(place, deps, ({ runtime }) =>
      checkBackupExists(runtime.store, input.backupId, `backupctl list --stage ${place.settings.stage}`),
    );
    const execution = await followOnStage(place.settings, 'drill', input, {
      api: sfnFor(place.settings, deps),
      deps,
      onState: printState(out, 'drill'),
    });
    return execution === 'interrupted' ? exitCodes.interrupted : verdict(execution);
  }
  const input = drillInput(target, values, 'cli');
  return withLocal({ production: false }, async (environment) => {
    await checkBackupExists(localStore(environment), input.backupId, 'backupctl list');
    return verdict(
      await runLocalDrill(environment, input, {
        ...localRunOutput(out, values, 'drill'),
      }),
    );
  });
}
