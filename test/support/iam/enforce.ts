/**
 * IAM for the local parts: every AWS SDK request made for a known caller (tools/local/aws-caller.ts,
 * or the worker process as a whole) is evaluated with @cloud-copilot/iam-simulate against the policy
 * the packaged template gives that caller's role (./policies.ts). A denied request fails as AWS fails
 * it (AccessDenied, HTTP 403), so the step behaves as it would on AWS, and is recorded so that the test
 * fails naming the function, its role, the action and the resource, whatever the step made of the 403.
 */
import { appendFileSync } from 'node:fs';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Client } from '@smithy/core/client';
import { type AwsCaller, awsCaller } from '../../../tools/local/aws-caller.ts';
import { callsOf } from './calls.ts';
import { account, keyArn, keyPolicy, roleOf, rolePolicies, stageResourcesOf } from './policies.ts';
import { type AuthorizedRequest, authorizedRequests } from './requests.ts';

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

/** Evaluates one request; the denials it meets (none when every action is allowed). */
export async function evaluate(
  caller: AwsCaller,
  client: string,
  command: string,
  input: Record<string, unknown>,
): Promise<Denial[]> {
  const role = roleOf(caller.principal);
  const requests = authorizedRequests(client, command, input, caller.settings);
  if (!requests) {
    return [
      {
        principal: caller.principal,
        role,
        action: `${client}.${command}`,
        resource: '-',
        result: 'no IAM mapping in test/support/iam/requests.ts',
      },
    ];
  }
  const policy = rolePolicies(stageResourcesOf(caller.settings))[role];
  if (!policy) throw new Error(`the template has no role ${role}`);
  const denials: Denial[] = [];
  const calls = (callsOf as Record<string, Record<string, string>>)[caller.principal];
  for (const request of requests) {
    const result = await simulate(role, policy.document, request);
    if (result !== 'Allowed') denials.push({ principal: caller.principal, role, ...request, result });
    else if (calls && !(request.action in calls)) {
      // Allowed, but the table of calls says this function never asks for it: the table must follow.
      denials.push({
        principal: caller.principal,
        role,
        ...request,
        result: 'allowed, but missing from test/support/iam/calls.ts',
      });
    }
  }
  return denials;
}

async function simulate(role: string, document: unknown, request: AuthorizedRequest): Promise<string> {
  // The stage's resources are in the role's own account; the key also answers with its key policy.
  const resourceAccount = /^arn:aws:[^:]+:[^:]*:(\d{12}):/.exec(request.resource)?.[1] ?? account;
  const response = await runSimulation(
    {
      request: {
        principal: `arn:aws:iam::${resourceAccount}:role/${role}`,
        action: request.action,
        resource: { resource: request.resource, accountId: resourceAccount },
        contextVariables: request.context,
      },
      identityPolicies: [{ name: role, policy: document }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.resource === keyArn ? { resourcePolicy: keyPolicy() } : {}),
    },
    {},
  );
  if (response.resultType === 'error') return `not evaluable: ${JSON.stringify(response.errors)}`;
  return response.overallResult;
}

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
  const denials = await evaluate(caller, client.constructor.name, action, sent.input);
  if (denials.length === 0) return;
  recorded.push(...denials);
  if (report) for (const denial of denials) appendFileSync(report, `${JSON.stringify(denial)}\n`);
  throw accessDenied(denials);
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
  const send = Client.prototype.send as (this: object, ...args: unknown[]) => Promise<unknown>;
  Client.prototype.send = async function checkedSend(this: object, ...args: unknown[]) {
    await checkRequest(this, args[0], options.defaultCaller, options.report);
    return send.apply(this, args);
  } as typeof Client.prototype.send;
}
