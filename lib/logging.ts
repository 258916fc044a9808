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
import { Metrics } from '@aws-lambda-powertools/metrics';

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
