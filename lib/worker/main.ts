/**
 * The worker's process: read the request from the environment, run the step, write its result record,
 * exit (lib/worker/run.ts). functions/worker/handler.ts hands in the handlers it may run; when that file
 * is the main script (CodeBuild's `node handler.mjs`, the local runner's child process) this runs,
 * otherwise (imported, or deployed as the Lambda that only carries the bundle) nothing starts.
 *
 * Exit codes: 0 when the record was written, whatever the step's verdict; 1 when no record could be
 * written, so the build fails and the state machine says WorkerFailedError.
 */
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigurationError, describeError, WorkerFailedError } from '../errors.ts';
import type { StepHandler } from '../lambda/handler.ts';
import { createLogger, logKeysOf } from '../logging.ts';
import { runtimeFromEnvironment } from '../runtime.ts';
import { stopScratchServersOnSignals } from '../verify/scratch-registry.ts';
import { readWorkerRequest, runWorkerTask, writeWorkerResult } from './run.ts';

export type WorkerHandlers = Readonly<Record<string, StepHandler<unknown>>>;

/**
 * Locally the worker is a child of the CLI's run, which reads its stdout into the step log. When that
 * run dies (kill -9), nobody reads the pipes any more: the worker's own lines then go straight to the
 * step log (WORKER_LOG_FILE), so its last word is not lost.
 */
let orphaned = false;
const logFile = process.env.WORKER_LOG_FILE;

/** The worker's own lines are JSON like every step's (CloudWatch on CodeBuild, the step log locally). */
const logger = createLogger((line) => {
  if (orphaned && logFile) appendFileSync(logFile, `${line}\n`);
  else process.stdout.write(`${line}\n`);
});

/**
 * Locally (WORKER_STOPS_WITH_PARENT), the run that started the worker holds the other end of its stdin;
 * the kernel closes it when that process dies, however it dies. The step then stops instead of
 * finishing a restore nobody waits for or counts. On CodeBuild nothing is set and nothing watched.
 */
function stopWithParent(env: NodeJS.ProcessEnv): AbortSignal | undefined {
  if (env.WORKER_STOPS_WITH_PARENT !== 'true') return undefined;
  const controller = new AbortController();
  const parent = process.ppid;
  const gone = () => {
    if (controller.signal.aborted) return;
    orphaned = true;
    // Writing to pipes nobody reads fails with EPIPE; those lines go to the step log file instead.
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
    controller.abort(
      new WorkerFailedError(
        `the local run that started this worker (pid ${parent}) is gone; the step stopped`,
      ),
    );
  };
  process.stdin.once('end', gone);
  process.stdin.once('close', gone);
  process.stdin.once('error', gone);
  process.stdin.resume();
  return controller.signal;
}

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
  // Every line of this build names its execution, backup and database, as the step's own lines do.
  logger.appendKeys({ ...logKeysOf(request.event), task: request.task, buildId: request.buildId });
  const stop = stopWithParent(process.env);
  const result = await runWorkerTask(request, handlers, stop);
  if (stop?.aborted) {
    logger.error('worker stopped: the run that started it is gone', {
      task: request.task,
      buildId: request.buildId,
      errorName: result.outcome === 'failed' ? result.error.name : undefined,
      errorMessage: result.outcome === 'failed' ? result.error.message : undefined,
    });
  }
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
