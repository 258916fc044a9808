/**
 * The worker's process: read the request from the environment, run the step, write its result record,
 * exit (lib/worker/run.ts). functions/worker/handler.ts hands in the handlers it may run; when that file
 * is the main script (CodeBuild's `node handler.mjs`, the local runner's child process) this runs,
 * otherwise (imported, or deployed as the Lambda that only carries the bundle) nothing starts.
 *
 * Exit codes: 0 when the record was written, whatever the step's verdict; 1 when no record could be
 * written, so the build fails and the state machine says WorkerFailedError.
 */
import { pathToFileURL } from 'node:url';
import { ConfigurationError, describeError } from '../errors.ts';
import type { StepHandler } from '../lambda/handler.ts';
import { createLogger } from '../logging.ts';
import { runtimeFromEnvironment } from '../runtime.ts';
import { stopScratchServersOnSignals } from '../verify/scratch-registry.ts';
import { readWorkerRequest, runWorkerTask, writeWorkerResult } from './run.ts';

export type WorkerHandlers = Readonly<Record<string, StepHandler<unknown>>>;

/** The worker's own lines are JSON like every step's (CloudWatch on CodeBuild, the step log locally). */
const logger = createLogger();

async function main(handlers: WorkerHandlers): Promise<number> {
  // SIGTERM (a stopped build, the local runner's timeout) removes any scratch server before exiting.
  stopScratchServersOnSignals();
  let request: ReturnType<typeof readWorkerRequest>;
  try {
    request = readWorkerRequest(process.env);
  } catch (error) {
    logger.error('worker request unusable', { errorMessage: describeError(error) });
    return 1;
  }
  const result = await runWorkerTask(request, handlers);
  try {
    await writeWorkerResult(runtimeFromEnvironment().store, request, result);
  } catch (error) {
    logger.error('worker result not written', {
      task: request.task,
      buildId: request.buildId,
      errorMessage: describeError(error),
    });
    return 1;
  }
  logger.info('worker finished', {
    task: request.task,
    buildId: request.buildId,
    outcome: result.outcome,
    resultKey: request.resultKey,
  });
  return 0;
}

/** Runs the worker when `moduleUrl` is the main script; returns the carrier Lambda's handler. */
export function workerEntry(moduleUrl: string, handlers: WorkerHandlers): () => Promise<never> {
  if (process.argv[1] && moduleUrl === pathToFileURL(process.argv[1]).href) {
    main(handlers).then(
      (code) => process.exit(code),
      (error: unknown) => {
        logger.error('worker failed', { errorMessage: describeError(error) });
        process.exit(1);
      },
    );
  }
  return async () => {
    throw new ConfigurationError(
      'the worker function only carries the worker code for CodeBuild; the state machines start builds, never this function',
    );
  };
}
