/**
 * Every execution of a deployed stage's state machines (backup, drill, restore, nightly) since a point in time,
 * read from Step Functions itself: what the audit and the status report are built from.
 */
import { ListExecutionsCommand, type ListExecutionsCommandOutput } from '@aws-sdk/client-sfn';
import { type MachineName, machineNames } from '../machines.ts';
import type { ExecutionSummary } from '../report/executions.ts';
import { HistoryReader, readHistory } from './history.ts';
import { type CallOptions, forEachPage, type SfnApi } from './sfn.ts';

/** A stage's state machines; one deployed before the per-database runs existed has only the first three. */
export type StageMachineArns = Record<Exclude<MachineName, 'nightly' | 'drills'>, string> & {
  nightly?: string;
  drills?: string;
};

/**
 * Every execution of the state machines started at or after `since`, newest first, as the summaries
 * the audit and the status report read. Only the input's trigger, reason and database name are kept and no
 * step output: the audit shows what the local one shows, never execution data that may carry
 * database details.
 */
export async function readStageExecutions(
  api: SfnApi,
  arns: StageMachineArns,
  since: Date,
  options: CallOptions & {
    /**
     * Whose history to read: `all` (the audit shows every state), or `ended-badly` (the status report
     * needs only the causes of failed, timed-out and aborted runs; the others are summarized from the
     * listing alone, one ListExecutions page per 100 runs instead of a history read each).
     */
    histories?: 'all' | 'ended-badly';
  } = {},
): Promise<ExecutionSummary[]> {
  const summaries: ExecutionSummary[] = [];
  for (const kind of machineNames) {
    const arn = arns[kind];
    if (!arn) continue;
    for (const item of await listExecutionsSince(api, arn, since, options)) {
      const endedBadly = item.status !== 'SUCCEEDED' && item.status !== 'RUNNING';
      summaries.push(
        options.histories === 'ended-badly' && !endedBadly
          ? listedOnly(kind, item)
          : await summarize(api, kind, item, options),
      );
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

/** A run summarized from ListExecutions alone: no trigger, no states. */
function listedOnly(kind: MachineName, item: ListedExecution): ExecutionSummary {
  return {
    executionArn: item.executionArn ?? '',
    stateMachine: kind,
    startedAt: (item.startDate ?? new Date(0)).toISOString(),
    ...(item.stopDate ? { stoppedAt: item.stopDate.toISOString() } : {}),
    status: item.status === 'PENDING_REDRIVE' ? 'FAILED' : (item.status ?? 'RUNNING'),
    states: [],
  };
}

async function summarize(
  api: SfnApi,
  kind: MachineName,
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
  const { trigger, reason, database } = (e.input ?? {}) as {
    trigger?: unknown;
    reason?: unknown;
    database?: unknown;
  };
  const stoppedAt = e.stoppedAt ?? item.stopDate?.toISOString();
  return {
    executionArn: e.executionArn,
    stateMachine: kind,
    startedAt: e.startedAt,
    ...(stoppedAt ? { stoppedAt } : {}),
    status: e.status,
    ...(typeof trigger === 'string'
      ? {
          input: {
            trigger,
            ...(typeof reason === 'string' ? { reason } : {}),
            ...(typeof database === 'string' ? { database } : {}),
          },
        }
      : {}),
    ...(e.error ? { error: e.error } : {}),
    states: e.states.map(({ output: _output, ...state }) => state),
  };
}
