/**
 * The Step Functions API as the CLI uses it. Callers pass anything with the SDK client's `send`, so
 * tests answer by command type without a network. Throttling is answered politely: the SDK's own
 * retries come first, then this module backs off further rather than failing a long follow.
 */
import {
  type GetExecutionHistoryCommand,
  type ListExecutionsCommand,
  type ListStateMachinesCommand,
  type ListTagsForResourceCommand,
  SFNClient,
  type StartExecutionCommand,
} from '@aws-sdk/client-sfn';

/** The commands the CLI sends. */
export type SfnCommand =
  | ListStateMachinesCommand
  | ListTagsForResourceCommand
  | StartExecutionCommand
  | GetExecutionHistoryCommand
  | ListExecutionsCommand;

/** The part of SFNClient the CLI calls; a test stub implements just this. */
export interface SfnApi {
  send(command: SfnCommand, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

export function createSfnClient(region: string): SfnApi {
  return new SFNClient({ region });
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it is aborted. */
export const sleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

const throttlingNames = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

export function isThrottling(error: unknown): boolean {
  const e = error as {
    name?: string;
    $retryable?: { throttling?: boolean };
    $metadata?: { httpStatusCode?: number };
  };
  return (
    throttlingNames.has(e?.name ?? '') ||
    e?.$retryable?.throttling === true ||
    e?.$metadata?.httpStatusCode === 429
  );
}

export interface CallOptions {
  sleep?: Sleep;
  signal?: AbortSignal | undefined;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** Wait before the first retry; doubles each time, up to 20 s. */
  baseDelayMs?: number;
}

/** `api.send(command)`, retried with exponential backoff while Step Functions says it is throttling. */
export async function callSfn<Output>(
  api: SfnApi,
  command: SfnCommand,
  options: CallOptions = {},
): Promise<Output> {
  const wait = options.sleep ?? sleep;
  const maxAttempts = options.maxAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return (await api.send(command, options.signal ? { abortSignal: options.signal } : {})) as Output;
    } catch (error) {
      if (!isThrottling(error) || attempt >= maxAttempts || options.signal?.aborted) throw error;
      await wait(Math.min(20_000, (options.baseDelayMs ?? 1000) * 2 ** (attempt - 1)), options.signal);
    }
  }
}

/**
 * Every page of a paginated call, in order: `command(nextToken)` builds each request, `onPage` takes
 * each answer and returns false to stop early (a listing sorted newest first that reached its limit).
 */
export async function forEachPage<Output extends { nextToken?: string | undefined }>(
  api: SfnApi,
  command: (nextToken: string | undefined) => SfnCommand,
  options: CallOptions,
  onPage: (page: Output) => boolean | undefined,
): Promise<void> {
  let nextToken: string | undefined;
  do {
    const page = await callSfn<Output>(api, command(nextToken), options);
    if (onPage(page) === false) return;
    nextToken = page.nextToken;
  } while (nextToken);
}

/** The Step Functions console page of an execution, where its graph and every step's error show. */
export function executionConsoleUrl(executionArn: string): string {
  const region = executionArn.split(':')[3] ?? 'us-east-1';
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}
