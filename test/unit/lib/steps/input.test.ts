/**
 * Execution input and step events are checked before anything else happens: every bad value fails
 * with an InputValidationError that names its field, and the database and the bucket are never touched.
 */
import { describe, expect, it } from '@jest/globals';
import { drillInputSchema } from '../../../../lib/drill/input.ts';
import { InputValidationError } from '../../../../lib/errors.ts';
import type { StepContext } from '../../../../lib/lambda/handler.ts';
import type { Runtime } from '../../../../lib/runtime.ts';
import { checksumStep } from '../../../../lib/steps/checksum.ts';
import { drillRestoreStep } from '../../../../lib/steps/drill-restore.ts';
import { selectBackupStep } from '../../../../lib/steps/drill-select-backup.ts';
import { dumpStep } from '../../../../lib/steps/dump.ts';
import {
  backupIdEventSchema,
  executionInputSchema,
  parseInput,
  restoreEventSchema,
} from '../../../../lib/steps/input.ts';
import { promoteStep } from '../../../../lib/steps/promote.ts';
import { verifyStep } from '../../../../lib/steps/verify.ts';
import { stepContext } from '../../../support/step-context.ts';

function rejection(schema: Parameters<typeof parseInput>[0], value: unknown): InputValidationError {
  try {
    parseInput(schema, value, 'input');
  } catch (error) {
    if (error instanceof InputValidationError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

const badExecutionInputs: [string, unknown, string][] = [
  ['an unknown field', { trigger: 'manual', compresion: 'gzip' }, 'compresion'],
  ['a second unknown field next to valid ones', { reason: 'ok', dryRun: true }, 'dryRun'],
  ['a trigger of the wrong type', { trigger: 1 }, 'trigger'],
  ['a trigger outside the list', { trigger: 'cron' }, 'trigger'],
  ['a reason of the wrong type', { reason: ['a'] }, 'reason'],
  ['a reason over 500 characters', { reason: 'x'.repeat(501) }, 'reason'],
  ['a reason with a line break', { reason: 'one\ntwo' }, 'reason'],
  ['a reason with an escape character', { reason: 'bell\u001b[31m' }, 'reason'],
  ['a malformed compression', { compression: 'zstd:99' }, 'compression'],
  ['a compression with a shell payload', { compression: 'gzip;rm -rf /' }, 'compression'],
  ['an input that is not an object', 'backup please', '(root)'],
  ['an input that is a list', [{ trigger: 'manual' }], '(root)'],
  ['a null input', null, '(root)'],
];

describe('executionInputSchema', () => {
  it.each(badExecutionInputs)('rejects %s, naming the field', (_case, value, field) => {
    const error = rejection(executionInputSchema, value);
    expect(error.details).toEqual({ field });
    expect(error.message).toContain(`field "${field}"`);
    expect(error.transient).toBe(false);
  });

  it('accepts a reason of exactly 500 characters and fills in the trigger', () => {
    expect(parseInput(executionInputSchema, { reason: 'é'.repeat(500) }, 'input')).toEqual({
      trigger: 'manual',
      reason: 'é'.repeat(500),
    });
  });

  it('never echoes the rejected value', () => {
    const error = rejection(executionInputSchema, { reason: `secret-${'x'.repeat(600)}` });
    expect(error.message).not.toContain('secret-');
  });
});

describe('step events', () => {
  it.each([
    ['a malformed backup id', { backupId: '../../etc/passwd' }, 'backupId'],
    ['a missing backup id', {}, 'backupId'],
    ['an unknown field', { backupId: '20260102T030405Z-a1b2c3', force: true }, 'force'],
  ])('rejects %s', (_case, value, field) => {
    expect(rejection(backupIdEventSchema, value).details).toEqual({ field });
  });

  it('rejects an execution id that is not a short string', () => {
    const backupId = '20260102T030405Z-a1b2c3';
    expect(rejection(restoreEventSchema, { backupId, executionId: 7 }).details).toEqual({
      field: 'executionId',
    });
    expect(rejection(restoreEventSchema, { backupId, executionId: 'x'.repeat(2049) }).details).toEqual({
      field: 'executionId',
    });
  });
});

describe('drillInputSchema', () => {
  it.each([
    ['an unknown field', { backupid: 'latest' }, 'backupid'],
    ['a malformed backup id', { backupId: 'yesterday' }, 'backupId'],
    ['a reason over 500 characters', { reason: 'x'.repeat(501) }, 'reason'],
    ['a trigger of the wrong type', { trigger: false }, 'trigger'],
  ])('rejects %s, naming the field', (_case, value, field) => {
    expect(rejection(drillInputSchema, value).details).toEqual({ field });
  });
});

/** A runtime whose every dependency fails the test if a step reaches for it. */
const untouchable = new Proxy({} as Runtime, {
  get(_target, property) {
    if (property === 'then') return undefined;
    throw new Error(`the step touched runtime.${String(property)} before validating its input`);
  },
});

describe('steps', () => {
  const steps: [string, (event: unknown, context: StepContext) => Promise<unknown>, unknown][] = [
    ['Dump', dumpStep, { execution: { trigger: 'manual', reason: 'x'.repeat(501) } }],
    ['Promote', promoteStep, { backupId: 'nope' }],
    ['Checksum', checksumStep, { backupId: '20260102T030405Z-a1b2c3', extra: 1 }],
    ['Verify', verifyStep, { backupId: 1 }],
    ['RestoreAndCheck (drill)', drillRestoreStep, {}],
    ['SelectBackup (drill)', selectBackupStep, { execution: { backupId: 'yesterday' } }],
  ];

  it.each(steps)(
    '%s validates its event before touching the database or the bucket',
    async (_name, step, event) => {
      await expect(step(event, stepContext(untouchable))).rejects.toBeInstanceOf(InputValidationError);
    },
  );
});
