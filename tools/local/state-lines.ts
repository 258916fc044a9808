/**
 * One line per state as an operator reads it, for local runs and for executions followed on a stage:
 * a mark, the state's name, its duration and its key figure from the Task table (functions/tasks.ts).
 * The figure reads the state's result where the definition puts it (ResultPath), checked against the
 * contract of the step that answered it (lib/lambda/step.ts): a result of another shape (a version
 * from before a change) says so instead of showing a wrong figure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MachineName, type TaskSpec, taskOf } from '../../functions/tasks.ts';
import type { StateRecord } from '../../lib/report/executions.ts';
import { workerResultEventSchema } from '../../lib/steps/worker-result.ts';
import { stepContracts } from './contracts.ts';
import { projectRoot } from './environment.ts';

interface DefinitionStates {
  States: Record<string, { ResultPath?: string | null; Branches?: DefinitionStates[] }>;
}

const definitions = new Map<MachineName, DefinitionStates>();

/** Where a state puts its result (`$.dump`, `$.state.dump` in a worker branch), from the ASL file. */
function resultPathOf(machine: MachineName, state: string): string | null | undefined {
  let definition = definitions.get(machine);
  if (!definition) {
    const text = readFileSync(join(projectRoot, 'statemachines', `${machine}.asl.json`), 'utf8');
    definition = JSON.parse(text) as DefinitionStates;
    definitions.set(machine, definition);
  }
  const find = (states: DefinitionStates['States']): { ResultPath?: string | null } | undefined =>
    states[state] ??
    Object.values(states)
      .flatMap((s) => s.Branches ?? [])
      .map((branch) => find(branch.States))
      .find(Boolean);
  return find(definition.States)?.ResultPath;
}

function valueAt(output: unknown, path: string | null | undefined): unknown {
  if (path === null) return undefined;
  let value = output;
  for (const [, field] of (path ?? '$').matchAll(/\.([A-Za-z_][\w-]*)/g)) {
    value =
      value !== null && typeof value === 'object'
        ? Object.getOwnPropertyDescriptor(value, field ?? '')?.value
        : undefined;
  }
  return value;
}

/** The schema of what a Task state's result is: its step's output, or a worker build's outcome. */
function resultSchemaOf(task: TaskSpec) {
  return task.answers === 'build'
    ? workerResultEventSchema.shape.build
    : stepContracts.get(task.answers)?.output;
}

export function keyFigure(machine: MachineName, state: StateRecord): string {
  if (state.error) return state.error.name;
  const task = taskOf(machine, state.name);
  if (!task) return '';
  const result = resultSchemaOf(task)?.safeParse(valueAt(state.output, resultPathOf(machine, state.name)));
  if (!result) return '';
  if (result.success) return task.figure(result.data);
  const field = result.error.issues[0]?.path.join('.') || 'the result';
  return `(no figure: ${field} is not as the ${task.answers} step answers it)`;
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
