/**
 * The nightly run's last state: what became of each database's backup execution. A failed one is
 * named with its own error (the child execution's, read from the failure Step Functions reports for
 * `startExecution.sync:2`: a Cause holding the child's Error and Cause, in either of the shapes it
 * takes); the run then fails with the first failure's error, so `backupctl` and the status report
 * treat it as they treat a single database's failure.
 */
import { z } from 'zod';
import { defineStep } from '../lambda/step.ts';
import { readableCause } from '../report/executions.ts';
import { executionIdField } from './input.ts';

const resultSchema = z.object({
  database: z.string(),
  result: z.object({ status: z.string().optional(), backupId: z.string().nullable().optional() }).optional(),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

const concludeEventSchema = z.strictObject({
  executionId: executionIdField,
  databases: z.array(resultSchema),
  /** The Globals state's record, or its caught error ({Error, Cause}). */
  globals: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

/** One database's outcome: verified with its backup, or failed with the child's own error and cause. */
const outcomeSchema = z.object({
  database: z.string(),
  status: z.enum(['verified', 'failed']),
  backupId: z.string().nullable().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
});

/** The night's (or the drills') verdict: each database's outcome, and the first failure's error. */
export const conclusionSchema = z.object({
  databases: z.array(outcomeSchema),
  globals: z.enum(['captured', 'failed', 'not run']),
  failed: z.number().int().min(0),
  verified: z.number().int().min(0),
  error: z.string().optional(),
  cause: z.string().optional(),
});
export type DatabaseOutcome = z.infer<typeof outcomeSchema>;

type Verified = { database: string; status: 'verified'; backupId: string | null };
type Failed = { database: string; status: 'failed'; error: string; cause: string };

/** The child execution's own error from a `startExecution.sync:2` failure, else the failure itself. */
export function childFailure(error: { Error?: string | undefined; Cause?: string | undefined }): {
  error: string;
  cause: string;
} {
  const cause = error.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as {
      Error?: unknown;
      Cause?: unknown;
      error?: unknown;
      cause?: unknown;
    };
    const name = parsed.Error ?? parsed.error;
    if (typeof name === 'string') {
      const text = parsed.Cause ?? parsed.cause;
      return { error: name, cause: readableCause(typeof text === 'string' ? text : '') };
    }
  } catch {
    // Not JSON: the failure is the Task's own (a timeout, a refused StartExecution).
  }
  return { error: error.Error ?? 'States.TaskFailed', cause: readableCause(cause) };
}

export const concludeStep = defineStep({
  event: 'Conclude step event',
  input: concludeEventSchema,
  output: conclusionSchema,
  run: async ({ databases, globals }) => {
    const outcomes = databases.map((entry): Verified | Failed => {
      if (!entry.error) {
        return {
          database: entry.database,
          status: 'verified' as const,
          backupId: entry.result?.backupId ?? null,
        };
      }
      const failure = childFailure(entry.error);
      return { database: entry.database, status: 'failed' as const, ...failure };
    });
    // The globals count as one more part of the night: their failure fails it too.
    if (globals?.Error !== undefined) {
      outcomes.push({ database: '(globals)', status: 'failed' as const, ...childFailure(globals) });
    }
    const failed = outcomes.flatMap((outcome) => (outcome.status === 'failed' ? [outcome] : []));
    const first = failed[0];
    return {
      databases: outcomes,
      globals:
        globals?.Error === undefined && globals
          ? ('captured' as const)
          : globals
            ? ('failed' as const)
            : ('not run' as const),
      failed: failed.length,
      verified: outcomes.length - failed.length,
      ...(first
        ? {
            error: first.error,
            cause: `${failed.length} of ${outcomes.length} database(s) failed: ${failed
              .map((f) => `${f.database} (${f.error}: ${f.cause.slice(0, 300)})`)
              .join('; ')}`.slice(0, 32_000),
          }
        : {}),
    };
  },
});
