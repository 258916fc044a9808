/**
 * Following a stage, the progress of the step that is running: its progress log lines (lib/progress.ts)
 * read back from its CloudWatch log group, the Lambda function's or the worker's builds'. They feed the
 * same terminal progress line a local run shows. Reading them needs `logs:FilterLogEvents` on the
 * stage's log groups; without it (or before the group exists) the CLI follows state by state, as
 * before, and says so once.
 */
import {
  CloudWatchLogsClient,
  FilterLogEventsCommand,
  type FilterLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import { type FunctionSpec, functions, type MachineName, taskOf } from '../../functions/tasks.ts';
import { type ProgressEvent, progressFromLogLine } from '../../lib/progress.ts';
import { serviceName } from './stage.ts';

export interface LogsApi {
  send(command: FilterLogEventsCommand): Promise<FilterLogEventsCommandOutput>;
}

export const createLogsClient = (region: string): LogsApi => new CloudWatchLogsClient({ region });

/** The functions whose steps report progress (lib/progress.ts). */
const reportingFunctions = ['dump', 'checksum', 'verify', 'drillRestore', 'restore'] as const;
const reporting = new Set<string>(reportingFunctions);

/** Every log group the CLI may read progress from (the operator policy grants exactly these). */
export function progressLogGroups(stage: string): string[] {
  return [
    ...reportingFunctions
      .filter((key) => (functions[key] as FunctionSpec).worker !== 'worker-only')
      .map((key) => `/aws/lambda/${serviceName}-${stage}-${key}`),
    `/aws/codebuild/${serviceName}-${stage}-worker`,
  ];
}

/** Where a running Task state's step writes its log lines, when it reports progress at all. */
export function logGroupOf(stage: string, machine: MachineName, state: string): string | undefined {
  const task = taskOf(machine, state);
  if (!task || !reporting.has(task.function)) return undefined;
  return task.venue === 'worker'
    ? `/aws/codebuild/${serviceName}-${stage}-worker`
    : `/aws/lambda/${serviceName}-${stage}-${task.function}`;
}

/**
 * The newest progress of the running state since it was entered, or undefined. Each read starts
 * where the last one of the same state ended, so a long dump is not read from its start every poll.
 * After a refusal (no permission, no log group) it stops asking and reports once through
 * `onUnavailable`.
 */
export function stageProgressReader(
  api: LogsApi,
  stage: string,
  machine: MachineName,
  onUnavailable: (reason: string) => void,
): (open: { name: string; enteredAt: number }) => Promise<ProgressEvent | undefined> {
  let unavailable = false;
  // Per state entry: where the next read starts, and the newest progress seen so far.
  let seen: { state: string; from: number; latest: ProgressEvent | undefined } | undefined;
  return async (open) => {
    const logGroupName = logGroupOf(stage, machine, open.name);
    if (unavailable || !logGroupName) return undefined;
    const state = `${open.name}@${open.enteredAt}`;
    if (seen?.state !== state) seen = { state, from: open.enteredAt, latest: undefined };
    const current = seen;
    let latest = current.latest;
    try {
      let nextToken: string | undefined;
      let pages = 0;
      do {
        const page = await api.send(
          new FilterLogEventsCommand({
            logGroupName,
            startTime: current.from,
            filterPattern: '"progress"',
            ...(nextToken ? { nextToken } : {}),
          }),
        );
        for (const event of page.events ?? []) {
          latest = progressFromLogLine(event.message ?? '') ?? latest;
          // startTime is inclusive: the next read starts just after the newest event read.
          if (event.timestamp !== undefined) current.from = Math.max(current.from, event.timestamp + 1);
        }
        nextToken = page.nextToken;
      } while (nextToken && ++pages < 5);
    } catch (error) {
      unavailable = true;
      onUnavailable(`${(error as Error).name}: step progress needs logs:FilterLogEvents on ${logGroupName}`);
      return undefined;
    }
    current.latest = latest;
    return latest;
  };
}
