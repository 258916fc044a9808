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

/**
 * A request AWS itself makes with a caller's role, which no code of ours sends: Step Functions invoking
 * a function or starting a worker build with the state machine's role, Lambda and CodeBuild writing a
 * step's log lines with the function's or the worker's. The local runner reports each where it
 * happens, as SDK-shaped client and command names; tests check them against the role like the code's
 * own requests. Without a listener (a local run) nothing happens.
 */
export interface PlatformRequest {
  caller: AwsCaller;
  /** The SDK client that would send it: `LambdaClient`, `CodeBuildClient`, `CloudWatchLogsClient`. */
  client: string;
  command: string;
  input: Record<string, unknown>;
}

type PlatformListener = (request: PlatformRequest) => Promise<void>;
const platformListeners = new Set<PlatformListener>();

/** Tests: `listener` sees every platform request; it may reject, as AWS refuses a denied one. */
export function onPlatformRequest(listener: PlatformListener): void {
  platformListeners.add(listener);
}

export async function platformRequest(request: PlatformRequest): Promise<void> {
  for (const listener of platformListeners) await listener(request);
}
