/**
 * A step's contract (lib/lambda/step.ts defineStep): the input is parsed at the edge, `scope` hands
 * `run` the runtime of that database's vault, and where outputs are checked an answer outside the
 * declared output fails with StepContractError naming the field.
 */
import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { readRuntimeSettings } from '../../../../lib/config.ts';
import { InputValidationError, StepContractError } from '../../../../lib/errors.ts';
import { defineStep } from '../../../../lib/lambda/step.ts';
import { createRuntime } from '../../../../lib/runtime.ts';
import { databaseTargetSchema } from '../../../../lib/steps/input.ts';
import { stepContext } from '../../../support/step-context.ts';

const runtime = createRuntime(readRuntimeSettings({ BACKUP_BUCKET: 'backups-test' }));

const echoStep = defineStep({
  event: 'Echo step event',
  input: z.strictObject({ count: z.number(), target: databaseTargetSchema.optional() }),
  output: z.object({ count: z.number(), scope: z.string().nullable() }),
  scope: (event) => event.target,
  run: async ({ count }, { runtime: scoped }) => ({ count, scope: scoped.store.scope ?? null }),
});

const liarStep = defineStep({
  event: 'Liar step event',
  input: z.object({}),
  output: z.object({ backupId: z.string() }),
  // The compiler would refuse this without the cast: the check is for what the compiler cannot see
  // (a record read back, a spread of another module's result).
  run: async () => JSON.parse('{"backupId": 7}') as { backupId: string },
});

describe('defineStep()', () => {
  it('parses the input and hands run the runtime of the database the event names', async () => {
    const answer = await echoStep(
      { count: 2, target: { database: 'ledger', scope: 'ledger' } },
      stepContext(runtime),
    );
    expect(answer).toEqual({ count: 2, scope: 'ledger' });
    expect(await echoStep({ count: 3 }, stepContext(runtime))).toEqual({ count: 3, scope: null });
  });

  it('refuses an event outside its input, naming the field', async () => {
    await expect(echoStep({ count: '2' }, stepContext(runtime))).rejects.toThrow(
      new InputValidationError(
        'Echo step event: field "count" Invalid input: expected number, received string',
      ),
    );
  });

  it('fails an answer outside its output where outputs are checked, and only there', async () => {
    await expect(liarStep({}, stepContext(runtime))).rejects.toBeInstanceOf(StepContractError);
    await expect(liarStep({}, stepContext(runtime))).rejects.toThrow(
      'Liar step answered outside its contract: field "backupId"',
    );
    expect(await liarStep({}, { ...stepContext(runtime), checkOutputs: false })).toEqual({ backupId: 7 });
  });

  it('carries its contract for the readers of its output', () => {
    expect(Object.keys(echoStep.contract)).toEqual(['event', 'input', 'output']);
  });
});
