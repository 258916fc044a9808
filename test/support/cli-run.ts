/**
 * backupctl as its tests run it: the real `main` in this process, with what it prints to stdout and
 * stderr captured line by line (and kept off the test output). A `--stage` command's AWS requests are
 * checked against the operator policy (test/support/iam/): those of real SDK clients where every
 * client sends, those of the stubs a test hands in (Step Functions, Secrets Manager, CloudWatch Logs)
 * here, as the client each stands for.
 */
import { jest } from '@jest/globals';
import { Client } from '@smithy/core/client';
import type { CliDependencies } from '../../tools/cli/context.ts';
import { main } from '../../tools/cli/main.ts';
import { checkStubRequest } from './iam/enforce.ts';

type Send = { send(command: never): Promise<unknown> };

/** A client factory whose stubs' requests are checked first, as the named client's would be. */
function checked<C extends Send>(
  factory: ((region: string) => C) | undefined,
  clientName: string,
): ((region: string) => C) | undefined {
  if (!factory) return undefined;
  return (region) => {
    const client = factory(region);
    if (client instanceof Client) return client;
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    return new Proxy(client, {
      get: (target, property) => {
        if (property === 'send') {
          return async (command: unknown) => {
            await checkStubRequest(clientName, command);
            return send(command);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
}

function checkedDeps(deps: CliDependencies | undefined): CliDependencies {
  if (!deps) return {};
  const sfn = checked(deps.sfn, 'SFNClient');
  const secrets = checked(deps.secrets, 'SecretsManagerClient');
  const logs = checked(deps.logs, 'CloudWatchLogsClient');
  return { ...deps, ...(sfn ? { sfn } : {}), ...(secrets ? { secrets } : {}), ...(logs ? { logs } : {}) };
}

export interface CliRun {
  code: number;
  lines: string[];
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], deps?: CliDependencies): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
  const error = jest
    .spyOn(console, 'error')
    .mockImplementation((line: unknown) => void err.push(String(line)));
  try {
    // Captured text is compared as text: no colour, whatever terminal the tests run in.
    const code = await main(argv, { colour: false, ...checkedDeps(deps) });
    return { code, lines: out, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
