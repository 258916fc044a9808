/**
 * One step on the long-running worker: the very handler Lambda runs (functions/<name>/handler.ts, the
 * same bundle and the same pg layers), called with a context whose deadline is the build's, and its
 * output or error written as the result record (lib/worker/result.ts). The entry point is
 * functions/worker/handler.ts; CodeBuild runs it on AWS, the local runner as a child process.
 *
 * The request comes from the environment the state machine gave the build:
 *   WORKER_TASK        the function key of the Task table (dump, verify, drillRestore, restore, renderDrill)
 *   WORKER_EVENT       the step's event, JSON, exactly what the Lambda would get
 *   WORKER_EXECUTION   the execution's name, WORKER_STATE the Task state's name (the record's key)
 *   CODEBUILD_BUILD_ID the build (set by CodeBuild; the local runner sets one of the same shape)
 *   CODEBUILD_START_TIME + WORKER_TIMEOUT_SECONDS   the deadline (ms since the epoch, seconds)
 */
import type { Context } from 'aws-lambda';
import { ConfigurationError, describeError, InputValidationError } from '../errors.ts';
import type { StepHandler } from '../lambda/handler.ts';
import { settings } from '../settings.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { type WorkerResult, workerResultKey } from './result.ts';

export interface WorkerRequest {
  task: string;
  event: unknown;
  executionName: string;
  state: string;
  buildId: string;
  /** When the venue stops the run (ms since the epoch); the step gets the same reserve as on Lambda. */
  deadline: number;
  resultKey: string;
}

/** The longest a build may run (CodeBuild's maximum, 36 h): the deadline when none is given. */
const maximumSeconds = 36 * 3600;

export function readWorkerRequest(env: NodeJS.ProcessEnv): WorkerRequest {
  const required = (name: string) => {
    const value = env[name];
    if (!value) throw new ConfigurationError(`the worker needs ${name} in its environment`);
    return value;
  };
  const task = required('WORKER_TASK');
  const executionName = required('WORKER_EXECUTION');
  const state = required('WORKER_STATE');
  const buildId = required('CODEBUILD_BUILD_ID');
  const resultKey = workerResultKey(executionName, state, buildId);
  let event: unknown;
  try {
    event = JSON.parse(required('WORKER_EVENT'));
  } catch (error) {
    throw new InputValidationError(`WORKER_EVENT is not JSON: ${describeError(error)}`);
  }
  // Read by the rules of their rows in lib/settings.ts, as the runtime reads them.
  const started = settings.CODEBUILD_START_TIME.schema.safeParse(env.CODEBUILD_START_TIME);
  const seconds = settings.WORKER_TIMEOUT_SECONDS.schema.safeParse(env.WORKER_TIMEOUT_SECONDS);
  if (!started.success || !seconds.success) {
    throw new ConfigurationError('CODEBUILD_START_TIME and WORKER_TIMEOUT_SECONDS must be numbers');
  }
  const deadline = (started.data ?? Date.now()) + (seconds.data ?? maximumSeconds) * 1000;
  return { task, event, executionName, state, buildId, deadline, resultKey };
}

/**
 * Runs the step and returns its record (the caller writes it). The step's own errors become a failed
 * record with their name; only a record that cannot be written fails the build.
 */
export async function runWorkerTask(
  request: WorkerRequest,
  handlers: Readonly<Record<string, StepHandler<unknown>>>,
  /** Stops the step early (locally: the run that started the worker died). */
  stop?: AbortSignal | undefined,
): Promise<WorkerResult> {
  const startedAt = new Date().toISOString();
  const base = { resultVersion: 1 as const, task: request.task, buildId: request.buildId, startedAt };
  const chosen = handlers[request.task];
  const handler = stop && chosen ? chosen.withDependencies({ stop }) : chosen;
  try {
    if (!handler) {
      throw new ConfigurationError(
        `the worker has no step ${JSON.stringify(request.task)} (it runs ${Object.keys(handlers).join(', ')})`,
      );
    }
    const context: Partial<Context> = {
      functionName: `worker:${request.task}`,
      awsRequestId: request.buildId,
      getRemainingTimeInMillis: () => request.deadline - Date.now(),
    };
    const output = await handler(request.event, context as Context);
    return { ...base, outcome: 'succeeded', finishedAt: new Date().toISOString(), output };
  } catch (error) {
    if (stop?.aborted) {
      // Whatever the step was doing is unfinished: a restore's target holds part of the backup.
      return {
        ...base,
        outcome: 'failed',
        finishedAt: new Date().toISOString(),
        error: {
          name: 'WorkerFailedError',
          message: describeError(
            `${(stop.reason as Error | undefined)?.message ?? 'stopped'} (${describeError(error)}). ` +
              'A restore it ran is possibly partial: its target database may hold part of the backup; restore into it again before using it',
          ).slice(0, 20_000),
        },
      };
    }
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    return {
      ...base,
      outcome: 'failed',
      finishedAt: new Date().toISOString(),
      error: { name, message: describeError(message).slice(0, 20_000) },
    };
  }
}

export async function writeWorkerResult(
  store: Pick<BackupStore, 'putJson'>,
  request: WorkerRequest,
  result: WorkerResult,
): Promise<void> {
  await store.putJson(request.resultKey, result);
}
