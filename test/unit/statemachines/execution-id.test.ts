/**
 * Logs join up only if every step knows its execution: the step handler puts the event's `executionId`
 * on each line (lib/logging.ts logKeysOf), and Lambda's context does not carry it. So every Task state
 * that invokes one of our functions, and every event a worker build gets, passes $$.Execution.Id.
 */
import { describe, expect, it } from '@jest/globals';
import { machineNames } from '../../../functions/tasks.ts';
import { type AslState, loadAsl } from '../../support/definitions.ts';

type State = AslState & { ItemProcessor?: { States: Record<string, State> } };

function allStates(states: Record<string, State>): [string, State][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.Branches ?? []).flatMap((branch) => allStates(branch.States as Record<string, State>)),
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);
}

const states = machineNames.flatMap((machine) =>
  allStates(loadAsl(machine).States as Record<string, State>).map(
    ([name, state]) => [`${machine}.${name}`, state] as const,
  ),
);

describe('the execution id in every step event', () => {
  it('is passed to each function a Task state invokes', () => {
    const invoking = states.filter(([, state]) => /LambdaFunction\.Arn\}$/.test(state.Resource ?? ''));
    expect(invoking.length).toBeGreaterThan(15);
    const without = invoking
      .filter(([, state]) => state.Parameters?.['executionId.$'] !== '$$.Execution.Id')
      .map(([name]) => name);
    expect(without).toEqual([]);
  });

  it('is in the event of each step a worker build runs', () => {
    const onWorker = states.filter(([, state]) => state.Type === 'Parallel' && state.Parameters?.event);
    expect(onWorker.length).toBeGreaterThanOrEqual(4);
    const without = onWorker
      .filter(
        ([, state]) =>
          (state.Parameters?.event as Record<string, unknown> | undefined)?.['executionId.$'] !==
          '$$.Execution.Id',
      )
      .map(([name]) => name);
    expect(without).toEqual([]);
  });
});
