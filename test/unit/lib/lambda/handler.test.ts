/**
 * What the step handler writes around every step, as CloudWatch would receive it: log lines that carry
 * the event's ids, and exactly one embedded-metric-format line per invocation with the step's duration
 * (and bytes, when it moved data) under the Stage and Step dimensions.
 */
import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { readRuntimeSettings } from '../../../../lib/config.ts';
import { StorageUnavailableError } from '../../../../lib/errors.ts';
import { type Step, stepHandler } from '../../../../lib/lambda/handler.ts';
import { createRuntime } from '../../../../lib/runtime.ts';

const runtime = createRuntime(readRuntimeSettings({ BACKUP_BUCKET: 'backups-test', STAGE: 'prod' }));
const event = {
  executionId: 'arn:aws:states:eu-central-1:123456789012:execution:verified-pg-backups-prod-backup:night',
  backupId: '20261207T030405Z-a1b2c3',
  target: { database: 'shop', scope: null },
};

interface Emf {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

async function invoke<T>(
  functionKey: string,
  step: Step<T>,
): Promise<{ logs: Record<string, unknown>[]; metrics: Emf[] }> {
  const lines: string[] = [];
  const handler = stepHandler(functionKey, step, {
    runtime: () => runtime,
    sink: (line) => lines.push(line),
  });
  await handler(event, { getRemainingTimeInMillis: () => 60_000 } as Context).catch(() => undefined);
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    logs: parsed.filter((line) => !('_aws' in line)),
    metrics: parsed.filter((line): line is Emf => '_aws' in line),
  };
}

describe('stepHandler()', () => {
  it('puts the execution id, backup id and database on every line the step writes', async () => {
    const { logs } = await invoke('promote', async (_event, { logger }) => {
      logger.info('copying');
      return { bytes: 1 };
    });
    expect(logs.map((line) => line.message)).toEqual(['step started', 'copying', 'step succeeded']);
    for (const line of logs) {
      expect(line).toMatchObject({
        step: 'promote',
        executionId: event.executionId,
        backupId: event.backupId,
        database: 'shop',
      });
    }
  });

  it('publishes exactly one duration metric per invocation, with the bytes the step moved', async () => {
    const { metrics } = await invoke('dump', async () => ({ backupId: event.backupId, bytes: 158_254 }));
    expect(metrics).toHaveLength(1);
    const [emf] = metrics;
    expect(emf?._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'VerifiedPgBackups',
        Dimensions: [['Stage', 'Step']],
        Metrics: [
          { Name: 'StepDuration', Unit: 'Milliseconds' },
          { Name: 'StepBytes', Unit: 'Bytes' },
        ],
      },
    ]);
    expect(emf).toMatchObject({
      Stage: 'prod',
      Step: 'dump',
      StepBytes: 158_254,
      outcome: 'succeeded',
      executionId: event.executionId,
      database: 'shop',
    });
    expect(emf?.StepDuration).toEqual(expect.any(Number));
  });

  it('publishes the duration of a failed invocation too, without bytes', async () => {
    const { logs, metrics } = await invoke('checksum', async () => {
      throw new StorageUnavailableError('bucket unreachable');
    });
    expect(logs.at(-1)).toMatchObject({ message: 'step failed', errorName: 'StorageUnavailableError' });
    expect(metrics).toHaveLength(1);
    expect(metrics[0]?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
      { Name: 'StepDuration', Unit: 'Milliseconds' },
    ]);
    expect(metrics[0]).toMatchObject({ Step: 'checksum', outcome: 'failed', executionId: event.executionId });
  });

  it('does not count the bytes of a worker step twice: WorkerResult only hands its output on', async () => {
    const { metrics } = await invoke('workerResult', async () => ({ bytes: 158_254 }));
    expect(metrics).toHaveLength(1);
    expect(metrics[0]).not.toHaveProperty('StepBytes');
  });
});
