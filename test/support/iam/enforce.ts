/**
 * IAM for the local parts: every AWS SDK request made for a known caller (tools/local/aws-caller.ts,
 * or the worker process as a whole) is evaluated with @cloud-copilot/iam-simulate against the policy
 * the packaged template gives that caller's role (./evaluate.ts, ./policies.ts). A denied request fails as AWS fails
 * it (AccessDenied, HTTP 403), so the step behaves as it would on AWS, and is recorded so that the test
 * fails naming the function, its role, the action and the resource, whatever the step made of the 403.
 */
import { appendFileSync } from 'node:fs';
import { Client } from '@smithy/core/client';
import {
  type AwsCaller,
  awsCaller,
  onPlatformRequest,
  type PlatformRequest,
} from '../../../tools/local/aws-caller.ts';

export interface Denial {
  principal: string;
  role: string;
  action: string;
  resource: string;
  /** `ImplicitlyDenied`, `ExplicitlyDenied`, or why the request could not be evaluated. */
  result: string;
}

export const describeDenial = (denial: Denial) =>
  `${denial.principal} (${denial.role}) is not allowed ${denial.action} on ${denial.resource}: ${denial.result}`;

/** The error AWS answers a denied request with. */
function accessDenied(denials: Denial[]): Error {
  const error = new Error(`IAM (test): ${denials.map(describeDenial).join('; ')}`);
  error.name = 'AccessDenied';
  Object.assign(error, { $fault: 'client', $metadata: { httpStatusCode: 403 } });
  return error;
}

const recorded: Denial[] = [];

/** The denials since the last call, and forgets them. */
export function takeDenials(): Denial[] {
  return recorded.splice(0);
}

/** Checks one request of an SDK client (`client` is the client instance) for the current caller. */
export async function checkRequest(
  client: object,
  command: unknown,
  defaultCaller?: AwsCaller,
  report?: string,
): Promise<void> {
  const caller = awsCaller.getStore() ?? defaultCaller;
  if (!caller) return;
  const sent = command as { constructor: { name: string }; input: Record<string, unknown> };
  const action = sent.constructor.name.replace(/Command$/, '');
  // Loaded on the first checked request: test files that run no step do not pay for the evaluator.
  const { evaluate } = await import('./evaluate.ts');
  const denials = await evaluate(caller, client.constructor.name, action, sent.input);
  if (denials.length === 0) return;
  recorded.push(...denials);
  if (report) for (const denial of denials) appendFileSync(report, `${JSON.stringify(denial)}\n`);
  throw accessDenied(denials);
}

/**
 * Checks a request AWS makes with a caller's role (tools/local/aws-caller.ts): Step Functions invoking a
 * function, starting a build or a child execution refuses a denied one, and the state fails; Lambda and
 * CodeBuild writing log lines lose them silently, so those are only recorded.
 */
export async function checkPlatformRequest(request: PlatformRequest): Promise<void> {
  const { evaluate } = await import('./evaluate.ts');
  const denials = await evaluate(request.caller, request.client, request.command, request.input, {
    platform: true,
  });
  if (denials.length === 0) return;
  recorded.push(...denials);
  if (request.client !== 'CloudWatchLogsClient') throw accessDenied(denials);
}

/**
 * Checks one request sent to a stub that stands for the AWS client of that name (a test's Step
 * Functions, Secrets Manager or CloudWatch Logs object handed to the CLI), as if the client sent it.
 */
export function checkStubRequest(clientName: string, command: unknown): Promise<void> {
  return checkRequest({ constructor: { name: clientName } }, command);
}

let installed = false;

/**
 * Checks every request an SDK client sends for a caller: the one tools/local/aws-caller.ts names
 * around a step, else `defaultCaller` (the worker process). Requests of no caller (a test's own
 * fixtures) go through unchecked. A client mocked with aws-sdk-client-mock replaces `send` on its
 * class; ./client-mock.ts checks those requests.
 */
export function enforceIam(options: { defaultCaller?: AwsCaller; report?: string } = {}): void {
  if (installed) return;
  installed = true;
  onPlatformRequest(checkPlatformRequest);
  const send = Client.prototype.send as (this: object, ...args: unknown[]) => Promise<unknown>;
  Client.prototype.send = async function checkedSend(this: object, ...args: unknown[]) {
    await checkRequest(this, args[0], options.defaultCaller, options.report);
    return send.apply(this, args);
  } as typeof Client.prototype.send;
}
