/** `backupctl audit [--since 30d]`: every execution of both state machines, from their history. */
import { resolve } from 'node:path';
import { readStageExecutions } from '../../../lib/aws/executions.ts';
import { auditEntries, parseSince, renderAudit } from '../../../lib/report/audit.ts';
import { type ExecutionSummary, readLocalExecutions } from '../../../lib/report/executions.ts';
import { DeployedStage } from '../../aws/stage.ts';
import { defaultStateDir } from '../../local/environment.ts';
import { isProcessAlive } from '../../local/process-identity.ts';
import { type CommandContext, callOptions, exitCodes, sfnFor } from '../context.ts';

export async function auditCommand({ place, values, out, deps }: CommandContext): Promise<number> {
  const since = new Date(Date.now() - parseSince(typeof values.since === 'string' ? values.since : '30d'));
  let executions: ExecutionSummary[];
  if (place.kind === 'stage') {
    const api = sfnFor(place.settings, deps);
    const stage = new DeployedStage(place.settings, api, callOptions(deps));
    executions = await readStageExecutions(api, await stage.stateMachineArns(), since, callOptions(deps));
  } else {
    executions = await readLocalExecutions(resolve(process.env.BACKUP_LOCAL_STATE_DIR ?? defaultStateDir), {
      isAlive: isProcessAlive,
    });
  }
  const entries = auditEntries(executions, since);
  out.print(renderAudit(entries), entries);
  return exitCodes.ok;
}
