/**
 * Wraps a step function as a Lambda handler with middy. Every step gets an AbortSignal that fires a
 * reserve before Lambda's own timeout, so the step can stop its child processes, abort a multipart
 * upload and fail with StepTimeoutError instead of being killed mid-write (which Step Functions would
 * only see as an anonymous Lambda.Unknown). Errors leave with their catalog name, which is what the
 * state machine's Retry/Catch match on; messages are already secret-free.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { StepTimeoutError } from '../errors.ts';
import { getRuntime, type Runtime } from '../runtime.ts';

export type Step<T> = (event: unknown, runtime: Runtime, signal?: AbortSignal) => Promise<T>;

export function deadlineSignal(
  context: Partial<Context> | undefined,
  reserveMs: number,
): {
  signal: AbortSignal;
  clear: () => void;
} {
  const controller = new AbortController();
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined) return { signal: controller.signal, clear: () => undefined };
  const timer = setTimeout(
    () => controller.abort(new StepTimeoutError('step stopped before the Lambda timeout')),
    Math.max(0, remaining - reserveMs),
  );
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

export function stepHandler<T>(step: Step<T>) {
  return middy().handler(async (event: unknown, context: Context) => {
    const runtime = getRuntime();
    const deadline = deadlineSignal(context, runtime.settings.STEP_TIMEOUT_RESERVE_MS);
    try {
      return await step(event, runtime, deadline.signal);
    } finally {
      deadline.clear();
    }
  });
}
