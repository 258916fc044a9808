/**
 * How a step that ran on the long-running worker (CodeBuild) reports back. A build can only say
 * SUCCEEDED or FAILED, which Retry and Catch cannot tell apart, so the worker writes one record per run
 * to the bucket: the step's output, or its error's catalog name and secret-free message. The
 * `<State>Result` Task after the build (lib/steps/worker-result.ts) reads it and answers exactly as the
 * Lambda would have: the output, or an error of the same name. A build that ended without a record
 * (killed, out of memory, timed out) becomes WorkerFailedError, a record that does not parse
 * WorkerResultInvalidError: never a success.
 *
 *   worker/<execution name>/<state>/<build id>.json
 */
import { z } from 'zod';
import { errorCatalog, InputValidationError } from '../errors.ts';

export const workerResultPrefix = 'worker/';

const safePart = /^[A-Za-z0-9_.:-]{1,200}$/;

/** The record's key: one per build, so a retried state never reads an earlier attempt's record. */
export function workerResultKey(executionName: string, state: string, buildId: string): string {
  for (const [field, value] of [
    ['execution name', executionName],
    ['state', state],
    ['build id', buildId],
  ] as const) {
    if (!safePart.test(value)) {
      throw new InputValidationError(
        `worker result: ${field} ${JSON.stringify(value)} is not a safe key part`,
      );
    }
  }
  return `${workerResultPrefix}${executionName}/${state}/${buildId.replace(/:/g, '_')}.json`;
}

export const workerResultSchema = z.discriminatedUnion('outcome', [
  z.strictObject({
    resultVersion: z.literal(1),
    outcome: z.literal('succeeded'),
    task: z.string(),
    buildId: z.string(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    output: z.unknown(),
  }),
  z.strictObject({
    resultVersion: z.literal(1),
    outcome: z.literal('failed'),
    task: z.string(),
    buildId: z.string(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    error: z.strictObject({ name: z.string().min(1).max(100), message: z.string().max(20_000) }),
  }),
]);

export type WorkerResult = z.infer<typeof workerResultSchema>;

/**
 * The error a failed record stands for, with the name the step threw: a catalog error keeps its class
 * (and so `transient`), anything else (a TypeError) keeps its name as Lambda would report it.
 */
export function errorFromRecord(error: { name: string; message: string }): Error {
  const known = errorCatalog[error.name as keyof typeof errorCatalog];
  if (known) return new known(error.message);
  const generic = new Error(error.message);
  generic.name = error.name;
  return generic;
}
