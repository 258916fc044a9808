/**
 * Evaluates one AWS request of a caller with @cloud-copilot/iam-simulate: the IAM actions the command
 * needs (./requests.ts), each against the caller's role in the template (./policies.ts), the stage key
 * with its key policy too, and each allowed action of the function's code against its table of calls
 * (./calls.ts); the requests AWS makes for it (Lambda writing its logs) are not in that table.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { AwsCaller } from '../../../tools/local/aws-caller.ts';
import { callsOf, operatorCalls } from './calls.ts';
import type { Denial } from './enforce.ts';
import { account, isOperator, keyArn, keyPolicy, resourcesOf, roleOf, rolePolicies } from './policies.ts';
import { type AuthorizedRequest, authorizedRequests } from './requests.ts';

/** Evaluates one request; the denials it meets (none when every action is allowed). */
export async function evaluate(
  caller: AwsCaller,
  client: string,
  command: string,
  input: Record<string, unknown>,
  /** A request AWS makes with the caller's role (tools/local/aws-caller.ts): not in its table of calls. */
  options: { platform?: boolean } = {},
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
  const policy = rolePolicies(resourcesOf(caller))[role];
  if (!policy) throw new Error(`the template has no role ${role}`);
  const denials: Denial[] = [];
  const calls = options.platform
    ? undefined
    : isOperator(caller.principal)
      ? operatorCalls
      : (callsOf as Record<string, Record<string, string>>)[caller.principal];
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
