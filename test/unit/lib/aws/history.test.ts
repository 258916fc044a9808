/**
 * HistoryReader against histories written the way Step Functions writes them (field names and event
 * types of the GetExecutionHistory API), independent of the test converter in test/support/sfn-stub.ts.
 */

import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { describe, expect, it } from '@jest/globals';
import { HistoryReader } from '../../../../lib/aws/history.ts';

const t0 = Date.parse('2026-03-01T02:00:00.000Z');
const lambdaCause = (type: string, message: string) =>
  JSON.stringify({ errorType: type, errorMessage: message, trace: [`${type}: ${message}`, '    at x'] });

function history(...events: [number, string, Partial<HistoryEvent>?][]): HistoryEvent[] {
  return events.map(([offsetMs, type, details], i) => ({
    id: i + 1,
    previousEventId: i,
    timestamp: new Date(t0 + offsetMs),
    type,
    ...details,
  })) as HistoryEvent[];
}

const entered = (name: string, type = 'Task'): [string, Partial<HistoryEvent>] => [
  `${type}StateEntered`,
  { stateEnteredEventDetails: { name, input: '{}' } },
];
const exited = (name: string, output: unknown, type = 'Task'): [string, Partial<HistoryEvent>] => [
  `${type}StateExited`,
  { stateExitedEventDetails: { name, output: JSON.stringify(output) } },
];

function read(events: HistoryEvent[]) {
  const reader = new HistoryReader({
    executionArn: 'arn:aws:states:eu-central-1:1:execution:m:x',
    stateMachine: 'backup',
  });
  reader.add(events);
  return reader.execution;
}

describe('HistoryReader', () => {
  it('reads a retried Lambda attempt, then its success, with durations from the state entry', () => {
    const execution = read(
      history(
        [0, 'ExecutionStarted', { executionStartedEventDetails: { input: '{"trigger":"schedule"}' } }],
        [10, ...entered('Dump')],
        [10, 'LambdaFunctionScheduled'],
        [20, 'LambdaFunctionStarted'],
        [
          4_000,
          'LambdaFunctionFailed',
          {
            lambdaFunctionFailedEventDetails: {
              error: 'DumpFailedError',
              cause: lambdaCause('DumpFailedError', 'x'),
            },
          },
        ],
        [24_000, 'LambdaFunctionScheduled'],
        [24_050, 'LambdaFunctionStarted'],
        [
          30_000,
          'LambdaFunctionSucceeded',
          { lambdaFunctionSucceededEventDetails: { output: '{"backupId":"b"}' } },
        ],
        [30_010, ...exited('Dump', { dump: { backupId: 'b' } })],
        [30_020, 'ExecutionSucceeded', { executionSucceededEventDetails: { output: '{"ok":true}' } }],
      ),
    );
    expect(execution).toMatchObject({
      status: 'SUCCEEDED',
      input: { trigger: 'schedule' },
      output: { ok: true },
    });
    expect(execution.startedAt).toBe('2026-03-01T02:00:00.000Z');
    expect(execution.states.map((s) => [s.name, s.status, s.durationMs, s.error?.name])).toEqual([
      ['Dump', 'failed', 3_990, 'DumpFailedError'],
      ['Dump', 'retried', 23_990, 'DumpFailedError'],
      ['Dump', 'succeeded', 30_000, undefined],
    ]);
    expect(execution.states[2]?.output).toEqual({ dump: { backupId: 'b' } });
  });

  it('reads a caught failure, the failure branch and the Fail state that ends the execution with the error', () => {
    const cause = lambdaCause('ChecksumMismatchError', 'sha256 differs');
    const execution = read(
      history(
        [0, 'ExecutionStarted', { executionStartedEventDetails: { input: '{}' } }],
        [0, ...entered('Checksum')],
        [0, 'LambdaFunctionScheduled'],
        [5, 'LambdaFunctionStarted'],
        [
          900,
          'LambdaFunctionFailed',
          { lambdaFunctionFailedEventDetails: { error: 'ChecksumMismatchError', cause } },
        ],
        [910, ...exited('Checksum', { error: { Error: 'ChecksumMismatchError', Cause: cause } })],
        [910, ...entered('ChecksumFailed', 'Pass')],
        [910, ...exited('ChecksumFailed', {}, 'Pass')],
        [911, ...entered('NotifyFailure')],
        [
          911,
          'TaskScheduled',
          {
            taskScheduledEventDetails: {
              resourceType: 'sns',
              resource: 'publish',
              region: 'eu-central-1',
              parameters: '{}',
            },
          },
        ],
        [
          950,
          'TaskFailed',
          {
            taskFailedEventDetails: {
              resourceType: 'sns',
              resource: 'publish',
              error: 'SNS.AuthorizationErrorException',
              cause: 'denied',
            },
          },
        ],
        [960, ...exited('NotifyFailure', {})],
        [961, ...entered('BackupFailed', 'Fail')],
        [962, 'ExecutionFailed', { executionFailedEventDetails: { error: 'ChecksumMismatchError', cause } }],
      ),
    );
    expect(execution).toMatchObject({ status: 'FAILED', error: { name: 'ChecksumMismatchError', cause } });
    expect(execution.stoppedAt).toBe('2026-03-01T02:00:00.962Z');
    expect(execution.states.map((s) => [s.name, s.status, s.durationMs, s.error?.name])).toEqual([
      ['Checksum', 'failed', 900, 'ChecksumMismatchError'],
      ['Checksum', 'caught', 910, 'ChecksumMismatchError'],
      ['ChecksumFailed', 'succeeded', 0, undefined],
      ['NotifyFailure', 'failed', 39, 'SNS.AuthorizationErrorException'],
      ['NotifyFailure', 'caught', 49, 'SNS.AuthorizationErrorException'],
      ['BackupFailed', 'failed', 1, 'ChecksumMismatchError'],
    ]);
  });

  it('records an uncaught Task failure once, not again when the execution fails with it', () => {
    const execution = read(
      history(
        [0, 'ExecutionStarted', {}],
        [0, ...entered('Upload')],
        [0, 'LambdaFunctionScheduled'],
        [
          900_000,
          'LambdaFunctionTimedOut',
          { lambdaFunctionTimedOutEventDetails: { error: 'States.Timeout' } },
        ],
        [900_001, 'ExecutionFailed', { executionFailedEventDetails: { error: 'States.Timeout', cause: '' } }],
      ),
    );
    expect(execution.status).toBe('FAILED');
    expect(execution.states.map((s) => [s.name, s.status, s.error?.name])).toEqual([
      ['Upload', 'failed', 'States.Timeout'],
    ]);
  });

  it('ends the open state when the execution times out or is aborted', () => {
    const timedOut = read(
      history(
        [0, 'ExecutionStarted', {}],
        [0, ...entered('RestoreToStaging')],
        [7_200_000, 'ExecutionTimedOut', {}],
      ),
    );
    expect(timedOut).toMatchObject({ status: 'TIMED_OUT', error: { name: 'States.Timeout' } });
    expect(timedOut.states).toEqual([
      expect.objectContaining({ name: 'RestoreToStaging', status: 'failed', durationMs: 7_200_000 }),
    ]);
    const aborted = read(history([0, 'ExecutionStarted', {}], [5, 'ExecutionAborted', {}]));
    expect(aborted).toMatchObject({ status: 'ABORTED', error: { name: 'ExecutionAborted' }, states: [] });
  });

  it('reads data that Step Functions truncated or left out as no data, and skips events it has seen', () => {
    const events = history(
      [0, 'ExecutionStarted', { executionStartedEventDetails: { inputDetails: { truncated: false } } }],
      [0, ...entered('Dump')],
      [
        10,
        'TaskStateExited',
        {
          stateExitedEventDetails: {
            name: 'Dump',
            output: '{"dump":{"bytes":12',
            outputDetails: { truncated: true },
          },
        },
      ],
    );
    const reader = new HistoryReader({ executionArn: 'a', stateMachine: 'backup' });
    expect(reader.add(events.slice(0, 2))).toEqual([]);
    const records = reader.add(events);
    expect(records).toEqual([
      expect.objectContaining({ name: 'Dump', status: 'succeeded', output: undefined }),
    ]);
    expect(reader.add(events)).toEqual([]);
    expect(reader.execution.input).toBeUndefined();
    expect(reader.finished).toBe(false);
  });
});
