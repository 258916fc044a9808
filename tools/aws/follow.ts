/**
 * Start an execution of a deployed state machine and follow it state by state (`backupctl backup|drill
 * --stage`).
 */
import { StartExecutionCommand, type StartExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { HistoryReader, readHistory, type StageExecution } from '../../lib/aws/history.ts';
import { type CallOptions, callSfn, type SfnApi, sleep } from '../../lib/aws/sfn.ts';
import type { StateRecord } from '../../lib/report/executions.ts';

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
  /** After each read while it runs: the state it is in (the terminal's progress line reads its log). */
  onOpen?: (open: { name: string; enteredAt: number }) => Promise<void>;
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
    const open = reader.openState;
    if (open && options.onOpen) await options.onOpen(open);
    await wait(options.pollIntervalMs ?? 2000, options.signal);
  }
}
