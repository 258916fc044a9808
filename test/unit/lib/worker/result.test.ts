import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { DatabaseUnreachableError, RowCountMismatchError } from '../../../../lib/errors.ts';
import type { StepHandler } from '../../../../lib/lambda/handler.ts';
import { buildFacts } from '../../../../lib/steps/worker-result.ts';
import { errorFromRecord, workerResultKey } from '../../../../lib/worker/result.ts';
import { readWorkerRequest, runWorkerTask } from '../../../../lib/worker/run.ts';

const env = {
  WORKER_TASK: 'verify',
  WORKER_STATE: 'Verify',
  WORKER_EXECUTION: 'exec-1',
  WORKER_EVENT: '{"backupId":"20261130T020000Z-abcdef"}',
  CODEBUILD_BUILD_ID: 'verified-pg-backups-prod-worker:1b2c',
  CODEBUILD_START_TIME: '1000000',
  WORKER_TIMEOUT_SECONDS: '600',
};

/** A handler as the Task table's would be: only the call matters here. */
function handlerOf(run: (event: unknown, context: Context) => Promise<unknown>): StepHandler<unknown> {
  return run as unknown as StepHandler<unknown>;
}

describe('worker result records', () => {
  it('are keyed by execution, state and build, with nothing a key could be bent by', () => {
    expect(workerResultKey('exec-1', 'Verify', 'project:1b2c')).toBe(
      'worker/exec-1/Verify/project_1b2c.json',
    );
    for (const bad of ['../x', 'a/b', '', 'x'.repeat(201)]) {
      expect(() => workerResultKey(bad, 'Verify', 'b')).toThrow(
        expect.objectContaining({ name: 'InputValidationError' }),
      );
    }
  });

  it("turn back into the step's error: a catalog error keeps its class, anything else its name", () => {
    const known = errorFromRecord({ name: 'DatabaseUnreachableError', message: 'refused' });
    expect(known).toBeInstanceOf(DatabaseUnreachableError);
    expect((known as DatabaseUnreachableError).transient).toBe(true);
    expect(errorFromRecord({ name: 'RowCountMismatchError', message: 'm' })).toBeInstanceOf(
      RowCountMismatchError,
    );
    const other = errorFromRecord({ name: 'TypeError', message: 'x is undefined' });
    expect({ name: other.name, message: other.message }).toEqual({
      name: 'TypeError',
      message: 'x is undefined',
    });
  });
});

describe('the worker request', () => {
  it('comes from the build environment, with the deadline of the build', () => {
    expect(readWorkerRequest(env)).toEqual({
      task: 'verify',
      event: { backupId: '20261130T020000Z-abcdef' },
      executionName: 'exec-1',
      state: 'Verify',
      buildId: 'verified-pg-backups-prod-worker:1b2c',
      deadline: 1_000_000 + 600_000,
      resultKey: 'worker/exec-1/Verify/verified-pg-backups-prod-worker_1b2c.json',
    });
  });

  it('names what is missing or malformed', () => {
    expect(() => readWorkerRequest({ ...env, WORKER_TASK: undefined })).toThrow(
      'the worker needs WORKER_TASK in its environment',
    );
    expect(() => readWorkerRequest({ ...env, WORKER_EVENT: '{' })).toThrow(
      expect.objectContaining({
        name: 'InputValidationError',
        message: expect.stringMatching(/^WORKER_EVENT is not JSON/),
      }),
    );
    expect(() => readWorkerRequest({ ...env, WORKER_TIMEOUT_SECONDS: 'soon' })).toThrow(
      expect.objectContaining({ name: 'ConfigurationError' }),
    );
  });
});

describe('runWorkerTask', () => {
  const request = readWorkerRequest(env);

  it("records the step's output, after calling it with the build's deadline", async () => {
    let remaining = 0;
    const result = await runWorkerTask(request, {
      verify: handlerOf(async (event, context) => {
        remaining = context.getRemainingTimeInMillis();
        return { got: event };
      }),
    });
    expect(result).toMatchObject({
      resultVersion: 1,
      outcome: 'succeeded',
      task: 'verify',
      buildId: request.buildId,
      output: { got: { backupId: '20261130T020000Z-abcdef' } },
    });
    // The step's deadline signal works from this, as from Lambda's own context.
    expect(Math.abs(remaining - (request.deadline - Date.now()))).toBeLessThan(1000);
  });

  it("records the step's error by name, with a message free of passwords", async () => {
    const result = await runWorkerTask(request, {
      verify: handlerOf(async () => {
        throw new DatabaseUnreachableError('could not connect to postgresql://u:Canary-9@h/db');
      }),
    });
    expect(result).toMatchObject({ outcome: 'failed', error: { name: 'DatabaseUnreachableError' } });
    expect(JSON.stringify(result)).not.toContain('Canary-9');
  });

  it('records a task it does not serve as a ConfigurationError, naming what it runs', async () => {
    const result = await runWorkerTask({ ...request, task: 'notify' }, { verify: handlerOf(async () => 1) });
    expect(result).toMatchObject({
      outcome: 'failed',
      error: { name: 'ConfigurationError', message: expect.stringContaining('it runs verify') },
    });
  });
});

describe('what a failed build says about itself', () => {
  const build = {
    Id: 'p:1',
    BuildStatus: 'TIMED_OUT',
    Phases: [
      { PhaseType: 'INSTALL', PhaseStatus: 'SUCCEEDED' },
      { PhaseType: 'BUILD', PhaseStatus: 'TIMED_OUT', Contexts: [{ message: 'Build has timed out. ' }] },
    ],
    Logs: { DeepLink: 'https://console.aws.amazon.com/cloudwatch/home#logEvent:group=x' },
  };

  it('reads the build from the Cause, bare or wrapped in Build', () => {
    const expected = {
      id: 'p:1',
      status: 'TIMED_OUT',
      phase: 'BUILD',
      detail: 'Build has timed out. ',
      logs: build.Logs.DeepLink,
    };
    expect(buildFacts({ Error: 'States.TaskFailed', Cause: JSON.stringify(build) })).toEqual(expected);
    expect(buildFacts({ Error: 'States.TaskFailed', Cause: JSON.stringify({ Build: build }) })).toEqual(
      expected,
    );
  });

  it('keeps the error when no build ever started', () => {
    expect(
      buildFacts({
        Error: 'CodeBuild.AccountLimitExceededException',
        Cause: 'Cannot have more than 1 builds in queue',
      }),
    ).toEqual({
      status: 'CodeBuild.AccountLimitExceededException',
      detail: 'Cannot have more than 1 builds in queue',
    });
    expect(buildFacts({ Error: 'States.Timeout' })).toEqual({ status: 'States.Timeout', detail: '' });
  });
});
