import { ListStateMachinesCommand, SFNServiceException } from '@aws-sdk/client-sfn';
import { describe, expect, it } from '@jest/globals';
import { callSfn, executionConsoleUrl, isThrottling, type SfnApi } from '../../../../lib/aws/sfn.ts';

const throttled = () =>
  new SFNServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'Rate exceeded',
  });

function answering(...answers: (Error | object)[]): SfnApi & { calls: number } {
  const api = {
    calls: 0,
    async send() {
      const answer = answers[api.calls++];
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return api;
}

describe('callSfn()', () => {
  it('backs off exponentially while Step Functions throttles, then returns the answer', async () => {
    const waits: number[] = [];
    const api = answering(throttled(), throttled(), throttled(), { stateMachines: [] });
    const answer = await callSfn(api, new ListStateMachinesCommand({}), {
      sleep: async (ms) => void waits.push(ms),
    });
    expect(answer).toEqual({ stateMachines: [] });
    expect(waits).toEqual([1000, 2000, 4000]);
  });

  it('gives up after the last attempt with the throttling error itself', async () => {
    const api = answering(throttled(), throttled(), throttled());
    await expect(
      callSfn(api, new ListStateMachinesCommand({}), { sleep: async () => undefined, maxAttempts: 3 }),
    ).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(api.calls).toBe(3);
  });

  it('does not retry other errors', async () => {
    const denied = new SFNServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'not authorized to perform: states:ListStateMachines',
    });
    const api = answering(denied, { stateMachines: [] });
    await expect(
      callSfn(api, new ListStateMachinesCommand({}), { sleep: async () => undefined }),
    ).rejects.toBe(denied);
    expect(api.calls).toBe(1);
  });
});

describe('isThrottling()', () => {
  it('knows throttling by name, by the SDK retry hint and by HTTP 429', () => {
    expect(isThrottling(throttled())).toBe(true);
    expect(isThrottling({ name: 'X', $retryable: { throttling: true } })).toBe(true);
    expect(isThrottling({ name: 'X', $metadata: { httpStatusCode: 429 } })).toBe(true);
    expect(isThrottling(new Error('ECONNRESET'))).toBe(false);
  });
});

describe('executionConsoleUrl()', () => {
  it('links the execution in its own region', () => {
    const arn = 'arn:aws:states:eu-central-1:123456789012:execution:verified-pg-backups-prod-backup:cli-1';
    expect(executionConsoleUrl(arn)).toBe(
      `https://eu-central-1.console.aws.amazon.com/states/home?region=eu-central-1#/v2/executions/details/${arn}`,
    );
  });
});
