/**
 * No role grants what its code never asks for: each function's grants (functions/tasks.ts) hold
 * exactly the actions of the table of calls (test/support/iam/calls.ts), which the IAM-enforcing tests
 * keep honest by failing any request the table does not list.
 */
import { describe, expect, it } from '@jest/globals';
import { functions } from '../../../functions/tasks.ts';
import { callsOf } from '../../support/iam/calls.ts';

describe('function grants', () => {
  it.each(Object.keys(callsOf) as (keyof typeof callsOf)[])(
    '%s grants exactly the actions its code calls',
    (key) => {
      const granted = new Set(
        (functions[key].grants as readonly { actions: readonly string[] }[]).flatMap(
          (grant) => grant.actions,
        ),
      );
      expect([...granted].sort()).toEqual(Object.keys(callsOf[key]).sort());
    },
  );

  it('has a row for every Lambda function and for the worker-only drill of Render', () => {
    const lambdaFunctions = Object.entries(functions)
      .filter(([, spec]) => (spec as { worker?: string }).worker !== 'worker-only')
      .map(([key]) => key);
    expect(Object.keys(callsOf).sort()).toEqual([...lambdaFunctions, 'renderDrill'].sort());
  });
});
