/**
 * What the stage's pages are built on (tools/deploy/resources/monitoring.yml, BACKUP_RUNBOOK.md
 * "Alarms"). A failed night already pages once, through its execution's NotifyFailure state, naming
 * the database, the step and the cause. The alarms exist for what that alert cannot say:
 *
 * - SilenceHours: hours since the stage last told anyone anything about a database, taking the
 *   stalest: the later of its newest verified backup (or, awaiting its first, its first backup:
 *   lib/backup/catalog.ts, vaultFreshness) and its newest delivered failure alert. A failed night
 *   resets it (people were told, with the cause); a night that never ran, or whose alert did not get
 *   out, does not. The age alarm watches this figure, not BackupAgeHours, so it pages for silence and
 *   not a second time for a failure already announced. BackupAgeHours stays the age of the newest
 *   verified backup (status, dashboard, status page), red until the next good night.
 * - UndeliveredFailureAlerts: failed backup and drill executions of the last 24 h whose NotifyFailure
 *   state did not succeed (SNS refused it after its retries): the only failures nobody was told about.
 *
 * Both are read from the executions' own history (Step Functions, or the local runner's records), the
 * one place that knows whether the alert was published; nothing extra is written to the bucket.
 */

import type { ExecutionSummary } from './executions.ts';
import type { DatabaseStatus } from './status-report.ts';

const hourMs = 3_600_000;

/** The machines whose failures alert from a NotifyFailure state of their own, per database. */
const alertingMachines = new Set(['backup', 'drill']);

/**
 * When the execution's failure alert was published, or undefined when it was not: its end, as the
 * NotifyFailure state leads straight to the Fail state (seconds earlier). The execution's times are
 * the ones both Step Functions and the local runner (on its injected clock) keep for the run.
 */
export function failureAlertDeliveredAt(execution: ExecutionSummary): number | undefined {
  const published = execution.states.some((s) => s.name === 'NotifyFailure' && s.status === 'succeeded');
  return published ? Date.parse(execution.stoppedAt ?? execution.startedAt) : undefined;
}

const ended = (e: ExecutionSummary) => e.status === 'FAILED' || e.status === 'TIMED_OUT';

/**
 * Hours of silence of the stalest database; undefined when no database has any figure yet (the
 * alarm's missing data is breaching). An alert counts for the database its execution names; the
 * nightly run's own failure alert (no list of databases, no conclusion) counts for every database.
 * With one database, every backup alert counts for it, also before its first manifest names it (a
 * first night that fails pages once, by its alert, and not again as missing data).
 */
export function silenceHours(
  databases: DatabaseStatus[],
  executions: ExecutionSummary[],
  now: Date,
): number | undefined {
  const alerts = executions.flatMap((e) => {
    const at =
      ended(e) && (e.stateMachine === 'backup' || e.stateMachine === 'nightly')
        ? failureAlertDeliveredAt(e)
        : undefined;
    if (at === undefined) return [];
    const database = (e.input as { database?: unknown } | undefined)?.database;
    return [
      {
        at,
        database: e.stateMachine === 'nightly' ? undefined : typeof database === 'string' ? database : null,
      },
    ];
  });
  const silences = databases.flatMap((d) => {
    const own = alerts.filter(
      (a) =>
        a.database === undefined ||
        a.database === d.database ||
        (databases.length === 1 && (a.database === null || d.database === null)),
    );
    const alertHours =
      own.length > 0 ? (now.getTime() - Math.max(...own.map((a) => a.at))) / hourMs : undefined;
    const hours = [d.ageHours ?? undefined, alertHours].filter((h): h is number => h !== undefined);
    return hours.length > 0 ? [Math.min(...hours)] : [];
  });
  return silences.length > 0 ? Math.round(Math.max(...silences) * 100) / 100 : undefined;
}

/** Failed backup and drill executions of the last 24 h whose failure alert was not published. */
export function undeliveredFailureAlerts(executions: ExecutionSummary[], now: Date): number {
  return executions.filter(
    (e) =>
      alertingMachines.has(e.stateMachine) &&
      e.status === 'FAILED' &&
      now.getTime() - Date.parse(e.stoppedAt ?? e.startedAt) <= 24 * hourMs &&
      failureAlertDeliveredAt(e) === undefined,
  ).length;
}

/** The report's metrics with SilenceHours and, when the executions are known, UndeliveredFailureAlerts. */
export function withSilenceMetrics<R extends { databases: DatabaseStatus[]; metrics: object }>(
  report: R,
  options: { now: Date; executions?: ExecutionSummary[] },
): R {
  const executions = options.executions ?? [];
  const silence = silenceHours(report.databases, executions, options.now);
  return {
    ...report,
    metrics: {
      ...report.metrics,
      ...(silence !== undefined ? { SilenceHours: silence } : {}),
      ...(options.executions
        ? { UndeliveredFailureAlerts: undeliveredFailureAlerts(executions, options.now) }
        : {}),
    },
  };
}
