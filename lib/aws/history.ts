/**
 * Step Functions execution history -> the records the local runner keeps, so a deployed execution is
 * printed by the same formatStateLine and audited by the same lib/report/audit.ts.
 *
 * How AWS writes a Task's attempts: `TaskStateEntered`, then per attempt `LambdaFunctionScheduled`
 * (or `TaskScheduled` for service integrations such as sns:publish) ... `LambdaFunctionSucceeded` |
 * `LambdaFunctionFailed` | `LambdaFunctionTimedOut`. A retry shows only as the next `...Scheduled` of
 * the same state; a catch as the state's `TaskStateExited` right after a failure; an unhandled failure
 * as `ExecutionFailed`. A Fail state is `FailStateEntered` followed by `ExecutionFailed` carrying its
 * Error and Cause. The local runner reports the same moments as StateFailed / StateRetried / StateCaught.
 */
import {
  GetExecutionHistoryCommand,
  type GetExecutionHistoryCommandOutput,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import type { StateRecord } from '../report/executions.ts';
import { type CallOptions, forEachPage, type SfnApi } from './sfn.ts';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface StageExecution {
  executionArn: string;
  stateMachine: string;
  input: unknown;
  startedAt: string;
  stoppedAt?: string;
  status: ExecutionStatus;
  output?: unknown;
  error?: { name: string; cause: string };
  states: StateRecord[];
}

type Failure = { name: string; cause: string };

/** The detail field of each event type that ends a Task attempt without a result. */
const attemptFailures: Partial<Record<string, keyof HistoryEvent>> = {
  LambdaFunctionFailed: 'lambdaFunctionFailedEventDetails',
  LambdaFunctionTimedOut: 'lambdaFunctionTimedOutEventDetails',
  LambdaFunctionStartFailed: 'lambdaFunctionStartFailedEventDetails',
  LambdaFunctionScheduleFailed: 'lambdaFunctionScheduleFailedEventDetails',
  TaskFailed: 'taskFailedEventDetails',
  TaskTimedOut: 'taskTimedOutEventDetails',
  TaskStartFailed: 'taskStartFailedEventDetails',
  TaskSubmitFailed: 'taskSubmitFailedEventDetails',
  ActivityFailed: 'activityFailedEventDetails',
  ActivityTimedOut: 'activityTimedOutEventDetails',
  ActivityScheduleFailed: 'activityScheduleFailedEventDetails',
};
const attemptStarts = new Set(['LambdaFunctionScheduled', 'TaskScheduled', 'ActivityScheduled']);

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Step Functions truncates large payloads; a truncated one is no data rather than an error.
    return undefined;
  }
}

function failureOf(details: unknown, fallbackName: string): Failure {
  const d = (details ?? {}) as { error?: string; cause?: string };
  return { name: d.error || fallbackName, cause: d.cause ?? '' };
}

export class HistoryReader {
  readonly execution: StageExecution;
  #lastEventId = 0;
  #entered = new Map<string, number>();
  #open: string | undefined;
  /** The state whose latest attempt failed, and how: a retry or catch repeats it. */
  #failed: { state: string; error: Failure } | undefined;

  /** The state the execution is in now (entered, not yet left), while it runs. */
  get openState(): { name: string; enteredAt: number } | undefined {
    if (this.finished || !this.#open) return undefined;
    return { name: this.#open, enteredAt: this.#entered.get(this.#open) ?? Date.now() };
  }

  constructor(meta: { executionArn: string; stateMachine: string; startedAt?: string }) {
    this.execution = {
      executionArn: meta.executionArn,
      stateMachine: meta.stateMachine,
      input: undefined,
      startedAt: meta.startedAt ?? '',
      status: 'RUNNING',
      states: [],
    };
  }

  get finished(): boolean {
    return this.execution.status !== 'RUNNING';
  }

  /** Folds the events not seen yet (re-reads of the history are fine) and returns the new records. */
  add(events: HistoryEvent[]): StateRecord[] {
    const records: StateRecord[] = [];
    for (const event of events) {
      if ((event.id ?? 0) <= this.#lastEventId) continue;
      this.#lastEventId = event.id ?? this.#lastEventId;
      const record = this.#fold(event);
      if (record) {
        this.execution.states.push(record);
        records.push(record);
      }
    }
    return records;
  }

  #record(name: string, at: number, rest: Pick<StateRecord, 'status'> & Partial<StateRecord>): StateRecord {
    const start = this.#entered.get(name) ?? at;
    return { name, startedAt: new Date(start).toISOString(), durationMs: at - start, ...rest };
  }

  #finish(status: ExecutionStatus, at: number, error?: Failure): StateRecord | undefined {
    const execution = this.execution;
    execution.status = status;
    execution.stoppedAt = new Date(at).toISOString();
    if (error) execution.error = error;
    // A state still open when the execution ends (a Fail state, a timeout) ended with it; a Task whose
    // failure ended the execution has been recorded already.
    const open = this.#open;
    this.#open = undefined;
    if (!error || !open || this.#failed?.state === open) return undefined;
    return this.#record(open, at, { status: 'failed', error });
  }

  #fold(event: HistoryEvent): StateRecord | undefined {
    const type = event.type ?? '';
    const at = event.timestamp ? new Date(event.timestamp).getTime() : Date.now();
    if (type === 'ExecutionStarted') {
      this.execution.input = parseJson(event.executionStartedEventDetails?.input);
      if (!this.execution.startedAt) this.execution.startedAt = new Date(at).toISOString();
      return undefined;
    }
    if (type.endsWith('StateEntered') && event.stateEnteredEventDetails?.name) {
      const name = event.stateEnteredEventDetails.name;
      this.#entered.set(name, at);
      this.#open = name;
      this.#failed = undefined;
      return undefined;
    }
    const failureField = attemptFailures[type];
    if (failureField && this.#open) {
      const error = failureOf(
        event[failureField],
        type === 'LambdaFunctionTimedOut' ? 'States.Timeout' : 'Error',
      );
      this.#failed = { state: this.#open, error };
      return this.#record(this.#open, at, { status: 'failed', error });
    }
    if (attemptStarts.has(type) && this.#failed && this.#failed.state === this.#open) {
      const { state, error } = this.#failed;
      this.#failed = undefined;
      return this.#record(state, at, { status: 'retried', error });
    }
    if (type.endsWith('StateExited') && event.stateExitedEventDetails?.name) {
      const name = event.stateExitedEventDetails.name;
      this.#open = undefined;
      if (this.#failed?.state === name) {
        const { error } = this.#failed;
        this.#failed = undefined;
        return this.#record(name, at, { status: 'caught', error });
      }
      return this.#record(name, at, {
        status: 'succeeded',
        output: parseJson(event.stateExitedEventDetails.output),
      });
    }
    switch (type) {
      case 'ExecutionSucceeded':
        this.execution.output = parseJson(event.executionSucceededEventDetails?.output);
        return this.#finish('SUCCEEDED', at);
      case 'ExecutionFailed':
        return this.#finish('FAILED', at, failureOf(event.executionFailedEventDetails, 'States.Runtime'));
      case 'ExecutionTimedOut':
        return this.#finish(
          'TIMED_OUT',
          at,
          failureOf(event.executionTimedOutEventDetails, 'States.Timeout'),
        );
      case 'ExecutionAborted':
        return this.#finish('ABORTED', at, failureOf(event.executionAbortedEventDetails, 'ExecutionAborted'));
      default:
        return undefined;
    }
  }
}

/** Reads the whole history (every page) into the reader; returns the records that are new. */
export async function readHistory(
  api: SfnApi,
  reader: HistoryReader,
  options: CallOptions & { includeExecutionData?: boolean } = {},
): Promise<StateRecord[]> {
  const records: StateRecord[] = [];
  await forEachPage<GetExecutionHistoryCommandOutput>(
    api,
    (nextToken) =>
      new GetExecutionHistoryCommand({
        executionArn: reader.execution.executionArn,
        maxResults: 1000,
        includeExecutionData: options.includeExecutionData ?? true,
        ...(nextToken ? { nextToken } : {}),
      }),
    options,
    (page) => {
      records.push(...reader.add(page.events ?? []));
      return true;
    },
  );
  return records;
}
