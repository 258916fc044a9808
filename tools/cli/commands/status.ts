/**
 * `backupctl status [--write]`: the status report (RPO, last failure, last drill, trend); --write puts
 * status.json, BACKUP_STATUS.md and badge.svg into the bucket. The CLI shows a provider problem in the
 * summary; alerting is the status function's job.
 */
import { reportStatus } from '../../../lib/commands/status.ts';
import { formatDuration } from '../../../lib/drill/evidence.ts';
import { formatBytes } from '../../../lib/notify/messages.ts';
import { statusKeys } from '../../../lib/report/render.ts';
import type { StatusReport } from '../../../lib/report/status-report.ts';
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
    out.print(`${statusLines(report, now).join('\n')}${written}`, report);
    return report.withinRpo ? exitCodes.ok : exitCodes.failed;
  });
}

const ago = (at: string, now: Date) => {
  const hours = (now.getTime() - Date.parse(at)) / 3_600_000;
  return hours < 48 ? `${hours.toFixed(1)} h ago` : `${(hours / 24).toFixed(0)} days ago`;
};

/** The report's facts in a few lines a person reads at 3 a.m.: the verdict first. */
export function statusLines(report: StatusReport, now: Date): string[] {
  const { newestVerified: newest, lastFailure: failure, lastDrill: drill, successRate30d: runs } = report;
  const sizes = report.sizeTrend;
  return [
    report.summary,
    ...(newest
      ? [
          `  proof         ${newest.proof === 'checksums' ? 'row counts and content checksums' : 'row counts only'}`,
        ]
      : []),
    `  last failure  ${failure ? `${failure.stateMachine} ${failure.error}, ${ago(failure.at, now)}: ${failure.cause.slice(0, 160)}` : 'none in 30 days'}`,
    `  last drill    ${drill ? `${drill.drillId} ${drill.passed ? 'PASSED' : 'FAILED'}, RTO ${formatDuration(drill.observedRtoSeconds)} (target ${drill.targetRtoHours} h), ${ago(drill.at, now)}` : 'none yet: run `backupctl drill`'}`,
    `  30 days       ${runs.runs} run(s), ${runs.succeeded} ${runs.source === 'executions' ? 'succeeded' : 'verified'}${
      sizes.length > 0
        ? `; dump ${formatBytes(sizes[0]?.bytes ?? 0)} → ${formatBytes(sizes.at(-1)?.bytes ?? 0)}, growth ${formatBytes(Math.abs(report.growthBytesPerDay))}/day${report.growthBytesPerDay < 0 ? ' (shrinking)' : ''}`
        : ''
    }`,
    ...(report.estimatedMonthlyCost
      ? [
          `  cost          about $${report.estimatedMonthlyCost.totalUsd.toFixed(2)} a month on AWS at list prices (config/prices.ts; no NAT gateway)`,
        ]
      : []),
  ];
}
