/**
 * The packaged CloudFormation template of the example stage and of every documented variant, checked
 * against CloudFormation's own resource specification and against the permissions AWS documents for
 * each Step Functions Task pattern (test/support/cfn-schema.ts). The checker is shown to fail on
 * templates broken one way at a time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import {
  describeFindings,
  integrationCheck,
  loadSpec,
  type Spec,
  schemaFindings,
  type Template,
} from '../support/cfn-schema.ts';
import { everyTaskOfEveryMachine } from '../support/definitions.ts';
import { type PackagedStages, packageStages } from '../support/package-stages.ts';

const root = join(import.meta.dirname, '..', '..');
const account = '123456789012';
const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:${account}:secret:cfn/${name}-AbCdEf`;

let spec: Spec;
beforeAll(async () => {
  spec = await loadSpec();
}, 60_000);

/**
 * The example stage and the documented variants (docs/deploy.md, tools/deploy/stage-config.ts) that
 * config/test.yml leaves off; with config/test.yml, whose packaged template test/deploy/template.test.ts
 * checks the same way, every condition of the template is packaged both true and false:
 * - example: config/example.yml (scratch verification, a created key, no Object Lock, e-mail only,
 *   one database), on x86_64 so the packager uses the layers the suite builds anyway; the
 *   architecture changes the template's Architectures values and layer file names only;
 * - byok: an existing KMS key, a VPC, several databases, Object Lock COMPLIANCE, a named bucket, the
 *   webhook and heartbeat without Slack, Render on a scratch-verified stage, no e-mail at all, both
 *   steps forced onto Lambda.
 * (config/test.yml: staging mode, Object Lock GOVERNANCE, Slack, webhook and heartbeat, Render,
 * configured drill checks, summary e-mails.)
 */
function variants(): Record<string, string> {
  const example = parse(readFileSync(join(root, 'config/example.yml'), 'utf8')) as Record<string, unknown>;
  return {
    example: stringify({ ...example, architecture: 'x86_64' }),
    byok: stringify({
      region: 'eu-west-1',
      architecture: 'x86_64',
      databases: {
        productionSecretArn: secret('production'),
        backup: 'all',
        exclude: ['postgres'],
        concurrency: 3,
      },
      verification: { target: 'scratch', serverMajor: 18 },
      venues: { dump: 'lambda', verify: 'lambda' },
      bucket: { name: 'acme-pg-backups-cfn', retentionDays: 30, objectLock: 'COMPLIANCE' },
      kms: { keyArn: `arn:aws:kms:eu-west-1:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab` },
      alerts: { emails: [], webhookSecretArn: secret('webhook'), heartbeatSecretArn: secret('heartbeat') },
      render: { apiKeySecretArn: secret('render'), postgresId: 'dpg-cfn123' },
      vpc: {
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      },
    }),
  };
}

describe('packaged CloudFormation template', () => {
  let packaged: PackagedStages;
  const stages = Object.keys(variants());
  beforeAll(() => {
    packaged = packageStages(variants());
    // What each packaging took (the cost of this file in CI): printed, never asserted.
    console.log(
      `packaging: ${Object.entries(packaged.seconds)
        .map(([stage, seconds]) => `${stage} ${seconds.toFixed(1)} s`)
        .join(', ')}`,
    );
  }, 900_000);
  afterAll(() => packaged?.remove());

  describe.each(stages)('stage %s', (stage) => {
    const template = () => {
      const found = packaged.templates[stage];
      if (!found) throw new Error(`stage ${stage} was not packaged`);
      return found;
    };

    it('holds only resource types, properties and attributes CloudFormation knows, with every required property', () => {
      expect(describeFindings(schemaFindings(spec, template()))).toEqual([]);
    });

    it("grants each state machine's role what AWS documents for every Task it runs", async () => {
      const { findings, checked } = await integrationCheck(template());
      expect(describeFindings(findings)).toEqual([]);
      // Every Task of every file in statemachines/ was among those checked.
      expect(checked.map(({ machine, state }) => `${machine}.${state}`).sort()).toEqual(
        everyTaskOfEveryMachine(),
      );
    });
  });

  it('names a property or a grant taken out of a packaged template', async () => {
    const template = structuredClone(packaged.templates.example) as Template;
    const worker = template.Resources.WorkerProject?.Properties as { Environment: Record<string, unknown> };
    delete worker.Environment.Image;
    const nightly = template.Resources.NightlyStateMachineRole?.Properties as {
      Policies: { PolicyDocument: { Statement: { Action: unknown }[] } }[];
    };
    for (const statement of nightly.Policies.flatMap((policy) => policy.PolicyDocument.Statement)) {
      const actions = [statement.Action].flat();
      statement.Action = actions.filter((action) => action !== 'events:PutRule');
    }
    expect(schemaFindings(spec, template)).toContainEqual(
      expect.objectContaining({
        check: 'missing-required-property',
        where: 'Resources.WorkerProject.Properties.Environment.Image',
      }),
    );
    expect((await integrationCheck(template)).findings).toContainEqual(
      expect.objectContaining({
        check: 'missing-integration-permission',
        where: 'Resources.NightlyStateMachine.States.Databases.ItemProcessor.BackupDatabase',
        message: expect.stringContaining('events:PutRule on arn:aws:events:'),
      }),
    );
  });
});

/**
 * A small template that passes every check: a topic encrypted with a created key, a function, a
 * CodeBuild project, a child state machine, and a state machine whose Tasks use each integration
 * pattern the project uses, with the grants AWS documents for them.
 */
function validTemplate(): Template {
  const trust = (service: string) => ({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
  const rule = (name: string) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:rule/${name}`,
  });
  const definition = {
    StartAt: 'Work',
    States: {
      Work: { Type: 'Task', Resource: '${WorkFunction.Arn}', Next: 'Build' },
      Build: {
        Type: 'Task',
        Resource: 'arn:aws:states:::codebuild:startBuild.sync',
        Parameters: { ProjectName: '${Project}' },
        Next: 'Children',
      },
      Children: {
        Type: 'Map',
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'Child',
          States: {
            Child: {
              Type: 'Task',
              Resource: 'arn:aws:states:::states:startExecution.sync:2',
              Parameters: { StateMachineArn: '${ChildMachine}', 'Input.$': '$' },
              End: true,
            },
          },
        },
        Next: 'Alert',
      },
      Alert: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sns:publish',
        Parameters: { TopicArn: '${AlertTopic}', Message: 'done' },
        Next: 'Forget',
      },
      Forget: {
        Type: 'Task',
        Resource: 'arn:aws:states:::aws-sdk:secretsmanager:deleteSecret',
        Parameters: { 'SecretId.$': '$.secret' },
        End: true,
      },
    },
  };
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Conditions: {
      CreateKey: { 'Fn::Equals': ['true', 'true'] },
      UseVpc: { 'Fn::Equals': ['false', 'true'] },
    },
    Resources: {
      Key: { Type: 'AWS::KMS::Key', Condition: 'CreateKey', Properties: { EnableKeyRotation: true } },
      AlertTopic: {
        Type: 'AWS::SNS::Topic',
        Properties: {
          TopicName: 'alerts',
          KmsMasterKeyId: { 'Fn::If': ['CreateKey', { 'Fn::GetAtt': ['Key', 'Arn'] }, 'none'] },
          Subscription: [{ Endpoint: 'ops@example.com', Protocol: 'email' }],
        },
      },
      WorkRole: {
        Type: 'AWS::IAM::Role',
        Properties: { AssumeRolePolicyDocument: trust('lambda.amazonaws.com') },
      },
      WorkFunction: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          FunctionName: 'work',
          Runtime: 'nodejs22.x',
          Handler: 'index.handler',
          Code: { ZipFile: 'exports.handler = async () => ({})' },
          Role: { 'Fn::GetAtt': ['WorkRole', 'Arn'] },
          VpcConfig: {
            'Fn::If': [
              'UseVpc',
              { SubnetIds: ['subnet-0abc'], SecurityGroupIds: ['sg-0abc'] },
              { Ref: 'AWS::NoValue' },
            ],
          },
        },
      },
      Project: {
        Type: 'AWS::CodeBuild::Project',
        Properties: {
          Name: 'worker',
          ServiceRole: { 'Fn::GetAtt': ['WorkRole', 'Arn'] },
          Source: { Type: 'NO_SOURCE', BuildSpec: 'version: 0.2' },
          Artifacts: { Type: 'NO_ARTIFACTS' },
          Environment: {
            Type: 'ARM_CONTAINER',
            ComputeType: 'BUILD_GENERAL1_SMALL',
            Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
          },
        },
      },
      ChildMachine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          StateMachineName: 'child',
          RoleArn: { 'Fn::GetAtt': ['MachineRole', 'Arn'] },
          DefinitionString: JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Succeed' } } }),
        },
      },
      Machine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          StateMachineName: 'parent',
          RoleArn: { 'Fn::GetAtt': ['MachineRole', 'Arn'] },
          DefinitionString: { 'Fn::Sub': JSON.stringify(definition) },
        },
      },
      MachineRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: trust('states.amazonaws.com'),
          Policies: [
            {
              PolicyName: 'machine',
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  {
                    Effect: 'Allow',
                    Action: 'lambda:InvokeFunction',
                    Resource: { 'Fn::GetAtt': ['WorkFunction', 'Arn'] },
                  },
                  {
                    Effect: 'Allow',
                    Action: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds'],
                    Resource: { 'Fn::GetAtt': ['Project', 'Arn'] },
                  },
                  {
                    Effect: 'Allow',
                    Action: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
                    Resource: [
                      rule('StepFunctionsGetEventForCodeBuildStartBuildRule'),
                      rule('StepFunctionsGetEventsForStepFunctionsExecutionRule'),
                    ],
                  },
                  { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: 'ChildMachine' } },
                  {
                    Effect: 'Allow',
                    Action: ['states:DescribeExecution', 'states:StopExecution'],
                    Resource: {
                      'Fn::Sub':
                        'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${ChildMachine.Name}:*',
                    },
                  },
                  { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: 'AlertTopic' } },
                  {
                    Effect: 'Allow',
                    Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
                    Resource: { 'Fn::If': ['CreateKey', { 'Fn::GetAtt': ['Key', 'Arn'] }, 'none'] },
                  },
                  { Effect: 'Allow', Action: 'secretsmanager:DeleteSecret', Resource: '*' },
                ],
              },
            },
          ],
        },
      },
    },
    Outputs: { AlertTopicArn: { Value: { Ref: 'AlertTopic' } } },
  };
}

type Resources = Template['Resources'];
const properties = (resources: Resources, id: string) => {
  const found = resources[id]?.Properties;
  if (!found) throw new Error(`no ${id}`);
  return found;
};
const machineStatements = (resources: Resources) =>
  (
    properties(resources, 'MachineRole').Policies as {
      PolicyDocument: { Statement: Record<string, unknown>[] };
    }[]
  )[0]?.PolicyDocument.Statement ?? [];
/** The statement of the machine role granting `action`, with that action taken out. */
function withoutGrant(resources: Resources, action: string): void {
  for (const statement of machineStatements(resources)) {
    const actions = [statement.Action].flat() as string[];
    if (actions.includes(action)) statement.Action = actions.filter((a) => a !== action);
  }
}
function editDefinition(
  resources: Resources,
  edit: (definition: { States: Record<string, Record<string, unknown>> }) => void,
) {
  const machine = properties(resources, 'Machine');
  const sub = machine.DefinitionString as { 'Fn::Sub': string };
  const definition = JSON.parse(sub['Fn::Sub']);
  edit(definition);
  machine.DefinitionString = { 'Fn::Sub': JSON.stringify(definition) };
}

describe('the template checks (test/support/cfn-schema.ts)', () => {
  it('find nothing wrong with a valid template', async () => {
    const template = validTemplate();
    expect(describeFindings(schemaFindings(spec, template))).toEqual([]);
    expect(describeFindings((await integrationCheck(template)).findings)).toEqual([]);
  });

  const broken: [string, (resources: Resources) => void, Record<string, unknown>][] = [
    [
      'an unknown resource type',
      (r) => {
        (r.AlertTopic as { Type: string }).Type = 'AWS::SNS::Topik';
      },
      { check: 'unknown-resource-type', where: 'Resources.AlertTopic.Type' },
    ],
    [
      'an unknown property',
      (r) => {
        properties(r, 'AlertTopic').TopicNmae = 'alerts';
      },
      { check: 'unknown-property', where: 'Resources.AlertTopic.Properties.TopicNmae' },
    ],
    [
      'an unknown field of a nested property type',
      (r) => {
        (properties(r, 'Project').Environment as Record<string, unknown>).ComputeSize = 'SMALL';
      },
      { check: 'unknown-property', where: 'Resources.Project.Properties.Environment.ComputeSize' },
    ],
    [
      'an unknown field in a list of property types',
      (r) => {
        (properties(r, 'AlertTopic').Subscription as Record<string, unknown>[])[0] = {
          Endpoint: 'a@b.c',
          Protocl: 'email',
        };
      },
      { check: 'unknown-property', where: 'Resources.AlertTopic.Properties.Subscription[0].Protocl' },
    ],
    [
      'a missing required property',
      (r) => {
        delete properties(r, 'WorkFunction').Role;
      },
      { check: 'missing-required-property', where: 'Resources.WorkFunction.Properties.Role' },
    ],
    [
      'a missing required field of a nested property type',
      (r) => {
        delete (properties(r, 'Project').Environment as Record<string, unknown>).Image;
      },
      { check: 'missing-required-property', where: 'Resources.Project.Properties.Environment.Image' },
    ],
    [
      'a list where the specification wants an object',
      (r) => {
        properties(r, 'Project').Artifacts = [{ Type: 'NO_ARTIFACTS' }];
      },
      { check: 'wrong-shape', where: 'Resources.Project.Properties.Artifacts' },
    ],
    [
      'a GetAtt of an attribute the type does not have',
      (r) => {
        properties(r, 'WorkFunction').Role = { 'Fn::GetAtt': ['WorkRole', 'Arnn'] };
      },
      { check: 'unknown-attribute', where: 'Resources.WorkFunction.Properties.Role' },
    ],
    [
      'a Sub placeholder naming an attribute the type does not have',
      (r) =>
        editDefinition(r, (d) => {
          (d.States.Work as Record<string, unknown>).Resource = '${WorkFunction.FunctionArn}';
        }),
      { check: 'unknown-attribute', where: 'Resources.Machine.Properties.DefinitionString' },
    ],
    [
      'a Ref to nothing',
      (r) => {
        properties(r, 'ChildMachine').RoleArn = { Ref: 'MachineRoleArn' };
      },
      { check: 'unresolved-reference', where: 'Resources.ChildMachine.Properties.RoleArn' },
    ],
    [
      'a Sub placeholder naming no resource',
      (r) =>
        editDefinition(r, (d) => {
          (d.States.Alert as { Parameters: Record<string, unknown> }).Parameters.TopicArn = '${AlarmTopic}';
        }),
      { check: 'unresolved-reference', where: 'Resources.Machine.Properties.DefinitionString' },
    ],
    [
      'a reference to a resource its condition leaves out of the stage',
      (r) => {
        (r.Key as { Condition: string }).Condition = 'UseVpc';
      },
      { check: 'unresolved-reference', message: expect.stringContaining('Key is left out of this stage') },
    ],
    [
      'an unknown condition',
      (r) => {
        properties(r, 'WorkFunction').VpcConfig = { 'Fn::If': ['UseVPC', {}, { Ref: 'AWS::NoValue' }] };
      },
      { check: 'unknown-condition', where: 'Resources.WorkFunction.Properties.VpcConfig' },
    ],
    [
      'an unknown condition on a resource',
      (r) => {
        (r.Key as { Condition: string }).Condition = 'MakeKey';
      },
      { check: 'unknown-condition', where: 'Resources.Key.Condition' },
    ],
  ];

  it.each(broken)('name %s', (_label, breakIt, expected) => {
    const template = validTemplate();
    breakIt(template.Resources);
    expect(schemaFindings(spec, template)).toContainEqual(expect.objectContaining(expected));
  });

  const ungranted: [string, (resources: Resources) => void, string][] = [
    [
      'lambda:InvokeFunction for a Lambda Task',
      (r) => withoutGrant(r, 'lambda:InvokeFunction'),
      'lambda:InvokeFunction on arn:aws:lambda:',
    ],
    [
      'codebuild:StopBuild for startBuild.sync',
      (r) => withoutGrant(r, 'codebuild:StopBuild'),
      'codebuild:StopBuild',
    ],
    [
      'the managed rule of startBuild.sync',
      (r) => {
        const events = machineStatements(r).find((s) => [s.Action].flat().includes('events:PutRule'));
        if (events) events.Resource = (events.Resource as unknown[]).slice(1);
      },
      'events:PutTargets on arn:aws:events:us-east-1:123456789012:rule/StepFunctionsGetEventForCodeBuildStartBuildRule',
    ],
    [
      'states:DescribeExecution for startExecution.sync',
      (r) => withoutGrant(r, 'states:DescribeExecution'),
      'states:DescribeExecution on arn:aws:states:',
    ],
    [
      'events:PutRule for startExecution.sync',
      (r) => withoutGrant(r, 'events:PutRule'),
      'StepFunctionsGetEventsForStepFunctionsExecutionRule',
    ],
    ['sns:Publish', (r) => withoutGrant(r, 'sns:Publish'), 'sns:Publish'],
    [
      'kms:Decrypt on the key of an encrypted topic',
      (r) => withoutGrant(r, 'kms:Decrypt'),
      'kms:Decrypt on arn:aws:kms:',
    ],
    [
      'the action of an AWS SDK Task',
      (r) => withoutGrant(r, 'secretsmanager:DeleteSecret'),
      'secretsmanager:DeleteSecret',
    ],
  ];

  it.each(ungranted)('name a role without %s', async (_label, breakIt, message) => {
    const template = validTemplate();
    breakIt(template.Resources);
    expect((await integrationCheck(template)).findings).toContainEqual(
      expect.objectContaining({
        check: 'missing-integration-permission',
        message: expect.stringContaining(message),
      }),
    );
  });

  it('name a Task pattern it does not know the permissions of', async () => {
    const template = validTemplate();
    editDefinition(template.Resources, (d) => {
      (d.States.Build as Record<string, unknown>).Resource = 'arn:aws:states:::ecs:runTask.sync';
    });
    expect((await integrationCheck(template)).findings).toContainEqual(
      expect.objectContaining({ check: 'unknown-task-pattern', where: 'Resources.Machine.States.Build' }),
    );
  });
});
