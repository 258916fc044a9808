/**
 * The long-running worker on AWS: one CodeBuild project that runs any worker step of the Task table.
 * No image to build and no second copy of the code: the build fetches the `worker` function's deployed
 * bundle (functions/worker/handler.ts) and the layers that function carries (pg-client, pg-server) with
 * the Lambda API, unpacks the layers to /opt as Lambda does, and runs the bundle with Node 22. Its
 * settings are the union of what the worker functions get on Lambda (tools/deploy/functions.ts), its
 * role the union of their grants plus writing result records; its logs go to its own log group.
 *
 * Timeouts: the build stops at `worker.timeoutMinutes` (its deadline reaches the step, which stops and
 * removes its scratch server first), before the Task state's TimeoutSeconds (600 minutes) would give up
 * on it without stopping it.
 */
import { type FunctionSpec, functions, worker, workerFunctions } from '../../functions/tasks.ts';
import type { DeployFacts } from './functions.ts';
import { environmentOf, functionName, serviceTrust, statementOf } from './functions.ts';

type Json = Record<string, unknown>;

/** CodeBuild's curated Amazon Linux 2023 images with Node.js 22, per Lambda architecture. */
export const workerImages = {
  arm64: { type: 'ARM_CONTAINER', image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0' },
  x86_64: { type: 'LINUX_CONTAINER', image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0' },
} as const;

export const workerProjectName = (facts: Pick<DeployFacts, 'service' | 'stage'>) =>
  `${facts.service}-${facts.stage}-worker`;

/** Fetch the worker bundle and its layers, then run it; every line fails the build on error. */
export const workerBuildspec = `version: 0.2
env:
  shell: bash
phases:
  install:
    runtime-versions:
      nodejs: 22
    commands:
      - set -euo pipefail; curl -fsS -o /tmp/worker.zip "$(aws lambda get-function --function-name "$WORKER_FUNCTION" --query Code.Location --output text)"
      - set -euo pipefail; mkdir -p /opt/worker && unzip -q /tmp/worker.zip -d /opt/worker
      - set -euo pipefail; for arn in $(aws lambda get-function --function-name "$WORKER_FUNCTION" --query 'Configuration.Layers[].Arn' --output text); do curl -fsS -o /tmp/layer.zip "$(aws lambda get-layer-version-by-arn --arn "$arn" --query Content.Location --output text)"; unzip -qo /tmp/layer.zip -d /opt; done
  build:
    commands:
      - node /opt/worker/functions/worker/handler.mjs
`;

function workerRole(facts: DeployFacts): Json {
  const logGroup = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/codebuild/${workerProjectName(facts)}`;
  const own: Json[] = [
    {
      Sid: 'WriteOwnLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [{ 'Fn::Sub': logGroup }, { 'Fn::Sub': `${logGroup}:*` }],
    },
    {
      Sid: 'FetchWorkerBundle',
      Effect: 'Allow',
      Action: 'lambda:GetFunction',
      // The function and its qualified versions (`name:qualifier`), not every function whose name
      // starts with it (`…-worker*` would match `…-workerResult` too).
      Resource: [
        {
          'Fn::Sub': `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${functionName(facts, worker.key)}`,
        },
        {
          'Fn::Sub': `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${functionName(facts, worker.key)}:*`,
        },
      ],
    },
    {
      Sid: 'FetchPgLayers',
      Effect: 'Allow',
      Action: 'lambda:GetLayerVersion',
      Resource: [{ Ref: 'PgClientLambdaLayer' }, { Ref: 'PgServerLambdaLayer' }],
    },
    {
      Sid: 'WriteResultRecords',
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: { 'Fn::Sub': '${BackupBucket.Arn}/worker/*' },
    },
    {
      Sid: 'EncryptResultRecords',
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: facts.kmsKeyArn,
    },
    // CodeBuild in a VPC creates its network interfaces itself; AWS documents these EC2 actions
    // without resource-level permissions (Resource '*'), and CreateNetworkInterfacePermission scoped
    // to the configured subnets. Only when config/<stage>.yml names a VPC.
    {
      'Fn::If': [
        'UseVpc',
        {
          Sid: 'RunInVpc',
          Effect: 'Allow',
          Action: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeDhcpOptions',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DeleteNetworkInterface',
            'ec2:DescribeSubnets',
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeVpcs',
          ],
          Resource: '*',
        },
        { Ref: 'AWS::NoValue' },
      ],
    },
    {
      'Fn::If': [
        'UseVpc',
        {
          Sid: 'AttachToConfiguredSubnets',
          Effect: 'Allow',
          Action: 'ec2:CreateNetworkInterfacePermission',
          Resource: {
            'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*',
          },
          Condition: {
            StringEquals: { 'ec2:AuthorizedService': 'codebuild.amazonaws.com' },
            ArnEquals: {
              'ec2:Subnet': (facts.config.vpc?.subnetIds ?? []).map((subnet) => ({
                'Fn::Sub': `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:subnet/${subnet}`,
              })),
            },
          },
        },
        { Ref: 'AWS::NoValue' },
      ],
    },
  ];
  // One inline policy per worker function, so each keeps exactly the grants (and Sids) of its table row.
  const perFunction = workerFunctions().map((key) => ({
    PolicyName: `worker-${key}`,
    PolicyDocument: {
      Version: '2012-10-17',
      Statement: (functions[key] as FunctionSpec).grants.map((grant) => statementOf(grant, facts)),
    },
  }));
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: serviceTrust('codebuild.amazonaws.com'),
      Policies: [
        { PolicyName: 'worker', PolicyDocument: { Version: '2012-10-17', Statement: own } },
        ...perFunction,
      ],
    },
  };
}

/**
 * The worker's environment: every setting its functions get on Lambda, as the worker's rows of
 * lib/settings.ts say, as plain-text variables.
 */
function workerEnvironment(facts: DeployFacts): Json[] {
  const settings = [
    ...new Set(workerFunctions().flatMap((key) => (functions[key] as FunctionSpec).settings)),
  ];
  const env: Json = {
    ...environmentOf(['all', ...settings], facts, 'worker'),
    NODE_OPTIONS: '--enable-source-maps',
  };
  // Secret ARNs and the like are references, never secrets: CodeBuild shows plain-text variables in the
  // build's details and Step Functions' history.
  return Object.entries(env).map(([name, value]) =>
    isNoValueIf(value)
      ? {
          'Fn::If': [
            (value as { 'Fn::If': [string, unknown, unknown] })['Fn::If'][0],
            {
              Name: name,
              Type: 'PLAINTEXT',
              Value: (value as { 'Fn::If': [string, unknown, unknown] })['Fn::If'][1],
            },
            { Ref: 'AWS::NoValue' },
          ],
        }
      : { Name: name, Type: 'PLAINTEXT', Value: value },
  );
}

function isNoValueIf(value: unknown): boolean {
  const branches = (value as { 'Fn::If'?: unknown[] } | null)?.['Fn::If'];
  return Array.isArray(branches) && (branches[2] as { Ref?: string } | undefined)?.Ref === 'AWS::NoValue';
}

/** CloudFormation for the worker: its project, role, log group and failed-builds alarm. */
export function workerResources(facts: DeployFacts): Json {
  const image = workerImages[facts.config.architecture];
  const name = workerProjectName(facts);
  return {
    WorkerRole: workerRole(facts),
    WorkerBuildsLogGroup: {
      Type: 'AWS::Logs::LogGroup',
      Properties: { LogGroupName: `/aws/codebuild/${name}`, RetentionInDays: facts.config.logRetentionDays },
    },
    WorkerProject: {
      Type: 'AWS::CodeBuild::Project',
      DependsOn: ['WorkerBuildsLogGroup'],
      Properties: {
        Name: name,
        Description: 'Runs dumps, verifications and restores that do not fit one Lambda (functions/worker)',
        ServiceRole: { 'Fn::GetAtt': ['WorkerRole', 'Arn'] },
        Artifacts: { Type: 'NO_ARTIFACTS' },
        Source: { Type: 'NO_SOURCE', BuildSpec: workerBuildspec },
        Environment: {
          Type: image.type,
          Image: image.image,
          ComputeType: facts.config.worker.computeType,
          EnvironmentVariables: workerEnvironment(facts),
        },
        TimeoutInMinutes: facts.config.worker.timeoutMinutes,
        QueuedTimeoutInMinutes: 60,
        EncryptionKey: facts.kmsKeyArn,
        LogsConfig: {
          CloudWatchLogs: { Status: 'ENABLED', GroupName: `/aws/codebuild/${name}` },
          S3Logs: { Status: 'DISABLED' },
        },
        VpcConfig: {
          'Fn::If': [
            'UseVpc',
            {
              VpcId: facts.config.vpc?.vpcId ?? 'none',
              Subnets: facts.config.vpc?.subnetIds ?? [],
              SecurityGroupIds: facts.config.vpc?.securityGroupIds ?? [],
            },
            { Ref: 'AWS::NoValue' },
          ],
        },
      },
    },
    WorkerBuildsFailedAlarm: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${name}-build-failed`,
        AlarmDescription:
          'Dashboard only: a worker build failed without a result (killed, out of memory, timed out) or could not start. Its run already paged through its own alert, which names the step; see BACKUP_RUNBOOK.md (WorkerFailedError).',
        Namespace: 'AWS/CodeBuild',
        MetricName: 'FailedBuilds',
        Dimensions: [{ Name: 'ProjectName', Value: name }],
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        // No AlarmActions: every build is a `.sync` task, so its failure fails the run that started it,
        // and that run pages with the step and the cause (NotifyFailure, or RestoreExecutionsFailedAlarm).
      },
    },
  };
}
