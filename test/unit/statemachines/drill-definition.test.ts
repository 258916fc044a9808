/**
 * The drill definition follows the backup's contract. It holds no cleanup state: the scratch server is
 * removed by the step that starts it (test/integration/scratch-server.test.ts).
 */

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import aslValidator from 'asl-validator';
import { tasks as taskTable } from '../../../functions/tasks.ts';
import { errorCatalog, transientErrorNames } from '../../../lib/errors.ts';
import { resolvePlaceholders } from '../../../tools/local/state-machine-runner.ts';
import { type AslState, awsErrorName, everyState, workerResource } from '../../support/definitions.ts';

interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  Default?: string;
  Choices?: { Next: string }[];
  Retry?: { ErrorEquals: string[]; Comment?: string }[];
  Catch?: { ErrorEquals: string[]; ResultPath?: string; Next: string }[];
}

const text = await readFile(new URL('../../../statemachines/drill.asl.json', import.meta.url), 'utf8');
const definition = JSON.parse(text) as { StartAt: string; States: Record<string, State> };
/** The drill's steps: Task states, and the Parallel states that run a step on the worker. */
const tasks = Object.entries(definition.States).filter(([, state]) =>
  ['Task', 'Parallel'].includes(state.Type),
);
/** Every state with Retry or Catch rules, those inside the worker's branches included. */
const ruled = everyState(definition.States as Record<string, AslState>).filter(([, state]) =>
  ['Task', 'Parallel'].includes(state.Type),
);
const awsNames = awsErrorName;

/** Every state reachable from `from`, through Next, Choices, Default and Catch. */
function reachable(from: string): Set<string> {
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length > 0) {
    const name = queue.pop() ?? '';
    if (seen.has(name)) continue;
    seen.add(name);
    const state = definition.States[name];
    for (const next of [
      state?.Next,
      state?.Default,
      ...(state?.Choices ?? []).map((c) => c.Next),
      ...(state?.Catch ?? []).map((c) => c.Next),
    ]) {
      if (next) queue.push(next);
    }
  }
  return seen;
}

describe('statemachines/drill.asl.json', () => {
  it('passes asl-validator once its CloudFormation placeholders are resolved', () => {
    const result = aslValidator(JSON.parse(resolvePlaceholders(text)), { checkArn: true, checkPaths: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('has a local handler for every Task state, on Lambda or the worker', () => {
    const lambdaTasks = ruled
      .filter(
        ([, s]) =>
          s.Type === 'Task' && (s.Resource?.includes('LambdaFunction.Arn') || s.Resource === workerResource),
      )
      .map(([n]) => n);
    expect(lambdaTasks.sort()).toEqual(
      taskTable
        .filter((task) => task.machine === 'drill')
        .map((task) => task.state)
        .sort(),
    );
  });

  it('names in ErrorEquals exist in the error catalog, and only transient ones are retried', () => {
    for (const [name, state] of ruled) {
      for (const rule of [...(state.Retry ?? []), ...(state.Catch ?? [])]) {
        expect(rule.ErrorEquals.filter((n) => !awsNames(n) && !(n in errorCatalog))).toEqual([]);
      }
      if (name === 'NotifyFailure') continue;
      for (const rule of state.Retry ?? []) {
        expect(rule.Comment).toEqual(expect.any(String));
        for (const error of rule.ErrorEquals.filter((n) => !awsNames(n)))
          expect(transientErrorNames).toContain(error);
      }
    }
  });

  it('catches every failure, keeping the input, and always ends in the SNS alert and a Fail state', () => {
    for (const [name, state] of tasks.filter(([n]) => n !== 'NotifyFailure')) {
      expect({ name, catch: state.Catch?.[0] }).toEqual({
        name,
        catch: expect.objectContaining({ ErrorEquals: ['States.ALL'] }),
      });
      const onFailure = reachable(state.Catch?.[0]?.Next ?? '');
      expect({ name, alerts: onFailure.has('NotifyFailure'), fails: onFailure.has('DrillFailed') }).toEqual({
        name,
        alerts: true,
        fails: true,
      });
    }
  });

  it('alerts and fails when the recorded verdict failed, after the evidence was written', () => {
    const onFailedVerdict = reachable(definition.States.DrillPassed?.Default ?? '');
    expect(onFailedVerdict).toContain('NotifyFailure');
    expect(onFailedVerdict).toContain('DrillFailed');
    expect(reachable('RestoreAndCheck')).toContain('RecordEvidence');
  });
});
