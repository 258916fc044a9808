/**
 * One line per state as an operator reads it, for local runs and for executions followed on a stage:
 * a mark, the state's name, its duration and its key figure from the Task table (functions/tasks.ts).
 */
import { type MachineName, taskOf } from '../../functions/tasks.ts';
import type { StateRecord } from '../../lib/report/executions.ts';

export function keyFigure(machine: MachineName, state: StateRecord): string {
  if (state.error) return state.error.name;
  const output = (state.output ?? {}) as Record<string, Record<string, unknown> | undefined>;
  return taskOf(machine, state.name)?.figure(output) ?? '';
}

/** `paint` colours the mark on a terminal (tools/cli/colour.ts); plain text without it. */
export function formatStateLine(
  machine: MachineName,
  state: StateRecord,
  paint: (mark: string) => string = (mark) => mark,
): string {
  const mark = { succeeded: '✔', failed: '✘', retried: '↻', caught: '✘' }[state.status];
  const seconds = `${(state.durationMs / 1000).toFixed(1)} s`.padStart(8);
  return `${paint(mark)} ${state.name.padEnd(18)}${seconds}  ${keyFigure(machine, state)}`;
}
