/**
 * Logs and metrics are data (AWS Lambda Powertools for TypeScript): one JSON object per line, with the
 * ids on-call needs to join them (execution id, backup id, step). On Lambda the lines go to stdout,
 * where CloudWatch Logs keeps them; the local runner and the worker hand in a sink instead, so the
 * same lines land in a file under the state directory.
 *
 * Nothing logged here may carry a secret: callers log ids, figures and error names with messages that
 * went through describeError (lib/errors.ts). The canary-secret suite scans every line.
 */

import type { LogItem } from '@aws-lambda-powertools/logger';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const serviceName = 'verified-pg-backups';
export const metricsNamespace = 'VerifiedPgBackups';

/** Receives each log or EMF line, already serialised, without its newline. */
export type LineSink = (line: string) => void;

/** A Powertools Logger that writes to a sink instead of stdout (local runs, the worker, tests). */
class SinkLogger extends Logger {
  readonly #sink: LineSink;

  constructor(sink: LineSink, options: ConstructorParameters<typeof Logger>[0]) {
    super(options);
    this.#sink = sink;
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    this.#sink(JSON.stringify(log.getAttributes()));
  }

  protected override createLogger(options?: ConstructorParameters<typeof Logger>[0]): Logger {
    return new SinkLogger(this.#sink, options);
  }
}

/**
 * The ids that join a line to a night: the execution, the backup and the database, wherever the event
 * names them. Every Task state passes `executionId` ($$.Execution.Id; test/unit/statemachines checks
 * it); the rest sit where the steps' events keep them: the backup's id at the top or in a drill's
 * `selected`, the database in `target` (set by Plan and SelectBackup) or in the execution input. The
 * alert relay's SNS event carries no fields of ours: its message names the execution it reports (the
 * NotifyFailure states write `... execution <arn> failed ...`) and, for a backup, the execution's input
 * on its `Input:` line, with the database when the run was for one; an alarm's names neither (the
 * relayed alarm says which query finds the executions instead, lib/notify/alert-relay.ts).
 */
export function logKeysOf(event: unknown): Record<string, string> {
  const fields = asFields(event);
  const selected = asFields(fields.selected);
  const execution = asFields(fields.execution);
  const target = asFields(fields.target ?? selected.target);
  const keys: Record<string, string> = {};
  for (const [key, value] of [
    ['executionId', fields.executionId ?? executionIdInAlert(alertMessageOf(fields))],
    ['backupId', fields.backupId ?? selected.backupId],
    ['database', target.database ?? execution.database ?? databaseInAlert(alertMessageOf(fields))],
    ['drillId', selected.drillId],
  ] as const) {
    if (typeof value === 'string' && value.length > 0 && value.length <= 2048) keys[key] = value;
  }
  return keys;
}

const asFields = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

const executionArnPattern = /arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_.:-]+[A-Za-z0-9_-]/;

/** The message of the first SNS record, for the relay's event. */
function alertMessageOf(fields: Record<string, unknown>): string | undefined {
  const records = Array.isArray(fields.Records) ? fields.Records : [];
  const message = asFields(asFields(records[0]).Sns).Message;
  return typeof message === 'string' ? message : undefined;
}

function executionIdInAlert(message: string | undefined): string | undefined {
  return message === undefined ? undefined : executionArnPattern.exec(message)?.[0];
}

/** The database of a failure alert's `Input: <execution input JSON>` line, when the run was for one. */
export function databaseInAlert(message: string | undefined): string | undefined {
  const line = message?.split('\n').find((text) => text.startsWith('Input: '));
  if (!line) return undefined;
  try {
    const input = JSON.parse(line.slice('Input: '.length)) as { database?: unknown };
    return typeof input.database === 'string' ? input.database : undefined;
  } catch {
    return undefined;
  }
}

export function createLogger(sink?: LineSink): Logger {
  const options = { serviceName, logLevel: 'INFO' as const };
  return sink ? new SinkLogger(sink, options) : new Logger(options);
}

/**
 * Metrics in CloudWatch's embedded metric format. `publish` prints the EMF object as one line: to
 * stdout on Lambda (CloudWatch turns it into metrics), to the sink elsewhere.
 */
export function createMetrics(stage: string, sink?: LineSink) {
  const metrics = new Metrics({ namespace: metricsNamespace, serviceName });
  // The alarm and the dashboard address the metrics by Stage alone; Powertools' own `service`
  // dimension would make every one of them a different metric that nothing watches.
  metrics.clearDefaultDimensions();
  metrics.setDefaultDimensions({ Stage: stage });
  return {
    metrics,
    publish(): void {
      if (!sink) {
        metrics.publishStoredMetrics();
        return;
      }
      sink(JSON.stringify(metrics.serializeMetrics()));
      metrics.clearMetrics();
    },
  };
}

/** The metrics every step invocation publishes, under the Stage and Step dimensions. */
export const stepMetricNames = { duration: 'StepDuration', bytes: 'StepBytes' } as const;

/**
 * One EMF line per step invocation: how long it took (milliseconds), and how many bytes it moved when
 * it moved data (the dump's size, the promoted copy, the roles record). The line also carries the
 * invocation's ids and outcome as properties, so Logs Insights joins it to the step's log lines and the
 * dashboard can plot each step's duration over the nights.
 */
export function publishStepMetrics(options: {
  stage: string;
  step: string;
  durationMs: number;
  bytes?: number | undefined;
  outcome: 'succeeded' | 'failed';
  keys: Record<string, string>;
  sink?: LineSink | undefined;
}): void {
  const { metrics, publish } = createMetrics(options.stage, options.sink);
  metrics.addDimension('Step', options.step);
  metrics.addMetric(stepMetricNames.duration, MetricUnit.Milliseconds, options.durationMs);
  if (options.bytes !== undefined) metrics.addMetric(stepMetricNames.bytes, MetricUnit.Bytes, options.bytes);
  for (const [key, value] of Object.entries(options.keys)) metrics.addMetadata(key, value);
  metrics.addMetadata('outcome', options.outcome);
  publish();
}
