/** Reading statemachines/*.asl.json in tests: every state, those inside Parallel branches included. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineName } from '../../functions/tasks.ts';
import { machineNames, stateMachineResourceOf } from '../../lib/machines.ts';

export interface AslState {
  Type: string;
  Comment?: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Variable?: string; StringEquals?: string; Next: string }[];
  Parameters?: Record<string, unknown> & {
    EnvironmentVariablesOverride?: { Name: string; Type?: string; Value?: string; 'Value.$'?: string }[];
  };
  ResultPath?: string;
  ResultSelector?: Record<string, string>;
  OutputPath?: string;
  TimeoutSeconds?: number;
  Retry?: { ErrorEquals: string[]; Comment?: string; MaxAttempts?: number; IntervalSeconds?: number }[];
  Catch?: { ErrorEquals: string[]; ResultPath?: string; Next: string }[];
  Branches?: { StartAt: string; States: Record<string, AslState> }[];
}

export interface AslDefinition {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, AslState>;
}

const root = join(import.meta.dirname, '..', '..');

export function definitionText(machine: MachineName): string {
  return readFileSync(join(root, 'statemachines', `${machine}.asl.json`), 'utf8');
}

export function loadAsl(machine: MachineName): AslDefinition {
  return JSON.parse(definitionText(machine)) as AslDefinition;
}

/** Every state with its name, branch states after their Parallel state. */
export function everyState(states: Record<string, AslState>): [string, AslState][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, AslState],
    ...(state.Branches ?? []).flatMap((branch) => everyState(branch.States)),
  ]);
}

/** Error names AWS raises itself, which the catalog does not hold. */
export const awsErrorName = (name: string) =>
  name.startsWith('States.') || name.startsWith('Lambda.') || name.startsWith('CodeBuild.');

export const workerResource = 'arn:aws:states:::codebuild:startBuild.sync';

/** The names of the Task states under an ASL node, at any depth (Parallel branches, Map processors). */
function taskNamesIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(taskNamesIn);
  if (node === null || typeof node !== 'object') return [];
  const states = (node as { States?: Record<string, { Type?: string }> }).States ?? {};
  return [
    ...Object.entries(states).flatMap(([name, state]) => (state.Type === 'Task' ? [name] : [])),
    ...Object.values(node).flatMap(taskNamesIn),
  ];
}

/** Every Task state of every file in statemachines/, as `<machine's logical id>.<state>`, sorted. */
export function everyTaskOfEveryMachine(): string[] {
  return machineNames
    .flatMap((machine) =>
      taskNamesIn(loadAsl(machine)).map((state) => `${stateMachineResourceOf(machine)}.${state}`),
    )
    .sort();
}
