/**
 * Use case: the backup status report (newest verified backup against the RPO, last failure, last drill
 * against the RTO, trend, the provider's own backups). The status function and `backupctl status` both
 * call this; only the status function alerts and publishes metrics.
 */
import type { LineSink } from '../logging.ts';
import type { Message } from '../notify/publish.ts';
import { providerCheckFor } from '../provider/provider-check.ts';
import { newestRenderDrill } from '../provider/render-drill.ts';
import type { PriceTable } from '../report/cost.ts';
import type { ExecutionSummary } from '../report/executions.ts';
import { publishStatus } from '../report/publish-status.ts';
import { buildStageReport, type StatusReport } from '../report/status-report.ts';
import type { Runtime } from '../runtime.ts';

export interface StatusOptions {
  now: Date;
  executions?: ExecutionSummary[] | undefined;
  /** Write status.json, BACKUP_STATUS.md and badge.svg into the bucket and emit the metrics. */
  write: boolean;
  /** Sends an alert when the provider's own recovery is not available (the status function does). */
  alert?: ((message: Message) => Promise<unknown>) | undefined;
  /** Where the EMF metrics line goes when written; stdout when absent. */
  metricsSink?: LineSink | undefined;
  /** AWS list prices (config/prices.ts, handed in by the caller): without them no cost estimate. */
  prices?: PriceTable | undefined;
}

export async function reportStatus(
  runtime: Pick<Runtime, 'store' | 'settings' | 'renderApiKey'>,
  options: StatusOptions,
): Promise<StatusReport> {
  const checkProvider = providerCheckFor(runtime, options.now);
  // Render's newest second-line drill, read only where Render is watched (its grant goes with it).
  const renderDrill = checkProvider ? await newestRenderDrill(runtime.store) : undefined;
  const common = {
    ...(renderDrill !== undefined ? { renderDrill } : {}),
    now: options.now,
    rpoHours: runtime.settings.RPO_HOURS,
    rtoHours: runtime.settings.RTO_HOURS,
    ...(options.executions ? { executions: options.executions } : {}),
    ...(options.prices ? { prices: options.prices } : {}),
  };
  if (!options.write) {
    const provider = checkProvider ? await checkProvider() : undefined;
    return (await buildStageReport(runtime.store, { ...common, ...(provider ? { provider } : {}) })).report;
  }
  return publishStatus(runtime.store, {
    ...common,
    stage: runtime.settings.STAGE,
    ...(checkProvider ? { checkProvider } : {}),
    ...(options.alert ? { alert: options.alert } : {}),
    ...(options.metricsSink ? { log: options.metricsSink } : {}),
  });
}
