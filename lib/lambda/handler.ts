/**
 * Turns a step (lib/steps/) into a Lambda handler with middy, so functions/<name>/handler.ts is one line:
 *
 *   export const handler = stepHandler('dump', dumpStep);
 *
 * Every invocation:
 * - builds the runtime from its settings (on Lambda: the environment, read once per container);
 * - gets an AbortSignal that fires a reserve before Lambda's own timeout, so the step can stop its child
 *   processes, abort a multipart upload and fail with StepTimeoutError instead of being killed mid-write
 *   (Step Functions would only see an anonymous Lambda.Unknown). middy's own early timeout (on by
 *   default, 5 ms before Lambda's) is switched off: it answers with an uncatalogued TimeoutError while
 *   the step is still stopping its child processes and removing its scratch server;
 * - logs one JSON line when the step starts and one when it ends (Powertools Logger, with the Lambda
 *   context injected by its middy middleware): execution id, backup id, step, key figures or the error
 *   name; every line the step writes in between carries the same ids (lib/logging.ts logKeysOf);
 * - publishes one metric line when it ends (Powertools Metrics, EMF): its duration and the bytes it
 *   moved, under the Stage and Step dimensions;
 * - lets errors leave with their catalog name, which the state machine's Retry/Catch match on.
 *
 * The local runner and the worker call the very same handler, built with `withDependencies` from the
 * settings they were given: nothing writes process.env to steer a step.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { describeError, StepTimeoutError } from '../errors.ts';
import { createLogger, type LineSink, logKeysOf, publishStepMetrics } from '../logging.ts';
import { type Runtime, runtimeFromEnvironment } from '../runtime.ts';
import type { StepContract } from './step.ts';

export interface StepContext {
  runtime: Runtime;
  /** Fires a reserve before the venue's deadline; steps stop their work and clean up. */
  signal: AbortSignal;
  logger: Logger;
  /** Where log and metric lines go when not to stdout (the local runner's log file, the worker's). */
  sink?: LineSink | undefined;
  /** Check the step's answer against its contract (lib/lambda/step.ts): local runs and tests. */
  checkOutputs?: boolean | undefined;
}

export type Step<T> = ((event: unknown, context: StepContext) => Promise<T>) & {
  /** What the step takes and answers (lib/lambda/step.ts defineStep). */
  readonly contract?: StepContract<z.ZodType, z.ZodType>;
};

export interface StepDependencies {
  runtime: () => Runtime;
  /** Log and metric lines go here instead of stdout. */
  sink: LineSink;
  /** Stops the step like its deadline does (the worker: the local run that started it died). */
  stop?: AbortSignal | undefined;
  /** Fail a step whose answer breaks its contract (StepContractError): local runs and tests. */
  checkOutputs?: boolean | undefined;
}

export type StepHandler<T> = ((event: unknown, context: Context) => Promise<T>) & {
  readonly functionKey: string;
  readonly step: Step<T>;
  /** The same handler with another runtime and line sink (local runner, worker, tests). */
  withDependencies(dependencies: Partial<StepDependencies>): StepHandler<T>;
};

export function deadlineSignal(
  context: Partial<Context> | undefined,
  reserveMs: number,
): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined) return { signal: controller.signal, clear: () => undefined };
  const timer = setTimeout(
    () => controller.abort(new StepTimeoutError('step stopped before the Lambda timeout')),
    Math.max(0, remaining - reserveMs),
  );
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** The step's key figures: the scalar fields of its result (outputs are secret-free by design). */
export function keyFigures(result: unknown): Record<string, string | number | boolean> {
  if (!result || typeof result !== 'object') return {};
  const figures: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(result)) {
    if (typeof value === 'number' || typeof value === 'boolean') figures[key] = value;
    else if (typeof value === 'string' && value.length <= 200) figures[key] = value;
  }
  return figures;
}

/**
 * The bytes a step moved, when its result says: the top-level `bytes` of the dump (what it wrote), of
 * Promote (what it copied), of Checksum (what it read back) and of Globals (the roles record). WorkerResult hands on the output of a
 * step that ran on the worker, whose own invocation there published its bytes already.
 */
function bytesMoved(functionKey: string, result: unknown): number | undefined {
  if (functionKey === 'workerResult' || !result || typeof result !== 'object') return undefined;
  const bytes = (result as { bytes?: unknown }).bytes;
  return typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0 ? bytes : undefined;
}

export function stepHandler<T>(
  functionKey: string,
  step: Step<T>,
  dependencies: Partial<StepDependencies> = {},
): StepHandler<T> {
  const logger = createLogger(dependencies.sink);
  const runtime = dependencies.runtime ?? (() => runtimeFromEnvironment(process.env, { logger }));
  const handler = middy<unknown, T, Error, Context>({ timeoutEarlyInMillis: 0 })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event, context) => {
      const keys = logKeysOf(event);
      logger.appendKeys({ step: functionKey, ...keys });
      logger.info('step started');
      const started = Date.now();
      const seconds = () => Math.round(Date.now() - started) / 1000;
      let deadline: ReturnType<typeof deadlineSignal> | undefined;
      let built: Runtime | undefined;
      let succeeded: { result: T } | undefined;
      try {
        built = runtime();
        deadline = deadlineSignal(context, built.settings.STEP_TIMEOUT_RESERVE_MS);
        const result = await step(event, {
          runtime: built,
          signal: dependencies.stop ? AbortSignal.any([deadline.signal, dependencies.stop]) : deadline.signal,
          logger,
          sink: dependencies.sink,
          checkOutputs: dependencies.checkOutputs,
        });
        succeeded = { result };
        logger.info('step succeeded', { seconds: seconds(), figures: keyFigures(result) });
        return result;
      } catch (error) {
        logger.error('step failed', {
          seconds: seconds(),
          errorName: error instanceof Error ? error.name : 'Error',
          errorMessage: describeError(error),
        });
        throw error;
      } finally {
        deadline?.clear();
        // Without settings there is no stage to publish under; the failed line above says why. A metric
        // that cannot be published is a warning: it never turns a step's outcome into another.
        if (built) {
          try {
            publishStepMetrics({
              stage: built.settings.STAGE,
              step: functionKey,
              durationMs: Date.now() - started,
              bytes: succeeded ? bytesMoved(functionKey, succeeded.result) : undefined,
              outcome: succeeded ? 'succeeded' : 'failed',
              keys,
              sink: dependencies.sink,
            });
          } catch (error) {
            logger.warn('step metrics not published', { errorMessage: describeError(error) });
          }
        }
      }
    });
  return Object.assign(handler as unknown as (event: unknown, context: Context) => Promise<T>, {
    functionKey,
    step,
    withDependencies: (more: Partial<StepDependencies>) =>
      stepHandler(functionKey, step, { ...dependencies, ...more }),
  });
}
