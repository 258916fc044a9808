/**
 * Computes the status report and writes it where people and tools look: status/status.json,
 * status/BACKUP_STATUS.md, status/badge.svg and the status page status/index.html in the bucket, plus one EMF metrics line (Powertools
 * Metrics) that the backup-age alarm and the dashboard read. When the database provider's own backups
 * are checked and found wanting, the on-call channels hear about it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { createMetrics, type LineSink } from '../logging.ts';
import type { Message } from '../notify/publish.ts';
import { alertOnProvider } from '../provider/alerts.ts';
import type { ProviderStatus } from '../provider/render.ts';
import type { RenderDrillSummary } from '../provider/render-drill.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import type { PriceTable } from './cost.ts';
import type { ExecutionSummary } from './executions.ts';
import { renderStatusHtml } from './html.ts';
import { renderBadge, renderStatusMarkdown, statusKeys } from './render.ts';
import { buildStageReport, type StatusReport } from './status-report.ts';

export async function writeStatusReport(
  store: BackupStore,
  report: StatusReport,
): Promise<typeof statusKeys> {
  await store.putJson(statusKeys.json, report);
  await store.putObject(statusKeys.markdown, renderStatusMarkdown(report), 'text/markdown; charset=utf-8');
  await store.putObject(statusKeys.badge, renderBadge(report), 'image/svg+xml');
  await store.putObject(statusKeys.html, renderStatusHtml(report), 'text/html; charset=utf-8');
  return statusKeys;
}

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

const metricUnits: Record<string, Unit> = {
  BackupAgeHours: MetricUnit.NoUnit,
  SilenceHours: MetricUnit.NoUnit,
  UndeliveredFailureAlerts: MetricUnit.Count,
  DumpBytes: MetricUnit.Bytes,
  BackupSizeBytes: MetricUnit.Bytes,
  DumpSeconds: MetricUnit.Seconds,
  RestoreSeconds: MetricUnit.Seconds,
  VerificationFailures: MetricUnit.Count,
  ProviderRecoveryAvailable: MetricUnit.Count,
};

/**
 * The report's figures as metrics under the Stage dimension. SilenceHours (what the age alarm watches,
 * lib/report/silence.ts) is absent when no database has any figure yet, so the alarm's "missing data is
 * breaching" fires. BackupSizeBytes is what the dashboard
 * plots; it is the same figure as DumpBytes.
 */
export function emitStatusMetrics(report: StatusReport, stage: string, sink?: LineSink): void {
  const { metrics, publish } = createMetrics(stage, sink);
  const values: Record<string, number> = { ...report.metrics };
  if (report.metrics.DumpBytes !== undefined) values.BackupSizeBytes = report.metrics.DumpBytes;
  for (const [name, value] of Object.entries(values)) {
    metrics.addMetric(name, metricUnits[name] ?? MetricUnit.NoUnit, value);
  }
  publish();
}

export async function publishStatus(
  store: BackupStore,
  options: {
    now: Date;
    rpoHours: number;
    rtoHours: number;
    stage: string;
    executions?: ExecutionSummary[];
    /** AWS list prices for the cost estimate (config/prices.ts, handed in by the caller). */
    prices?: PriceTable;
    /** Render's newest second-line drill, when Render is watched. */
    renderDrill?: RenderDrillSummary | null;
    /** Reads the provider's own backup state, when one is configured. */
    checkProvider?: () => Promise<ProviderStatus>;
    /**
     * Sends an alert (SNS / Slack) on the provider's findings: every run for an unavailable recovery or
     * a failed check, once per start for a short window or a stale export (lib/provider/alerts.ts).
     */
    alert?: (message: Message) => Promise<unknown>;
    /** Where the EMF line goes; stdout (CloudWatch Logs on Lambda) when absent. */
    log?: LineSink;
  },
): Promise<StatusReport> {
  const provider = options.checkProvider ? await options.checkProvider() : undefined;
  const { report, vaults } = await buildStageReport(store, { ...options, ...(provider ? { provider } : {}) });
  // Each database's own report in its vault (status/db=<name>/), the stage-wide one at the top.
  for (const vault of vaults) await writeStatusReport(vault.store, vault.report);
  await writeStatusReport(store, report);
  emitStatusMetrics(report, options.stage, options.log);
  if (provider && options.alert) {
    await alertOnProvider(store, provider, options.stage, options.alert);
  }
  return report;
}
