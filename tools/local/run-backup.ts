/**
 * `backupctl backup --local` and `npm run demo`: run the real backup state machine with the real
 * handlers against the local (or pointed-at) servers and bucket, reporting each state as it finishes.
 */
import type { MachineName } from '../../functions/tasks.ts';
import type { LocalEnvironment } from './environment.ts';
import {
  type ExecutionRecord,
  runStateMachine,
  type StateRecord,
  type TaskWrapper,
} from './state-machine-runner.ts';

export interface LocalRunOptions {
  onState?: (state: StateRecord) => void;
  retryIntervalMs?: number;
  /** Settings on top of the environment's (tests). */
  settings?: Record<string, string>;
  wrap?: Partial<Record<string, TaskWrapper>>;
  /** Each step log line as it is written (`--verbose`). */
  onLogLine?: (line: string) => void;
}

export async function runLocalBackup(
  environment: LocalEnvironment,
  input: unknown,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  return runLocalMachine('backup', environment, input, options);
}

/** Any of the state machines, locally (`--all-databases`: nightly, drills). */
export async function runLocalMachine(
  machine: MachineName,
  environment: LocalEnvironment,
  input: unknown,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  return runStateMachine({ machine, input, ...runSettings(environment, options) });
}

/** What every local run passes the runner: the environment's settings and state, and the options set. */
export function runSettings(environment: LocalEnvironment, options: LocalRunOptions) {
  return {
    settings: { ...environment.settings, ...options.settings },
    stateDir: environment.stateDir,
    ...(options.wrap ? { wrap: options.wrap } : {}),
    ...(options.retryIntervalMs === undefined ? {} : { retryIntervalMs: options.retryIntervalMs }),
    ...(options.onState ? { onState: options.onState } : {}),
    ...(options.onLogLine ? { onLogLine: options.onLogLine } : {}),
  };
}
