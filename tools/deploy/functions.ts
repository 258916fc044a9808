/**
 * serverless.yml's functions and the CloudFormation that belongs to each, derived from the Task table
 * (functions/tasks.ts): the function definitions (handler, sizing, timeout, layer, settings, events),
 * one role per function with exactly the grants the table lists plus its own log group, the state
 * machines' roles that may invoke exactly their functions, the VPC attachments and the dashboard's step
 * durations. Adding a Task changes none of this code.
 */
import { prices } from '../../config/prices.ts';
import {
  childMachineOf,
  type FunctionKey,
  type FunctionSpec,
  functions,
  type Grant,
  type GrantResource,
  logicalIdOf,
  type MachineName,
  machineNames,
  tasks,
  worker,
} from '../../functions/tasks.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import { metricsNamespace } from '../../lib/logging.ts';
import { stateMachineResourceOf } from '../../lib/machines.ts';
import { type SettingGroup, type SettingName, type StageFill, settingRows } from '../../lib/settings.ts';
import { configFillValue, type StageConfig } from './stage-config.ts';

type Json = Record<string, unknown>;
const noValue = { Ref: 'AWS::NoValue' };

/** What the generation needs to know about the stage (computed by serverless-settings.ts). */
export interface DeployFacts {
  service: string;
  stage: string;
  config: StageConfig;
  /** The stage's KMS key: the dedicated one or the configured ARN (a CloudFormation expression). */
  kmsKeyArn: unknown;
  /** TimeoutSeconds of every Task state, per machine. */
  taskTimeouts: Record<MachineName, Record<string, number | undefined>>;
  /** RESTORE_JOBS for the restoring functions. */
  restoreJobs: string;
}

const pascal = (key: string) => `${key[0]?.toUpperCase()}${key.slice(1)}`;
export const roleIdOf = (key: FunctionKey) => `${pascal(key)}Role`;

function resolveResource(resource: GrantResource, facts: DeployFacts): unknown {
  if (resource.startsWith('objects:')) return { 'Fn::Sub': `\${BackupBucket.Arn}/${resource.slice(8)}` };
  switch (resource) {
    case 'bucket':
      return { 'Fn::GetAtt': ['BackupBucket', 'Arn'] };
    case 'key':
      return facts.kmsKeyArn;
    case 'alertTopic':
      return { Ref: 'AlertTopic' };
    case 'summaryTopic':
      return { Ref: 'SummaryTopic' };
    case 'secret:production':
      return facts.config.databases.productionSecretArn;
    case 'secret:staging':
      return facts.config.databases.stagingSecretArn ?? 'none';
    case 'secret:slack':
      return facts.config.alerts.slackWebhookSecretArn ?? 'none';
    case 'secret:webhook':
      return facts.config.alerts.webhookSecretArn ?? 'none';
    case 'secret:heartbeat':
      return facts.config.alerts.heartbeatSecretArn ?? 'none';
    case 'secret:render':
      return facts.config.render?.apiKeySecretArn ?? 'none';
    case 'secret:restoreTargets':
      return {
        'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${restoreSecretPrefix(facts)}*`,
      };
    case 'stateMachines':
      return machineNames.map((machine) => ({ Ref: stateMachineResourceOf(machine) }));
    case 'executions':
      return machineNames.map((machine) => ({
        'Fn::Sub': `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:${facts.service}-${facts.stage}-${machine}:*`,
      }));
    default:
      throw new ConfigurationError(`functions/tasks.ts: unknown grant resource ${resource}`);
  }
}

const conditionOf = {
  slack: 'UseSlack',
  webhook: 'UseAlertWebhook',
  heartbeat: 'UseHeartbeat',
  render: 'UseRender',
  staging: 'UseStaging',
} as const;

export function statementOf(grant: Grant, facts: DeployFacts): unknown {
  const resources = grant.resources.flatMap((resource) => resolveResource(resource, facts));
  const statement: Json = {
    Sid: grant.sid,
    Effect: 'Allow',
    Action: grant.actions.length === 1 ? grant.actions[0] : grant.actions,
    Resource: resources.length === 1 ? resources[0] : resources,
    ...(grant.prefixes ? { Condition: { StringLike: { 's3:prefix': grant.prefixes } } } : {}),
  };
  return grant.when ? { 'Fn::If': [conditionOf[grant.when], statement, noValue] } : statement;
}

/** Where `backupctl restore --stage` creates the secret holding a target's URL (and deletes it after). */
export function restoreSecretPrefix(facts: Pick<DeployFacts, 'service' | 'stage'>): string {
  return `${facts.service}/${facts.stage}/restore-`;
}

export function functionName(facts: DeployFacts, key: string): string {
  return `${facts.service}-${facts.stage}-${key}`;
}

function logStatement(facts: DeployFacts, key: FunctionKey): Json {
  return {
    Sid: 'WriteOwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: {
      'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${functionName(facts, key)}:*`,
    },
  };
}

const lambdaTrust = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
};

/**
 * ENI management for functions in a VPC: the EC2 actions of AWS's AWSLambdaVPCAccessExecutionRole,
 * without its logs:* on every log group (each function writes only its own). AWS documents these
 * actions with Resource '*'. Only when config/<stage>.yml names a VPC.
 */
const vpcNetworkInterfaces = {
  'Fn::If': [
    'UseVpc',
    {
      Sid: 'ManageVpcNetworkInterfaces',
      Effect: 'Allow',
      Action: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      Resource: '*',
    },
    noValue,
  ],
};

/** The functions deployed as Lambda functions: all but the worker-only ones. */
function entries(): [FunctionKey, FunctionSpec][] {
  return (Object.entries(functions) as [FunctionKey, FunctionSpec][]).filter(
    ([, spec]) => spec.worker !== 'worker-only',
  );
}

function functionRole(key: FunctionKey, spec: FunctionSpec, facts: DeployFacts): Json {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: lambdaTrust,
      Policies: [
        {
          PolicyName: key,
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              logStatement(facts, key),
              ...spec.grants.map((grant) => statementOf(grant, facts)),
              ...(spec.database ? [vpcNetworkInterfaces] : []),
            ],
          },
        },
      ],
    },
  };
}

const logDeliveryActions = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

/** The Lambda functions a machine's Task states invoke, each once, in the order of the table. */
export function functionsOf(machine: MachineName): FunctionKey[] {
  return [
    ...new Set(
      tasks
        .filter((task) => task.machine === machine && task.venue === 'lambda')
        .map((task) => task.function),
    ),
  ];
}

/** Whether a machine starts worker builds (codebuild:startBuild.sync). */
export function usesWorker(machine: MachineName): boolean {
  return tasks.some((task) => task.machine === machine && task.venue === 'worker');
}

/**
 * What `codebuild:startBuild.sync` needs (AWS's template for the integration): start, stop and follow
 * builds of the worker project, and the managed EventBridge rule Step Functions uses to hear of their end.
 */
function startWorkerBuilds(): Json[] {
  return [
    {
      Sid: 'RunWorkerBuilds',
      Effect: 'Allow',
      Action: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds'],
      Resource: { 'Fn::GetAtt': ['WorkerProject', 'Arn'] },
    },
    {
      Sid: 'HearOfWorkerBuildsEnding',
      Effect: 'Allow',
      Action: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      Resource: {
        'Fn::Sub':
          'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule',
      },
    },
  ];
}

/**
 * What `states:startExecution.sync:2` needs (AWS's template for the integration): start executions of
 * the machine a per-database run starts (the nightly run: backup; the drills: drill), follow and stop them, and the managed EventBridge rule Step Functions uses
 * to hear of their end.
 */
function startChildExecutions(machine: MachineName): Json[] {
  const child = childMachineOf[machine];
  if (!child) return [];
  const id = stateMachineResourceOf(child);
  return [
    {
      Sid: `Run${pascal(child)}Executions`,
      Effect: 'Allow',
      Action: 'states:StartExecution',
      Resource: { Ref: id },
    },
    {
      Sid: `Follow${pascal(child)}Executions`,
      Effect: 'Allow',
      Action: ['states:DescribeExecution', 'states:StopExecution'],
      Resource: {
        'Fn::Sub': `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:\${${id}.Name}:*`,
      },
    },
    {
      Sid: `HearOf${pascal(child)}ExecutionsEnding`,
      Effect: 'Allow',
      Action: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      Resource: {
        'Fn::Sub':
          'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule',
      },
    },
  ];
}

/** A role only `service` of this account may assume (the confused-deputy guard AWS recommends). */
export function serviceTrust(service: string): Json {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: service },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ],
  };
}

function stateMachineRole(machine: MachineName, facts: DeployFacts): Json {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: serviceTrust('states.amazonaws.com'),
      Policies: [
        {
          PolicyName: `${machine}-state-machine`,
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'InvokeStepFunctions',
                Effect: 'Allow',
                Action: 'lambda:InvokeFunction',
                Resource: functionsOf(machine).map((key) => ({ 'Fn::GetAtt': [logicalIdOf(key), 'Arn'] })),
              },
              ...(usesWorker(machine) ? startWorkerBuilds() : []),
              ...startChildExecutions(machine),
              // The restore machine's ForgetTarget state: the target's secret lives as long as the restore.
              ...(machine === 'restore'
                ? [
                    {
                      Sid: 'ForgetRestoreTargets',
                      Effect: 'Allow',
                      Action: 'secretsmanager:DeleteSecret',
                      Resource: resolveResource('secret:restoreTargets', facts),
                    },
                  ]
                : []),
              {
                Sid: 'PublishFailureAlert',
                Effect: 'Allow',
                Action: 'sns:Publish',
                Resource: { Ref: 'AlertTopic' },
              },
              {
                Sid: 'EncryptAlertWithBackupKey',
                Effect: 'Allow',
                Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
                Resource: facts.kmsKeyArn,
              },
              // Step Functions log delivery: these CloudWatch Logs actions take no resource-level
              // permissions, so AWS documents Resource '*' for them. They only manage log deliveries.
              { Sid: 'DeliverExecutionLogs', Effect: 'Allow', Action: logDeliveryActions, Resource: '*' },
            ],
          },
        },
      ],
    },
  };
}

/** CloudFormation for every function role, the state machine roles and their log groups. */
export function functionResources(facts: DeployFacts): { Resources: Json; extensions: Json } {
  const resources: Json = {};
  for (const [key, spec] of entries()) resources[roleIdOf(key)] = functionRole(key, spec, facts);
  resources[carrierRoleId] = carrierRole(facts);
  for (const machine of machineNames) {
    resources[`${stateMachineResourceOf(machine)}Role`] = stateMachineRole(machine, facts);
    resources[`${stateMachineResourceOf(machine)}LogGroup`] = {
      Type: 'AWS::Logs::LogGroup',
      Properties: {
        LogGroupName: `/aws/vendedlogs/states/${facts.service}-${facts.stage}-${machine}`,
        RetentionInDays: facts.config.logRetentionDays,
      },
    };
  }
  // Functions that talk to a database join the VPC only when config/<stage>.yml names one.
  const extensions: Json = {};
  for (const [key, spec] of entries()) {
    if (!spec.database) continue;
    extensions[logicalIdOf(key)] = {
      Properties: {
        VpcConfig: {
          'Fn::If': [
            'UseVpc',
            {
              SubnetIds: facts.config.vpc?.subnetIds ?? [],
              SecurityGroupIds: facts.config.vpc?.securityGroupIds ?? [],
            },
            noValue,
          ],
        },
      },
    };
  }
  return { Resources: resources, extensions };
}

/** The worker bundle's Lambda function is never invoked: its role may only write its own logs. */
const carrierRoleId = `${pascal(worker.key)}CarrierRole`;

function carrierRole(facts: DeployFacts): Json {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: lambdaTrust,
      Policies: [
        {
          PolicyName: 'worker-carrier',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [logStatement(facts, worker.key as FunctionKey)],
          },
        },
      ],
    },
  };
}

/** One setting's value on a deployed stage (lib/settings.ts, its `stage` fill); undefined: unset. */
function stageValue(name: SettingName, fill: StageFill, facts: DeployFacts): unknown {
  if ('ref' in fill) return { Ref: fill.ref };
  if ('fixed' in fill) return fill.fixed;
  if ('deploy' in fill) {
    switch (fill.deploy) {
      case 'kmsKeyArn':
        return facts.kmsKeyArn;
      case 'restoreJobs':
        return facts.restoreJobs;
      case 'stage':
        return facts.stage;
      case 'dumpLambdaTimeout':
        return String(timeoutOf('dump', functions.dump, facts, `config/${facts.stage}.yml`));
      case 'prices':
        return JSON.stringify(prices);
      case 'workerFunction':
        return functionName(facts, worker.key);
      case 'workerTimeout':
        return String(facts.config.worker.timeoutMinutes * 60);
    }
  }
  const text = configFillValue(facts.config, name, fill);
  // CloudFormation needs a value in both branches, even the one the condition leaves out.
  return fill.when ? { 'Fn::If': [fill.when, text ?? 'none', noValue] } : text;
}

/**
 * The environment of a function that gets these groups of settings (lib/settings.ts); on the worker,
 * with the settings whose row says how the worker differs.
 */
export function environmentOf(
  groups: readonly SettingGroup[],
  facts: DeployFacts,
  venue: 'lambda' | 'worker' = 'lambda',
): Json {
  const env: Json = {};
  for (const [name, row] of settingRows()) {
    const fill = venue === 'worker' && row.worker ? row.worker : row.stage;
    const wanted = row.groups?.some((group) => groups.includes(group)) || (venue === 'worker' && row.worker);
    if (!fill || fill === 'unset' || !wanted) continue;
    const value = stageValue(name, fill, facts);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** serverless.yml's provider environment: the settings every function gets. */
export function providerEnvironment(facts: DeployFacts): Json {
  return { ...environmentOf(['all'], facts), NODE_OPTIONS: '--enable-source-maps' };
}

/** The Lambda timeout: the shortest TimeoutSeconds of the Task states it serves, or a configured one. */
function timeoutOf(key: FunctionKey, spec: FunctionSpec, facts: DeployFacts, file: string): number {
  if (typeof spec.sizing === 'object') return spec.sizing.timeoutSeconds;
  const serving = tasks.filter((task) => task.function === key && task.venue === 'lambda');
  const limits = serving.map((task) => {
    const timeout = facts.taskTimeouts[task.machine][task.state];
    if (timeout === undefined) {
      throw new ConfigurationError(
        `statemachines/${task.machine}.asl.json: ${task.state} has no TimeoutSeconds for the ${key} function to match`,
      );
    }
    return { timeout, task };
  });
  const shortest = limits.reduce((a, b) => (b.timeout < a.timeout ? b : a));
  const configured = spec.sizing === key ? facts.config.steps[spec.sizing].timeoutSeconds : undefined;
  if (configured !== undefined && configured > shortest.timeout) {
    throw new ConfigurationError(
      `${file}: steps.${key}.timeoutSeconds: must not exceed the ${shortest.task.state} Task timeout of ${shortest.timeout} s in statemachines/${shortest.task.machine}.asl.json`,
      { details: { file, field: `steps.${key}.timeoutSeconds` } },
    );
  }
  return configured ?? shortest.timeout;
}

function eventsOf(spec: FunctionSpec, facts: DeployFacts): unknown[] | undefined {
  // After the night's backup (02:00 UTC by default) has long finished.
  if (spec.triggers === 'daily') return [{ schedule: { rate: 'cron(30 5 * * ? *)', enabled: true } }];
  // serverless subscribes the function and lets SNS invoke it; topicName is required with a Ref.
  if (spec.triggers === 'alert-topic') {
    return [{ sns: { arn: { Ref: 'AlertTopic' }, topicName: `${facts.service}-${facts.stage}-alerts` } }];
  }
  if (spec.triggers !== 'hourly-and-after-executions') return undefined;
  return [
    { schedule: { rate: 'rate(1 hour)', enabled: true } },
    {
      eventBridge: {
        pattern: {
          source: ['aws.states'],
          'detail-type': ['Step Functions Execution Status Change'],
          detail: {
            status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
            stateMachineArn: machineNames.map((machine) => ({ Ref: stateMachineResourceOf(machine) })),
          },
        },
      },
    },
  ];
}

/** serverless.yml `functions:`, one entry per row of the function table. */
export function serverlessFunctions(facts: DeployFacts, file: string): Json {
  const result: Json = {};
  for (const [key, spec] of entries()) {
    const sizing =
      typeof spec.sizing === 'object'
        ? spec.sizing
        : {
            memoryMb: facts.config.steps[spec.sizing].memoryMb,
            ephemeralStorageMb: facts.config.steps[spec.sizing].ephemeralStorageMb,
          };
    const environment = environmentOf(spec.settings, facts);
    const events = eventsOf(spec, facts);
    result[key] = {
      handler: `functions/${spec.dir}/handler.handler`,
      role: roleIdOf(key),
      ...(spec.pgPrograms || spec.pgServer
        ? {
            layers: [
              ...(spec.pgPrograms ? [{ Ref: 'PgClientLambdaLayer' }] : []),
              ...(spec.pgServer ? [{ Ref: 'PgServerLambdaLayer' }] : []),
            ],
          }
        : {}),
      memorySize: sizing.memoryMb,
      ephemeralStorageSize: sizing.ephemeralStorageMb,
      timeout: timeoutOf(key, spec, facts, file),
      ...(Object.keys(environment).length > 0 ? { environment } : {}),
      ...(events ? { events } : {}),
    };
  }
  // The worker's bundle, which CodeBuild fetches with its layers (tools/deploy/worker.ts); never invoked.
  result[worker.key] = {
    handler: `functions/${worker.dir}/handler.handler`,
    role: carrierRoleId,
    description: 'Carries the worker bundle and pg layers for CodeBuild; not invoked',
    layers: [{ Ref: 'PgClientLambdaLayer' }, { Ref: 'PgServerLambdaLayer' }],
    memorySize: 128,
    timeout: 3,
  };
  return result;
}

/** The dashboard's "Lambda durations" lines: every Lambda function of the backup machine. */
export function dashboardFunctions(facts: DeployFacts): string[] {
  return functionsOf('backup').map((key) => functionName(facts, key));
}

/**
 * The steps of a night (the nightly and backup machines), on Lambda or the worker alike: the `Step`
 * dimension of the dashboard's StepDuration lines (each step's own metric, lib/logging.ts).
 */
export function dashboardSteps(): FunctionKey[] {
  return [
    ...new Set(
      tasks
        .filter((task) => task.machine === 'nightly' || task.machine === 'backup')
        .map((task) => task.function),
    ),
  ];
}

/** The steps that move data and so publish StepBytes (lib/lambda/handler.ts, bytesMoved). */
export const dashboardByteSteps: readonly FunctionKey[] = ['dump', 'promote', 'checksum', 'globals'];

/** A dashboard widget's metric lines: one per step, under the Stage and Step dimensions. */
export function stepMetricLines(metric: string, stage: string, steps: readonly string[]): string[][] {
  return steps.map((step) => [metricsNamespace, metric, 'Stage', stage, 'Step', step]);
}
