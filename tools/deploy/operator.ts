/**
 * The operator policy: what `backupctl --stage` asks of AWS with the operator's own credentials,
 * shipped as a customer managed policy of the stage (`<service>-<stage>-operator`, its ARN in the
 * stack output OperatorPolicyArn) that an operator's user, group or role attaches. Each grant is one
 * thing a command does (docs/deploy.md has the table); tests evaluate every request a `--stage`
 * command makes against exactly this policy (test/support/iam/), so a grant the CLI needs and lacks
 * fails a test, and test/unit/tools/deploy/operator.test.ts keeps the list to what the CLI asks for.
 */
import type { Grant } from '../../functions/tasks.ts';
import { stateMachineResourceOf } from '../../lib/machines.ts';
import { progressLogGroups } from '../aws/step-progress.ts';
import { type DeployFacts, statementOf } from './functions.ts';

type Json = Record<string, unknown>;

export const operatorPolicyId = 'OperatorPolicy';

/** The CLI's requests on the stage's own resources, in the Task table's grant vocabulary. */
export const operatorGrants: Grant[] = [
  // list, status, verify, download, restore/drill's check that the backup exists, retention.
  {
    sid: 'ListTheVault',
    actions: ['s3:ListBucket'],
    resources: ['bucket'],
    prefixes: ['backups/*', 'globals/*', 'drills/*', 'status/*', 'provider/*'],
  },
  {
    sid: 'ReadTheVault',
    actions: ['s3:GetObject'],
    resources: [
      'objects:backups/*',
      'objects:globals/*',
      'objects:drills/*',
      'objects:status/*',
      'objects:provider/*',
    ],
  },
  // verify records its check against the backup; status --write and --link write the report.
  {
    sid: 'WriteChecksAndStatus',
    actions: ['s3:PutObject'],
    resources: ['objects:backups/*.checks.json', 'objects:status/*'],
  },
  // retention --apply: the retention tags the lifecycle rules read.
  {
    sid: 'MarkRetention',
    actions: ['s3:GetObjectTagging', 's3:PutObjectTagging'],
    resources: ['objects:backups/*', 'objects:globals/*'],
  },
  // The bucket and the topic encrypt under the stage key.
  { sid: 'UseTheStageKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: ['key'] },
  // backup, drill, restore: start one; audit and status: the last executions.
  {
    sid: 'StartAndListExecutions',
    actions: ['states:StartExecution', 'states:ListExecutions'],
    resources: ['stateMachines'],
  },
  // Following an execution state by state; audit and status: why one failed.
  { sid: 'FollowExecutions', actions: ['states:GetExecutionHistory'], resources: ['executions'] },
  // check: production's reachability, privileges and major, with the secret the dump uses.
  { sid: 'CheckProduction', actions: ['secretsmanager:GetSecretValue'], resources: ['secret:production'] },
  // check: Render's own recovery, when Render is watched.
  {
    sid: 'CheckRender',
    actions: ['secretsmanager:GetSecretValue'],
    resources: ['secret:render'],
    when: 'render',
  },
  // restore: the target's URL in a secret of its own, deleted by the CLI if no execution started.
  {
    sid: 'HandOverRestoreTargets',
    actions: ['secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret'],
    resources: ['secret:restoreTargets'],
  },
  // check --send-test-alert.
  { sid: 'SendTestAlert', actions: ['sns:Publish'], resources: ['alertTopic'] },
];

/** The policy document, as CloudFormation resolves it for the stage. */
export function operatorPolicyDocument(facts: DeployFacts): Json {
  const logGroup = (name: string) =>
    `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${name}`;
  return {
    Version: '2012-10-17',
    Statement: [
      // The stage's state machines by name: Step Functions has no resource-level permission for this.
      { Sid: 'FindTheStage', Effect: 'Allow', Action: 'states:ListStateMachines', Resource: '*' },
      // The bucket's name, from the backup state machine's tag (unless the config names the bucket).
      {
        Sid: 'ReadTheBucketTag',
        Effect: 'Allow',
        Action: 'states:ListTagsForResource',
        Resource: { Ref: stateMachineResourceOf('backup') },
      },
      ...operatorGrants.map((grant) => statementOf(grant, facts)),
      // A followed step's progress lines, on a terminal (tools/aws/step-progress.ts).
      {
        Sid: 'ReadStepProgress',
        Effect: 'Allow',
        Action: 'logs:FilterLogEvents',
        Resource: progressLogGroups(facts.stage).flatMap((name) => [
          { 'Fn::Sub': logGroup(name) },
          { 'Fn::Sub': logGroup(`${name}:*`) },
        ]),
      },
    ],
  };
}

/** The managed policy resource (and its output), in the functions' `resources:` entry. */
export function operatorResources(facts: DeployFacts): { Resources: Json; Outputs: Json } {
  return {
    Resources: {
      [operatorPolicyId]: {
        Type: 'AWS::IAM::ManagedPolicy',
        Properties: {
          ManagedPolicyName: `${facts.service}-${facts.stage}-operator`,
          Description: `What backupctl --stage ${facts.stage} needs: attach it to the operators' users, group or role`,
          PolicyDocument: operatorPolicyDocument(facts),
        },
      },
    },
    Outputs: {
      OperatorPolicyArn: {
        Description: 'Attach to whoever runs backupctl --stage (docs/deploy.md, "The operator policy")',
        Value: { Ref: operatorPolicyId },
      },
    },
  };
}
