/**
 * Which function of the Task table (or which state machine) the local runner is making AWS requests
 * for. On AWS each function has its own role; locally every step shares one process and one set of
 * credentials, so the runner names the caller around each step and tests check every request against
 * that caller's role in the packaged template (test/support/iam/).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface AwsCaller {
  /** A function key of functions/tasks.ts, `worker`, or `state-machine:<machine>`. */
  principal: string;
  /** The settings the caller runs with (which bucket, topics and secrets are the stage's). */
  settings: Record<string, string>;
}

export const awsCaller = new AsyncLocalStorage<AwsCaller>();
