/**
 * The requests AWS makes for the steps with their roles (tools/local/aws-caller.ts, `platformRequest`):
 * Step Functions invoking functions, starting worker builds and child executions; Lambda and CodeBuild
 * writing log lines; the worker's build fetching its bundle and layers. The local runner reports them
 * and the IAM-enforcing tests evaluate them (test/support/iam/); here the evaluation is shown to refuse
 * what the template does not grant, each with the function, role, action and resource it names.
 */
import { describe, expect, it } from '@jest/globals';
import { checkPlatformRequest, takeDenials } from '../support/iam/enforce.ts';
import { evaluate } from '../support/iam/evaluate.ts';
import { layerArns } from '../support/iam/policies.ts';

const as = (principal: string) => ({ principal, settings: {} });
const denied = async (principal: string, client: string, command: string, input: Record<string, unknown>) =>
  (await evaluate(as(principal), client, command, input, { platform: true })).map(
    (denial) => `${denial.principal} (${denial.role}) ${denial.action} ${denial.resource}: ${denial.result}`,
  );

describe('requests AWS makes for the steps', () => {
  it('Step Functions invokes the functions of its own Tasks, and only those', async () => {
    expect(
      await denied('state-machine:backup', 'LambdaClient', 'Invoke', { FunctionName: 'local-dump' }),
    ).toEqual([]);
    expect(
      await denied('state-machine:backup', 'LambdaClient', 'Invoke', { FunctionName: 'local-listDatabases' }),
    ).toEqual([
      'state-machine:backup (BackupStateMachineRole) lambda:InvokeFunction arn:aws:lambda:eu-central-1:123456789012:function:verified-pg-backups-test-listDatabases: ImplicitlyDenied',
    ]);
  });

  it('starts and follows worker builds of the stage project; the nightly run starts backups', async () => {
    for (const command of ['StartBuild', 'BatchGetBuilds', 'StopBuild']) {
      expect(
        await denied('state-machine:backup', 'CodeBuildClient', command, { projectName: 'local-worker' }),
      ).toEqual([]);
    }
    expect(
      await denied('state-machine:nightly', 'CodeBuildClient', 'StartBuild', { projectName: 'local-worker' }),
    ).toEqual([
      'state-machine:nightly (NightlyStateMachineRole) codebuild:StartBuild arn:aws:codebuild:eu-central-1:123456789012:project/verified-pg-backups-test-worker: ImplicitlyDenied',
    ]);
    const backupMachine = 'arn:aws:states:us-east-1:000000000000:stateMachine:local-backup';
    expect(
      await denied('state-machine:nightly', 'SFNClient', 'StartExecution', {
        stateMachineArn: backupMachine,
      }),
    ).toEqual([]);
    expect(
      await denied('state-machine:drill', 'SFNClient', 'StartExecution', { stateMachineArn: backupMachine }),
    ).toHaveLength(1);
  });

  it('Lambda and CodeBuild write each step its own log group only', async () => {
    const stream = { logStreamName: '2026/01/01/[$LATEST]0' };
    for (const command of ['CreateLogStream', 'PutLogEvents']) {
      expect(
        await denied('dump', 'CloudWatchLogsClient', command, {
          logGroupName: '/aws/lambda/local-dump',
          ...stream,
        }),
      ).toEqual([]);
      expect(
        await denied('worker', 'CloudWatchLogsClient', command, {
          logGroupName: '/aws/codebuild/local-worker',
          ...stream,
        }),
      ).toEqual([]);
    }
    expect(
      await denied('dump', 'CloudWatchLogsClient', 'PutLogEvents', {
        logGroupName: '/aws/lambda/local-verify',
        ...stream,
      }),
    ).toEqual([
      'dump (DumpRole) logs:PutLogEvents arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/verified-pg-backups-test-verify:log-stream:2026/01/01/[$LATEST]0: ImplicitlyDenied',
    ]);
  });

  it("the worker's build fetches the worker function and the two layers, nothing else", async () => {
    expect(await denied('worker', 'LambdaClient', 'GetFunction', { FunctionName: 'local-worker' })).toEqual(
      [],
    );
    for (const arn of Object.values(layerArns)) {
      expect(await denied('worker', 'LambdaClient', 'GetLayerVersionByArn', { Arn: arn })).toEqual([]);
    }
    // `…-worker*` would have matched workerResult too.
    expect(
      await denied('worker', 'LambdaClient', 'GetFunction', { FunctionName: 'local-workerResult' }),
    ).toEqual([
      'worker (WorkerRole) lambda:GetFunction arn:aws:lambda:eu-central-1:123456789012:function:verified-pg-backups-test-workerResult: ImplicitlyDenied',
    ]);
  });

  it('a refused Invoke fails the state; a refused log write is only recorded, as Lambda drops the lines', async () => {
    await expect(
      checkPlatformRequest({
        caller: as('state-machine:drill'),
        client: 'LambdaClient',
        command: 'Invoke',
        input: { FunctionName: 'local-dump' },
      }),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(
      checkPlatformRequest({
        caller: as('verify'),
        client: 'CloudWatchLogsClient',
        command: 'PutLogEvents',
        input: { logGroupName: '/aws/lambda/local-dump', logStreamName: 's' },
      }),
    ).resolves.toBeUndefined();
    // Both are recorded (and would fail the test that made them); taken here so this one passes.
    expect(takeDenials().map((denial) => denial.action)).toEqual([
      'lambda:InvokeFunction',
      'logs:PutLogEvents',
    ]);
  });
});
