/**
 * Computes the status report and writes it where people and tools look: status/status.json,
 * status/BACKUP_STATUS.md and status/badge.svg in the bucket, plus one EMF metrics line.
 */
import type { BackupStore } from '../storage/backup-store.ts';
import type { ExecutionSummary } from './executions.ts';
import { metricsLogLine, renderBadge, renderStatusMarkdown, statusKeys } from './render.ts';
import { buildStatusReport, type StatusReport } from './status-report.ts';

export async function writeStatusReport(
  store: BackupStore,
  report: StatusReport,
): Promise<typeof statusKeys> {
  await store.putJson(statusKeys.json, report);
  await store.putObject(statusKeys.markdown, renderStatusMarkdown(report), 'text/markdown; charset=utf-8');
  await store.putObject(statusKeys.badge, renderBadge(report), 'image/svg+xml');
  return statusKeys;
}

export async function publishStatus(
  store: BackupStore,
  options: {
    now: Date;
    rpoHours: number;
    rtoHours: number;
    stage: string;
    executions?: ExecutionSummary[];
    log?: (line: string) => void;
  },
): Promise<StatusReport> {
  const report = await buildStatusReport(store, options);
  await writeStatusReport(store, report);
  (options.log ?? console.log)(metricsLogLine(report, options.stage));
  return report;
}
