/** The terminal side of a local run of a state machine: state lines and a progress line. */
import type { MachineName } from '../../functions/tasks.ts';
import type { StateRecord } from '../../lib/report/executions.ts';
import type { Output, Values } from './context.ts';
import { stepProgress } from './progress.ts';
import { printState } from './stage-run.ts';

/**
 * What a local run shows while it runs: each state's line as it ends and, on a terminal, a progress
 * line for the long work inside a step (from the steps' progress log lines); with --verbose every JSON
 * log line instead of the progress line.
 */
export function localRunOutput(
  out: Output,
  values: Values,
  machine: MachineName,
): { onState: (state: StateRecord) => void; onLogLine: (line: string) => void } {
  const print = printState(out, machine);
  if (values.verbose) {
    return { onState: print, onLogLine: (line) => console.error(line) };
  }
  const progress = stepProgress({ json: out.json });
  return {
    onState: (state) => {
      progress.finish();
      print(state);
    },
    onLogLine: (line) => progress.onLogLine(line),
  };
}
