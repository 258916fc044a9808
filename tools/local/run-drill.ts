/**
 * `backupctl drill --local`: run the real drill state machine with the real handlers against the local
 * (or pointed-at) staging server and bucket, reporting each state as it finishes.
 */
import type { LocalEnvironment } from './environment.ts';
import { type LocalRunOptions, runSettings } from './run-backup.ts';
import { type ExecutionRecord, runStateMachine } from './state-machine-runner.ts';

export async function runLocalDrill(
  environment: LocalEnvironment,
  input: unknown,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  return runStateMachine({ machine: 'drill', input, ...runSettings(environment, options) });
}

/** `backupctl drill --all-databases`: the drills state machine, one drill execution per database. */
export async function runLocalDrills(
  environment: LocalEnvironment,
  input: unknown,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  return runStateMachine({ machine: 'drills', input, ...runSettings(environment, options) });
}
