/** The state machine file and the error catalog are one contract: names must match on both sides. */

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import aslValidator from 'asl-validator';
import { errorCatalog, transientErrorNames } from '../../../lib/errors.ts';
import { resolvePlaceholders } from '../../../tools/local/state-machine-runner.ts';
import { type AslState, awsErrorName, everyState } from '../../support/definitions.ts';

interface RetryRule {
  ErrorEquals: string[];
  Comment?: string;
}
interface State {
  Type: string;
  Retry?: RetryRule[];
  Catch?: { ErrorEquals: string[]; ResultPath?: string }[];
}

const text = await readFile(new URL('../../../statemachines/backup.asl.json', import.meta.url), 'utf8');
const definition = JSON.parse(text) as { States: Record<string, State> };
/** The pipeline's steps: Task states, and the Parallel states that run a step on the worker. */
const tasks = Object.entries(definition.States).filter(([, state]) =>
  ['Task', 'Parallel'].includes(state.Type),
);
/** Every state with Retry or Catch rules, those inside the worker's branches included. */
const ruled = everyState(definition.States as Record<string, AslState>).filter(([, state]) =>
  ['Task', 'Parallel'].includes(state.Type),
);
const awsNames = awsErrorName;

describe('statemachines/backup.asl.json', () => {
  it('passes asl-validator once its CloudFormation placeholders are resolved', () => {
    const result = aslValidator(JSON.parse(resolvePlaceholders(text)), { checkArn: true, checkPaths: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('names in ErrorEquals exist in the error catalog', () => {
    const names = ruled.flatMap(([, state]) =>
      [...(state.Retry ?? []), ...(state.Catch ?? [])].flatMap((r) => r.ErrorEquals),
    );
    const unknown = names.filter((name) => !awsNames(name) && !(name in errorCatalog));
    expect(unknown).toEqual([]);
  });

  it('retries only transient errors, and every Retry says what it covers', () => {
    // NotifyFailure is exempt: it retries anything, because the failure alert must get out.
    for (const [, state] of ruled.filter(([n]) => n !== 'NotifyFailure')) {
      for (const rule of state.Retry ?? []) {
        expect(rule.Comment).toEqual(expect.any(String));
        for (const name of rule.ErrorEquals.filter((n) => !awsNames(n))) {
          expect(transientErrorNames).toContain(name);
        }
        expect(rule.ErrorEquals).not.toContain('States.ALL');
      }
    }
  });

  it('catches every failure of a pipeline step, keeping the input for the alert', () => {
    for (const [name, state] of tasks.filter(([n]) => n !== 'NotifyFailure')) {
      expect({ name, catch: state.Catch?.[0] }).toEqual({
        name,
        catch: expect.objectContaining({ ErrorEquals: ['States.ALL'], ResultPath: '$.error' }),
      });
    }
  });
});
