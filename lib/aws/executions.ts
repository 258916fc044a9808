/**
 * Executions of a deployed stage: start one and follow it state by state, or read every execution of
 * both state machines since a point in time for the audit and the status report.
 */
import {
  ListExecutionsCommand,
  type ListExecutionsCommandOutput,
  StartExecutionCommand,
  type StartExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import type { StateRecord } from '../local/state-machine-runner.ts';
import type { ExecutionSummary } from '../report/executions.ts';
import { HistoryReader, readHistory, type StageExecution } from './history.ts';
import { type CallOptions, callSfn, type SfnApi, sleep } from './sfn.ts';
import { type DeployedStage, type StateMachineKind, stateMachineKinds } from './stage.ts';

export async function startExecution(
  api: SfnApi,
  stateMachineArn: string,
  input: unknown,
  options: CallOptions & { now?: Date } = {},
): Promise<{ executionArn: string; startedAt: string }> {
  // A readable name shows in the console's list; the random tail keeps two starts in a second apart.
  const stamp = (options.now ?? new Date()).toISOString().replace(/[-:]|\.\d+/g, '');
  const name = `cli-${stamp}-${Math.random().toString(16).slice(2, 8)}`;
  const started = await callSfn<StartExecutionCommandOutput>(
    api,
    new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    options,
  );
  return {
    executionArn: started.executionArn ?? '',
    startedAt: (started.startDate ?? options.now ?? new Date()).toISOString(),
  };
}

export interface FollowOptions extends CallOptions {
  onState?: (state: StateRecord) => void;
  /** Between reads of the history while the execution runs. */
  pollIntervalMs?: number;
}

/**
 * Reads the history until the execution ends, reporting each new state record. Aborting the signal
 * stops the following only: the execution itself keeps running on AWS.
 */
export async function followExecution(
  api: SfnApi,
  meta: { executionArn: string; stateMachine: string; startedAt?: string },
  options: FollowOptions = {},
): Promise<StageExecution> {
  const reader = new HistoryReader(meta);
  const wait = options.sleep ?? sleep;
  for (;;) {
    for (const record of await readHistory(api, reader, options)) options.onState?.(record);
    if (reader.finished) return reader.execution;
    await wait(options.pollIntervalMs ?? 2000, options.signal);
  }
}

/**
 * Every execution of both state machines started at or after `since`, newest first, as the summaries
 * the audit and the status report read. Only the input's trigger is kept and no step output: the
 * audit shows what the local one shows, never execution data that may carry database details.
 */
export async function readStageExecutions(
  api: SfnApi,
  stage: DeployedStage,
  since: Date,
  options: CallOptions = {},
): Promise<ExecutionSummary[]> {
  const arns = await stage.stateMachineArns();
  const summaries: ExecutionSummary[] = [];
  for (const kind of stateMachineKinds) {
    for (const item of await listExecutionsSince(api, arns[kind], since, options)) {
      summaries.push(await summarize(api, kind, item, options));
    }
  }
  return summaries.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

type ListedExecution = NonNullable<ListExecutionsCommandOutput['executions']>[number];

/** ListExecutions answers newest first, so the pages stop at the first execution older than `since`. */
async function listExecutionsSince(
  api: SfnApi,
  stateMachineArn: string,
  since: Date,
  options: CallOptions,
): Promise<ListedExecution[]> {
  const items: ListedExecution[] = [];
  let nextToken: string | undefined;
  do {
    const page = await callSfn<ListExecutionsCommandOutput>(
      api,
      new ListExecutionsCommand({ stateMachineArn, maxResults: 100, ...(nextToken ? { nextToken } : {}) }),
      options,
    );
    for (const item of page.executions ?? []) {
      if (!item.startDate || item.startDate.getTime() < since.getTime()) return items;
      items.push(item);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return items;
}

async function summarize(
  api: SfnApi,
  kind: StateMachineKind,
  item: ListedExecution,
  options: CallOptions,
): Promise<ExecutionSummary> {
  const reader = new HistoryReader({
    executionArn: item.executionArn ?? '',
    stateMachine: kind,
    startedAt: (item.startDate ?? new Date(0)).toISOString(),
  });
  await readHistory(api, reader, options);
  const e = reader.execution;
  const trigger = (e.input as { trigger?: unknown } | undefined)?.trigger;
  const stoppedAt = e.stoppedAt ?? item.stopDate?.toISOString();
  return {
    executionArn: e.executionArn,
    stateMachine: kind,
    startedAt: e.startedAt,
    ...(stoppedAt ? { stoppedAt } : {}),
    status: e.status,
    ...(typeof trigger === 'string' ? { input: { trigger } } : {}),
    ...(e.error ? { error: e.error } : {}),
    states: e.states.map(({ output: _output, ...state }) => state),
  };
}
