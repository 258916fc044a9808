/**
 * `backupctl drill --local`: run the real drill state machine with the real handlers against the local
 * (or pointed-at) staging server and bucket, reporting each state as it finishes.
 */
import type { LocalEnvironment } from './environment.ts';
import { type LocalRunOptions, runLocalMachine } from './run-backup.ts';
import type { ExecutionRecord } from './state-machine-runner.ts';

export async function runLocalDrill(
  environment: LocalEnvironment,
  input: unknown,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  return runLocalMachine('drill', environment, input, options);
}
