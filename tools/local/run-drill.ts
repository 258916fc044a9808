/**
 * `backupctl drill --local`: run the real drill state machine with the real handlers against the local
 * (or pointed-at) staging server and bucket, reporting each state as it finishes.
 */
import type { LocalEnvironment } from './environment.ts';
import type { LocalRunOptions } from './run-backup.ts';
import { type ExecutionRecord, runStateMachine } from './state-machine-runner.ts';

export async function runLocalDrill(
  environment: LocalEnvironment,
  input: unknown,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  return runStateMachine({
    machine: 'drill',
    input,
    settings: { ...environment.settings, ...options.settings },
    stateDir: environment.stateDir,
    ...(options.wrap ? { wrap: options.wrap } : {}),
    ...(options.retryIntervalMs === undefined ? {} : { retryIntervalMs: options.retryIntervalMs }),
    ...(options.onState ? { onState: options.onState } : {}),
    ...(options.onLogLine ? { onLogLine: options.onLogLine } : {}),
  });
}
