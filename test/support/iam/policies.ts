/**
 * The IAM policies the packaged template gives each role, as plain policy documents: the role
 * resources that serverless.yml takes from tools/deploy (serverlessSettings' `functionResources`, the
 * functions', the state machines' and the worker's roles; test/deploy/template.test.ts proves the
 * packaged template carries exactly these), with every CloudFormation expression resolved for one
 * stage of config/test.yml (every optional feature on) whose bucket, topics, state machines and
 * secrets are the ones a test's settings name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, type Tags } from 'yaml';
import { functions, logicalIdOf, machineNames } from '../../../functions/tasks.ts';
import { roleIdOf } from '../../../tools/deploy/functions.ts';
import { serverlessSettings } from '../../../tools/deploy/serverless-settings.ts';
import { loadStageConfig } from '../../../tools/deploy/stage-config.ts';

type Json = Record<string, unknown>;
const root = join(import.meta.dirname, '..', '..', '..');

export const stage = 'test';
export const account = '123456789012';
export const region = 'eu-central-1';
export const keyArn = `arn:aws:kms:${region}:${account}:key/00000000-0000-4000-8000-00000000b4c4`;
/** The layer versions the template's `PgClientLambdaLayer` and `PgServerLambdaLayer` stand for. */
export const layerArns = {
  PgClientLambdaLayer: `arn:aws:lambda:${region}:${account}:layer:pg-client:1`,
  PgServerLambdaLayer: `arn:aws:lambda:${region}:${account}:layer:pg-server:1`,
};

export interface PolicyDocument {
  Version: string;
  Statement: Json[];
}

/** A role of the template: its logical id and the statements of its inline policies. */
export interface RolePolicy {
  roleId: string;
  document: PolicyDocument;
  /** AWS managed policies attached (their ARNs): none may be attached without being checked. */
  managedPolicyArns: string[];
}

/** CloudFormation's short-form tags, as their long forms, for reading tools/deploy/resources/*.yml. */
const cloudFormationTags: Tags = [
  ...['Sub', 'Ref', 'GetAtt'].map((name) => ({
    tag: `!${name}`,
    resolve: (value: string) =>
      name === 'Ref' ? { Ref: value } : { [`Fn::${name}`]: name === 'GetAtt' ? value.split('.') : value },
  })),
  ...['If', 'Equals'].map((name) => ({
    tag: `!${name}`,
    collection: 'seq' as const,
    resolve: (value: { toJSON(): unknown }) => ({ [`Fn::${name}`]: value.toJSON() }),
  })),
];

/** The stage key's key policy (KMS evaluates it with the role's policy: both must allow). */
function keyPolicyTemplate(): Json {
  const text = readFileSync(join(root, 'tools/deploy/resources/storage.yml'), 'utf8');
  const storage = parse(text, { customTags: cloudFormationTags }) as {
    Resources: { BackupKey: { Properties: { KeyPolicy: Json } } };
  };
  return storage.Resources.BackupKey.Properties.KeyPolicy;
}

let cachedSettings: ReturnType<typeof serverlessSettings> | undefined;
const deploySettings = () => {
  cachedSettings ??= serverlessSettings(stage, root);
  return cachedSettings;
};

/** The role ids of the template: one per Lambda function, the worker's, one per state machine. */
export function roleResources(): Record<string, Json> {
  const resources = deploySettings().functionResources.Resources as Record<string, Json>;
  return Object.fromEntries(Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Role'));
}

/**
 * The operator policy (tools/deploy/operator.ts), which `backupctl <command> --stage` acts under: the
 * CLI names itself so around a stage command (tools/cli/context.ts).
 */
export const operatorPolicyId = 'OperatorPolicy';
export const isOperator = (principal: string) => principal.startsWith('backupctl ');

/** Which role a caller of tools/local/aws-caller.ts acts as. */
export function roleOf(principal: string): string {
  if (isOperator(principal)) return operatorPolicyId;
  if (principal === 'worker') return 'WorkerRole';
  const machine = /^state-machine:(\w+)$/.exec(principal)?.[1];
  if (machine) return `${machine[0]?.toUpperCase()}${machine.slice(1)}StateMachineRole`;
  if (principal in functions) return roleIdOf(principal as keyof typeof functions);
  throw new Error(`no role for the AWS caller ${principal}`);
}

/** The stage's resources as a test's settings name them (topics, state machines, bucket). */
export interface StageResources {
  bucket: string;
  alertTopicArn: string;
  summaryTopicArn: string;
  stateMachineArns: Record<string, string>;
}

/**
 * The resources a caller's policy is resolved for: for a step, those its settings name; for the CLI,
 * the stage's own (its topics by the names the template gives them), and the bucket it looked up.
 */
export function resourcesOf(caller: { principal: string; settings: Record<string, string> }): StageResources {
  if (!isOperator(caller.principal)) return stageResourcesOf(caller.settings);
  const topic = (name: string) => `arn:aws:sns:${region}:${account}:verified-pg-backups-${stage}-${name}`;
  return {
    ...stageResourcesOf(caller.settings),
    alertTopicArn: topic('alerts'),
    summaryTopicArn: topic('summaries'),
  };
}

export function stageResourcesOf(settings: Record<string, string>): StageResources {
  const machineArn = (machine: string) =>
    settings[`${machine.toUpperCase()}_STATE_MACHINE_ARN`] ??
    `arn:aws:states:${region}:${account}:stateMachine:verified-pg-backups-${stage}-${machine}`;
  return {
    bucket: settings.BACKUP_BUCKET ?? 'backups',
    alertTopicArn: settings.ALERT_TOPIC_ARN ?? `arn:aws:sns:${region}:${account}:verified-pg-backups-alerts`,
    summaryTopicArn:
      settings.SUMMARY_TOPIC_ARN ?? `arn:aws:sns:${region}:${account}:verified-pg-backups-summaries`,
    stateMachineArns: Object.fromEntries(machineNames.map((machine) => [machine, machineArn(machine)])),
  };
}

const pascal = (text: string) => `${text[0]?.toUpperCase()}${text.slice(1)}`;

/** Resolves Ref, Fn::GetAtt, Fn::Sub and Fn::If as CloudFormation would for this stage. */
function resolver(resources: StageResources) {
  const settings = deploySettings();
  const conditions: Record<string, boolean> = {
    CreateKey: settings.createKey === 'true',
    UseSlack: settings.useSlack === 'true',
    UseAlertWebhook: settings.useAlertWebhook === 'true',
    UseHeartbeat: settings.useHeartbeat === 'true',
    UseRender: settings.useRender === 'true',
    UseVpc: settings.useVpc === 'true',
    UseStaging: settings.useStaging === 'true',
  };
  const values: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': region,
    'AWS::AccountId': account,
    'BackupBucket.Arn': `arn:aws:s3:::${resources.bucket}`,
    'BackupKey.Arn': keyArn,
    AlertTopic: resources.alertTopicArn,
    SummaryTopic: resources.summaryTopicArn,
    'WorkerProject.Arn': `arn:aws:codebuild:${region}:${account}:project/verified-pg-backups-${stage}-worker`,
    ...layerArns,
  };
  for (const [machine, arn] of Object.entries(resources.stateMachineArns)) {
    values[`${pascal(machine)}StateMachine`] = arn;
    values[`${pascal(machine)}StateMachine.Name`] = arn.split(':').pop() ?? '';
  }
  for (const key of Object.keys(functions)) {
    values[`${logicalIdOf(key as keyof typeof functions)}.Arn`] =
      `arn:aws:lambda:${region}:${account}:function:verified-pg-backups-${stage}-${key}`;
  }
  const lookup = (name: string): string => {
    const value = values[name];
    if (value === undefined)
      throw new Error(`the IAM policies refer to ${name}, which the tests cannot resolve`);
    return value;
  };
  const noValue = Symbol('NoValue');
  const resolve = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(resolve).filter((item) => item !== noValue);
    if (node === null || typeof node !== 'object') return node;
    const object = node as Json;
    const [only] = Object.keys(object);
    if (Object.keys(object).length === 1 && only) {
      const argument = object[only];
      if (only === 'Ref') return argument === 'AWS::NoValue' ? noValue : lookup(String(argument));
      if (only === 'Fn::GetAtt') return lookup((argument as string[]).join('.'));
      if (only === 'Fn::Sub') return String(argument).replace(/\$\{([\w:.]+)\}/g, (_, name) => lookup(name));
      if (only === 'Fn::If') {
        const [condition, whenTrue, whenFalse] = argument as [string, unknown, unknown];
        if (!(condition in conditions)) throw new Error(`unknown condition ${condition}`);
        return resolve(conditions[condition] ? whenTrue : whenFalse);
      }
      if (only.startsWith('Fn::')) throw new Error(`the tests cannot resolve ${only}`);
    }
    return Object.fromEntries(
      Object.entries(object)
        .map(([key, value]) => [key, resolve(value)] as const)
        .filter(([, value]) => value !== noValue),
    );
  };
  return resolve;
}

const cache = new Map<string, Record<string, RolePolicy>>();

let cachedKeyPolicy: unknown;
export function keyPolicy(): unknown {
  cachedKeyPolicy ??= resolver(stageResourcesOf({}))(keyPolicyTemplate());
  return cachedKeyPolicy;
}

/** A grant taken out of a policy: what a test does to show that the evaluation can deny. */
let withheld: { policy: string; action: string } | undefined;

/** Evaluates `policy` without `action` until the returned function is called. */
export function withholdGrant(policy: string, action: string): () => void {
  withheld = { policy, action };
  cache.clear();
  return () => {
    withheld = undefined;
    cache.clear();
  };
}

function withoutWithheld(roleId: string, statements: Json[]): Json[] {
  if (withheld?.policy !== roleId) return statements;
  const { action } = withheld;
  return statements.flatMap((statement) => {
    const actions = ([] as unknown[]).concat(statement.Action).filter((a) => a !== action);
    return actions.length === 0 ? [] : [{ ...statement, Action: actions }];
  });
}

/** Every role's policy, resolved for the stage resources a test's settings name. */
export function rolePolicies(resources: StageResources): Record<string, RolePolicy> {
  const fingerprint = JSON.stringify(resources);
  const cached = cache.get(fingerprint);
  if (cached) return cached;
  const resolve = resolver(resources);
  const result: Record<string, RolePolicy> = {};
  for (const [roleId, role] of Object.entries(roleResources())) {
    const properties = resolve(role.Properties) as {
      Policies?: { PolicyDocument: PolicyDocument }[];
      ManagedPolicyArns?: string[];
    };
    result[roleId] = {
      roleId,
      document: {
        Version: '2012-10-17',
        Statement: (properties.Policies ?? []).flatMap((policy) => policy.PolicyDocument.Statement),
      },
      managedPolicyArns: properties.ManagedPolicyArns ?? [],
    };
  }
  const operator = deploySettings().functionResources.Resources[operatorPolicyId] as Json | undefined;
  if (operator) {
    const properties = resolve(operator.Properties) as { PolicyDocument: PolicyDocument };
    result[operatorPolicyId] = {
      roleId: operatorPolicyId,
      document: properties.PolicyDocument,
      managedPolicyArns: [],
    };
  }
  for (const policy of Object.values(result)) {
    policy.document = {
      ...policy.document,
      Statement: withoutWithheld(policy.roleId, policy.document.Statement),
    };
  }
  cache.set(fingerprint, result);
  return result;
}

/** The secret ARNs config/test.yml names, by the setting that carries a secret's ARN at run time. */
export function stageSecretArns(): Record<string, string | undefined> {
  const config = loadStageConfig(stage, root);
  return {
    PRODUCTION_DATABASE_SECRET_ARN: config.databases.productionSecretArn,
    STAGING_DATABASE_SECRET_ARN: config.databases.stagingSecretArn,
    SLACK_WEBHOOK_SECRET_ARN: config.alerts.slackWebhookSecretArn,
    ALERT_WEBHOOK_SECRET_ARN: config.alerts.webhookSecretArn,
    HEARTBEAT_SECRET_ARN: config.alerts.heartbeatSecretArn,
    RENDER_API_KEY_SECRET_ARN: config.render?.apiKeySecretArn,
  };
}
