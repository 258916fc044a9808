/**
 * Every execution of a deployed stage's state machines (backup, drill, restore) since a point in time,
 * read from Step Functions itself: what the audit and the status report are built from.
 */
import { ListExecutionsCommand, type ListExecutionsCommandOutput } from '@aws-sdk/client-sfn';
import type { ExecutionSummary } from '../report/executions.ts';
import { HistoryReader, readHistory } from './history.ts';
import { type CallOptions, forEachPage, type SfnApi } from './sfn.ts';

export const stateMachineKinds = ['backup', 'drill', 'restore'] as const;
export type StateMachineKind = (typeof stateMachineKinds)[number];

/**
 * Every execution of both state machines started at or after `since`, newest first, as the summaries
 * the audit and the status report read. Only the input's trigger is kept and no step output: the
 * audit shows what the local one shows, never execution data that may carry database details.
 */
export async function readStageExecutions(
  api: SfnApi,
  arns: Record<StateMachineKind, string>,
  since: Date,
  options: CallOptions = {},
): Promise<ExecutionSummary[]> {
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
  await forEachPage<ListExecutionsCommandOutput>(
    api,
    (nextToken) =>
      new ListExecutionsCommand({ stateMachineArn, maxResults: 100, ...(nextToken ? { nextToken } : {}) }),
    options,
    (page) => {
      for (const item of page.executions ?? []) {
        if (!item.startDate || item.startDate.getTime() < since.getTime()) return false;
        items.push(item);
      }
      return true;
    },
  );
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
