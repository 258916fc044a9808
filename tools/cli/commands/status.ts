/**
 * `backupctl status [--write]`: the status report (RPO, last failure, last drill, trend); --write puts
 * status.json, BACKUP_STATUS.md and badge.svg into the bucket. The CLI shows a provider problem in the
 * summary; alerting is the status function's job.
 */
import { reportStatus } from '../../../lib/commands/status.ts';
import { statusKeys } from '../../../lib/report/render.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';

export async function statusCommand({ place, values, out, deps }: CommandContext): Promise<number> {
  return withTarget(place, deps, async ({ runtime, executions }) => {
    const now = new Date();
    const report = await reportStatus(runtime, {
      now,
      executions: await executions(new Date(now.getTime() - 30 * 86_400_000)),
      write: values.write === true,
      metricsSink: () => undefined,
    });
    const written = values.write
      ? `\nWritten: ${statusKeys.json}, ${statusKeys.markdown}, ${statusKeys.badge}`
      : '';
    out.print(`${report.summary}${written}`, report);
    return report.withinRpo ? exitCodes.ok : exitCodes.failed;
  });
}
