/**
 * Packages the service offline once (`npm run package`'s script, config/test.yml) and reads the
 * generated CloudFormation template. Takes ~15 s, most of it esbuild and zipping.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { prices } from '../../config/prices.ts';
import { childMachineOf, functions, machineNames, tasks } from '../../functions/tasks.ts';
import { metricsNamespace, stepMetricNames } from '../../lib/logging.ts';
import {
  describeFindings,
  integrationCheck,
  loadSpec,
  schemaFindings,
  type Template,
} from '../support/cfn-schema.ts';
import { everyState, everyTaskOfEveryMachine, loadAsl, workerResource } from '../support/definitions.ts';
import { roleResources } from '../support/iam/policies.ts';
import { type PackagedService, packageService } from '../support/package-service.ts';
import { unzip } from '../support/zip.ts';

const root = join(import.meta.dirname, '..', '..');
/** The package (test/support/package-service.ts: the packager's temporary files go with it). */
let service: PackagedService;

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Condition?: string;
  Properties: Json;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

let template: { Resources: Record<string, Resource>; Conditions: Json };
const resource = (id: string): Resource => {
  const found = template.Resources[id];
  if (!found) throw new Error(`no resource ${id} in the template`);
  return found;
};
const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const sub = (text: string) => ({ 'Fn::Sub': text });
const kmsKey = { 'Fn::If': ['CreateKey', { 'Fn::GetAtt': ['BackupKey', 'Arn'] }, 'none'] };

function roleStatements(roleId: string): Statement[] {
  const policies = resource(roleId).Properties.Policies as { PolicyDocument: { Statement: unknown[] } }[];
  return policies.flatMap((p) =>
    p.PolicyDocument.Statement.flatMap((s) => {
      // The Slack statement is wrapped in Fn::If [UseSlack, statement, NoValue]; config/test.yml sets it.
      // It names no VPC, so the network interface statements (Fn::If [UseVpc, ...]) are left out.
      const conditional = (s as { 'Fn::If'?: [string, Statement, unknown] })['Fn::If'];
      if (conditional?.[0] === 'UseVpc') return [];
      return [conditional ? conditional[1] : (s as Statement)];
    }),
  );
}

/** action -> resources, over every Allow statement of the role except its own log stream writes. */
function grants(roleId: string): Record<string, unknown[]> {
  const result: Record<string, unknown[]> = {};
  for (const statement of roleStatements(roleId)) {
    if (statement.Effect !== 'Allow' || statement.Sid === 'WriteOwnLogs') continue;
    for (const action of list(statement.Action)) {
      result[action] = [...(result[action] ?? []), ...list(statement.Resource)];
    }
  }
  return result;
}

const functionRoles = {
  plan: 'PlanRole',
  dump: 'DumpRole',
  promote: 'PromoteRole',
  checksum: 'ChecksumRole',
  verify: 'VerifyRole',
  notify: 'NotifyRole',
  drillSelectBackup: 'DrillSelectBackupRole',
  drillRestore: 'DrillRestoreRole',
  drillRecordEvidence: 'DrillRecordEvidenceRole',
  drillNotify: 'DrillNotifyRole',
  workerResult: 'WorkerResultRole',
  retention: 'RetentionRole',
  alertRelay: 'AlertRelayRole',
  status: 'StatusRole',
} as const;

/** The drill's Task states and the functions they invoke. */
const drillTasks = {
  SelectBackup: 'DrillSelectBackupLambdaFunction',
  Checksum: 'ChecksumLambdaFunction',
  RestoreAndCheck: 'DrillRestoreLambdaFunction',
  RecordEvidence: 'DrillRecordEvidenceLambdaFunction',
  Notify: 'DrillNotifyLambdaFunction',
};
const rulesTargeting = (arn: unknown) =>
  Object.values(template.Resources).filter(
    (r) =>
      r.Type === 'AWS::Events::Rule' &&
      (r.Properties.Targets as { Arn: unknown }[]).some((t) => JSON.stringify(t.Arn) === JSON.stringify(arn)),
  );

beforeAll(async () => {
  // No credentials and no region from the environment: packaging must not need them.
  service = await packageService('test');
  template = service.template as unknown as typeof template;
}, 1_200_000);

afterAll(() => {
  service?.remove();
});

describe('packaged template', () => {
  describe('backup bucket', () => {
    it('encrypts with SSE-KMS under the stage key, which rotates', () => {
      const encryption = resource('BackupBucket').Properties.BucketEncryption as Json;
      expect(encryption).toEqual({
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: kmsKey },
            BucketKeyEnabled: true,
          },
        ],
      });
      expect(resource('BackupKey').Properties.EnableKeyRotation).toBe(true);
    });

    it('blocks all four kinds of public access', () => {
      expect(resource('BackupBucket').Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    });

    it('keeps versions and, with Object Lock configured, retains for the retention days', () => {
      const bucket = resource('BackupBucket').Properties;
      expect(bucket.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.ObjectLockConfiguration).toEqual({
        'Fn::If': [
          'UseObjectLock',
          { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 35 } } },
          { Ref: 'AWS::NoValue' },
        ],
      });
      expect(template.Conditions.UseObjectLock).toEqual({ 'Fn::Equals': ['true', 'true'] });
    });

    it('expires only backups the retention pass marked, old versions, incoming/ and stale uploads', () => {
      const rules = (resource('BackupBucket').Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
      // Age alone never deletes a backup: the one rule for backups/ needs the retention pass's tag.
      const backupRules = rules.filter((rule) => rule.Prefix === 'backups/');
      expect(backupRules).toEqual([
        {
          Id: 'ExpireBackupsMarkedByRetention',
          Status: 'Enabled',
          Prefix: 'backups/',
          TagFilters: [{ Key: 'expirable', Value: 'true' }],
          ExpirationInDays: 1,
        },
      ]);
      // The nights' roles likewise: only what the retention pass marked.
      expect(rules.filter((rule) => rule.Prefix === 'globals/')).toEqual([
        {
          Id: 'ExpireGlobalsMarkedByRetention',
          Status: 'Enabled',
          Prefix: 'globals/',
          TagFilters: [{ Key: 'expirable', Value: 'true' }],
          ExpirationInDays: 1,
        },
      ]);
      expect(rules.filter((rule) => !rule.Prefix && rule.ExpirationInDays !== undefined)).toEqual([]);
      expect(rules).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Status: 'Enabled', Prefix: 'incoming/', ExpirationInDays: 1 }),
          expect.objectContaining({ Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
          expect.objectContaining({
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          }),
        ]),
      );
    });

    it('denies requests without TLS and uploads that ask for other encryption or another key', () => {
      const statements = (
        resource('BackupBucketPolicy').Properties.PolicyDocument as { Statement: Statement[] }
      ).Statement;
      const bucketArn = { 'Fn::GetAtt': ['BackupBucket', 'Arn'] };
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:*',
            Resource: [bucketArn, sub('${BackupBucket.Arn}/*')],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
          }),
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: {
              StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': kmsKey },
            },
          }),
        ]),
      );
      expect(statements.every((s) => s.Effect === 'Deny')).toBe(true);
    });
  });

  it('encrypts the alert topic and subscribes the configured addresses', () => {
    const topic = resource('AlertTopic').Properties;
    expect(topic.KmsMasterKeyId).toEqual(kmsKey);
    expect(topic.Subscription).toEqual([
      { Endpoint: 'ops@example.com', Protocol: 'email' },
      { Endpoint: 'oncall@example.com', Protocol: 'email' },
    ]);
  });

  it('sends success summaries to a topic of their own, so the alert topic carries only what needs action', () => {
    const topic = resource('SummaryTopic').Properties;
    expect(topic.KmsMasterKeyId).toEqual(kmsKey);
    expect(topic.Subscription).toEqual([{ Endpoint: 'team@example.com', Protocol: 'email' }]);
    const published = (role: string) => grants(role)['sns:Publish'];
    expect(published('NotifyRole')).toEqual([{ Ref: 'SummaryTopic' }]);
    expect(published('DrillNotifyRole')).toEqual([{ Ref: 'SummaryTopic' }]);
    const env = (name: string) =>
      (resource(`${name}LambdaFunction`).Properties.Environment as { Variables: Json }).Variables;
    expect(env('Notify').SUMMARY_TOPIC_ARN).toEqual({ Ref: 'SummaryTopic' });
    expect(env('Notify').ALERT_TOPIC_ARN).toBeUndefined();
  });

  it("gives the status function config/prices.ts's table for its cost estimate, and no other function", () => {
    const env = (name: string) =>
      (resource(`${name}LambdaFunction`).Properties.Environment as { Variables: Json } | undefined)
        ?.Variables;
    expect(JSON.parse(String(env('Status')?.PRICE_TABLE))).toEqual(prices);
    expect(env('Notify')?.PRICE_TABLE).toBeUndefined();
  });

  it('relays the alert topic to Slack and the webhook: a Lambda subscription after the e-mail ones', () => {
    const subscriptions = Object.values(template.Resources).filter(
      (r) =>
        r.Type === 'AWS::SNS::Subscription' &&
        JSON.stringify(r.Properties.TopicArn) === '{"Ref":"AlertTopic"}',
    );
    expect(subscriptions.map((r) => r.Properties)).toEqual([
      expect.objectContaining({
        Protocol: 'lambda',
        Endpoint: { 'Fn::GetAtt': ['AlertRelayLambdaFunction', 'Arn'] },
      }),
    ]);
    const invoke = Object.values(template.Resources).find(
      (r) =>
        r.Type === 'AWS::Lambda::Permission' &&
        JSON.stringify(r.Properties.FunctionName).includes('AlertRelayLambdaFunction'),
    );
    expect(invoke?.Properties).toMatchObject({
      Principal: 'sns.amazonaws.com',
      SourceArn: { Ref: 'AlertTopic' },
    });
    // The webhook URLs are secrets: the function gets their ARNs, never a URL.
    const env = (resource('AlertRelayLambdaFunction').Properties.Environment as { Variables: Json })
      .Variables;
    expect(env).toMatchObject({
      SLACK_WEBHOOK_SECRET_ARN: {
        'Fn::If': [
          'UseSlack',
          'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/slack-MnOpQr',
          { Ref: 'AWS::NoValue' },
        ],
      },
      ALERT_WEBHOOK_SECRET_ARN: {
        'Fn::If': [
          'UseAlertWebhook',
          'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/webhook-WxYzAb',
          { Ref: 'AWS::NoValue' },
        ],
      },
      HEARTBEAT_SECRET_ARN: {
        'Fn::If': [
          'UseHeartbeat',
          'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/heartbeat-CdEfGh',
          { Ref: 'AWS::NoValue' },
        ],
      },
    });
    expect(grants('AlertRelayRole')).toEqual({
      'secretsmanager:GetSecretValue': [
        'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/slack-MnOpQr',
        'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/webhook-WxYzAb',
        'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/heartbeat-CdEfGh',
      ],
    });
    // It talks to no database, so it stays outside the VPC and reaches Slack without a NAT gateway.
    expect(resource('AlertRelayLambdaFunction').Properties.VpcConfig).toBeUndefined();
    expect(resource('AlertRelayFailedAlarm').Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'AlertRelayLambdaFunction' } }],
      AlarmActions: [{ Ref: 'AlertTopic' }],
    });
  });

  describe('function roles', () => {
    it('gives every function its own role', () => {
      const roles = Object.entries(functionRoles).map(([name, role]) => {
        const fn = resource(`${name[0]?.toUpperCase()}${name.slice(1)}LambdaFunction`).Properties;
        expect(fn.Role).toEqual({ 'Fn::GetAtt': [role, 'Arn'] });
        return role;
      });
      expect(new Set(roles).size).toBe(14);
      expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
    });

    it('allows exactly what each step does', () => {
      const incoming = sub('${BackupBucket.Arn}/incoming/*');
      const backups = sub('${BackupBucket.Arn}/backups/*');
      const dumps = sub('${BackupBucket.Arn}/backups/*.dump');
      const manifests = sub('${BackupBucket.Arn}/backups/*.manifest.json');
      const verifications = sub('${BackupBucket.Arn}/backups/*.verification.json');
      const checks = sub('${BackupBucket.Arn}/backups/*.checks.json');
      const vaults = [
        sub('${BackupBucket.Arn}/backups/vault.json'),
        sub('${BackupBucket.Arn}/backups/db=*/vault.json'),
      ];
      const production = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/production-AbCdEf';
      const staging = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/staging-GhIjKl';
      const slack = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/slack-MnOpQr';
      expect(grants('DumpRole')).toEqual({
        's3:PutObject': [incoming],
        's3:AbortMultipartUpload': [incoming],
        // The dump first aborts what an earlier attempt left in incoming/.
        's3:ListBucketMultipartUploads': [{ 'Fn::GetAtt': ['BackupBucket', 'Arn'] }],
        'kms:GenerateDataKey': [kmsKey],
        'kms:Decrypt': [kmsKey],
        'secretsmanager:GetSecretValue': [production],
      });
      expect(grants('PromoteRole')).toEqual({
        's3:GetObject': [incoming, dumps, manifests, ...vaults],
        's3:GetObjectTagging': [incoming],
        's3:DeleteObject': [incoming],
        's3:PutObject': [dumps, manifests, ...vaults],
        's3:AbortMultipartUpload': [dumps, manifests],
        's3:PutObjectTagging': [dumps],
        's3:ListBucket': [{ 'Fn::GetAtt': ['BackupBucket', 'Arn'] }],
        'kms:GenerateDataKey': [kmsKey],
        'kms:Decrypt': [kmsKey],
      });
      // A failed check is recorded against the backup (lib/backup/checks.ts).
      expect(grants('ChecksumRole')).toEqual({
        's3:GetObject': [backups, checks],
        's3:PutObject': [checks],
        's3:ListBucket': [{ 'Fn::GetAtt': ['BackupBucket', 'Arn'] }],
        'kms:GenerateDataKey': [kmsKey],
        'kms:Decrypt': [kmsKey],
      });
      // Plan reads the database's size (the production secret) and the newest manifest's throughput.
      expect(grants('PlanRole')).toEqual({
        'secretsmanager:GetSecretValue': [production],
        's3:ListBucket': [{ 'Fn::GetAtt': ['BackupBucket', 'Arn'] }],
        's3:GetObject': [manifests, ...vaults],
        'kms:Decrypt': [kmsKey],
      });
      expect(grants('WorkerResultRole')).toEqual({
        's3:GetObject': [sub('${BackupBucket.Arn}/worker/*')],
        's3:ListBucket': [{ 'Fn::GetAtt': ['BackupBucket', 'Arn'] }],
        'kms:Decrypt': [kmsKey],
      });
      // config/test.yml verifies on staging; on a scratch server the staging grant's condition is false.
      // The night's roles too: replayed on the scratch server before owners and grants are restored.
      expect(grants('VerifyRole')).toEqual({
        's3:GetObject': [backups, sub('${BackupBucket.Arn}/globals/*')],
        's3:ListBucket': [{ 'Fn::GetAtt': ['BackupBucket', 'Arn'] }],
        'kms:Decrypt': [kmsKey],
        'secretsmanager:GetSecretValue': [staging],
      });
      const stagingGrant = (
        resource('VerifyRole').Properties.Policies as { PolicyDocument: { Statement: unknown[] } }[]
      )
        .flatMap((p) => p.PolicyDocument.Statement)
        .find((statement) => JSON.stringify(statement).includes('ReadStagingSecret'));
      expect(stagingGrant).toMatchObject({
        'Fn::If': ['UseStaging', expect.anything(), { Ref: 'AWS::NoValue' }],
      });
      expect(template.Conditions.UseStaging).toEqual({ 'Fn::Equals': ['true', 'true'] });
      expect(grants('NotifyRole')).toEqual({
        's3:GetObject': [manifests],
        's3:PutObject': [verifications],
        's3:PutObjectTagging': [dumps],
        'sns:Publish': [{ Ref: 'SummaryTopic' }],
        'kms:GenerateDataKey': [kmsKey],
        'kms:Decrypt': [kmsKey],
        'secretsmanager:GetSecretValue': [slack],
      });
      // The night's one heartbeat ping, and nothing else (the backup executions ping none).
      expect(grants('HeartbeatRole')).toEqual({
        'secretsmanager:GetSecretValue': [
          'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/heartbeat-CdEfGh',
        ],
      });
    });

    it('allows the drill and status functions exactly what their steps do', () => {
      const backups = sub('${BackupBucket.Arn}/backups/*');
      const manifests = sub('${BackupBucket.Arn}/backups/*.manifest.json');
      const verifications = sub('${BackupBucket.Arn}/backups/*.verification.json');
      const checks = sub('${BackupBucket.Arn}/backups/*.checks.json');
      const drills = sub('${BackupBucket.Arn}/drills/*');
      const bucket = { 'Fn::GetAtt': ['BackupBucket', 'Arn'] };
      const slack = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/slack-MnOpQr';
      expect(grants('DrillSelectBackupRole')).toEqual({
        's3:ListBucket': [bucket],
        's3:GetObject': [manifests, verifications, checks],
        'kms:Decrypt': [kmsKey],
      });
      // The drill restores onto a scratch server of its own: it reads no database secret at all.
      expect(grants('DrillRestoreRole')).toEqual({
        's3:GetObject': [backups, sub('${BackupBucket.Arn}/globals/*')],
        's3:ListBucket': [bucket],
        'kms:Decrypt': [kmsKey],
      });
      expect(grants('DrillRecordEvidenceRole')).toEqual({
        's3:GetObject': [manifests, checks],
        's3:PutObject': [drills, checks],
        's3:ListBucket': [bucket],
        'kms:GenerateDataKey': [kmsKey],
        'kms:Decrypt': [kmsKey],
      });
      // It reads no evidence: everything it says comes in its input.
      expect(grants('DrillNotifyRole')).toEqual({
        'sns:Publish': [{ Ref: 'SummaryTopic' }],
        'kms:GenerateDataKey': [kmsKey],
        'kms:Decrypt': [kmsKey],
        'secretsmanager:GetSecretValue': [slack],
      });
      expect(grants('StatusRole')).toEqual({
        // The second listing: Render's drill records, only with Render (config/test.yml watches Render).
        's3:ListBucket': [bucket, bucket],
        // The last two: which of Render's standing findings were alerted, and Render's drill records.
        's3:GetObject': [
          manifests,
          verifications,
          checks,
          sub('${BackupBucket.Arn}/drills/*.json'),
          sub('${BackupBucket.Arn}/status/provider-alerts.json'),
          sub('${BackupBucket.Arn}/provider/render/drills/*'),
        ],
        's3:PutObject': [sub('${BackupBucket.Arn}/status/*')],
        'kms:GenerateDataKey': [kmsKey],
        'kms:Decrypt': [kmsKey],
        // Its alerts go through the alert topic (and the relay): no Slack secret.
        'sns:Publish': [{ Ref: 'AlertTopic' }],
        'secretsmanager:GetSecretValue': [
          'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/render-StUvWx',
        ],
        // Its own stage's executions only: a failed night must turn the status red.
        'states:ListExecutions': [
          { Ref: 'BackupStateMachine' },
          { Ref: 'DrillStateMachine' },
          { Ref: 'RestoreStateMachine' },
          { Ref: 'NightlyStateMachine' },
          { Ref: 'DrillsStateMachine' },
        ],
        'states:GetExecutionHistory': ['backup', 'drill', 'restore', 'nightly', 'drills'].map((machine) =>
          sub(
            `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:verified-pg-backups-test-${machine}:*`,
          ),
        ),
      });
    });

    it('lets the retention pass read keys and set tags under backups/, and nothing else, daily', () => {
      expect(grants('RetentionRole')).toEqual({
        's3:ListBucket': [{ 'Fn::GetAtt': ['BackupBucket', 'Arn'] }],
        // The catalog's judgement of each backup: its records, never its dump.
        's3:GetObject': [
          sub('${BackupBucket.Arn}/backups/*.manifest.json'),
          sub('${BackupBucket.Arn}/backups/*.verification.json'),
          sub('${BackupBucket.Arn}/backups/*.checks.json'),
        ],
        'kms:Decrypt': [kmsKey],
        // The nights' globals/ too (lib/backup/retention.ts, planGlobalsRetention).
        's3:GetObjectTagging': [sub('${BackupBucket.Arn}/backups/*'), sub('${BackupBucket.Arn}/globals/*')],
        's3:PutObjectTagging': [sub('${BackupBucket.Arn}/backups/*'), sub('${BackupBucket.Arn}/globals/*')],
      });
      const rules = rulesTargeting({ 'Fn::GetAtt': ['RetentionLambdaFunction', 'Arn'] });
      expect(rules.map((r) => r.Properties.ScheduleExpression)).toEqual(['cron(30 5 * * ? *)']);
      const env = (resource('RetentionLambdaFunction').Properties.Environment as { Variables: Json })
        .Variables;
      // dailyDays defaults to the bucket's retention days (35 in config/test.yml), so Object Lock agrees.
      expect(env).toMatchObject({
        RETENTION_KEEP_LAST_VERIFIED: '7',
        RETENTION_DAILY_DAYS: '35',
        RETENTION_WEEKLY_WEEKS: '8',
        RETENTION_MONTHLY_MONTHS: '12',
      });
    });

    it('scopes the drill and status listings to their prefixes', () => {
      const prefixes = (role: string) =>
        roleStatements(role).find((s) => list(s.Action).includes('s3:ListBucket'))?.Condition;
      expect(prefixes('DrillSelectBackupRole')).toEqual({ StringLike: { 's3:prefix': ['backups/*'] } });
      expect(prefixes('StatusRole')).toEqual({
        StringLike: { 's3:prefix': ['backups/*', 'drills/*', 'status/*'] },
      });
      expect(
        roleStatements('StatusRole').find((s) => (s as { Sid?: string }).Sid === 'ListRenderDrillRecords')
          ?.Condition,
      ).toEqual({ StringLike: { 's3:prefix': ['provider/render/drills/*'] } });
    });

    it('scopes ListBucket to the two prefixes', () => {
      const listing = roleStatements('PromoteRole').find((s) => list(s.Action).includes('s3:ListBucket'));
      expect(listing?.Condition).toEqual({ StringLike: { 's3:prefix': ['incoming/*', 'backups/*'] } });
    });

    it('publishes provider alerts from the status function only when Render is watched', () => {
      const statements = (
        resource('StatusRole').Properties.Policies as { PolicyDocument: { Statement: unknown[] } }[]
      ).flatMap((p) => p.PolicyDocument.Statement);
      const publishing = statements.filter((statement) => JSON.stringify(statement).includes('sns:Publish'));
      expect(publishing).toEqual([
        {
          'Fn::If': [
            'UseRender',
            expect.objectContaining({ Sid: 'PublishProviderAlert' }),
            { Ref: 'AWS::NoValue' },
          ],
        },
      ]);
    });

    it('gives functions in a VPC the network interface actions only, in their own policy, not the managed role', () => {
      const vpcStatement = {
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
          { Ref: 'AWS::NoValue' },
        ],
      };
      // verify reaches a standing staging database in staging mode.
      const joinVpc = ['listDatabases', 'globals', 'plan', 'dump', 'verify'];
      for (const role of Object.values(template.Resources)) {
        if (role.Type !== 'AWS::IAM::Role') continue;
        // AWSLambdaVPCAccessExecutionRole would let a function write to every log group.
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
      // Worker-only functions (the cloud restore, Render's drill) have no Lambda role.
      for (const key of (Object.keys(functions) as (keyof typeof functions)[]).filter(
        (key) => (functions[key] as { worker?: string }).worker !== 'worker-only',
      )) {
        const id = `${key[0]?.toUpperCase()}${key.slice(1)}Role`;
        const statements = (
          resource(id).Properties.Policies as { PolicyDocument: { Statement: unknown[] } }[]
        ).flatMap((p) => p.PolicyDocument.Statement);
        expect(statements.filter((statement) => JSON.stringify(statement).includes('ec2:'))).toEqual(
          joinVpc.includes(key) ? [vpcStatement] : [],
        );
      }
    });

    it('lets each function write only its own log group', () => {
      for (const [name, role] of Object.entries(functionRoles)) {
        const logs = roleStatements(role).filter((s) => s.Sid === 'WriteOwnLogs');
        expect(logs).toEqual([
          expect.objectContaining({
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: sub(
              `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/verified-pg-backups-test-${name}:*`,
            ),
          }),
        ]);
      }
    });

    it('uses no wildcard action or resource, deletes nothing outside incoming/, changes no policy', () => {
      for (const role of Object.values(functionRoles)) {
        for (const statement of roleStatements(role)) {
          for (const action of list(statement.Action)) {
            expect(action).not.toContain('*');
            expect(action).not.toMatch(/Policy|PutBucket|DeleteBucket|Acl/);
            if (/Delete/.test(action)) {
              expect(list(statement.Resource)).toEqual([sub('${BackupBucket.Arn}/incoming/*')]);
            }
          }
          for (const target of list(statement.Resource)) expect(target).not.toBe('*');
        }
      }
    });
  });

  describe('backup state machine', () => {
    it('runs the definition file unchanged (modulo the Fn::Sub wrapping)', () => {
      const definition = resource('BackupStateMachine').Properties.DefinitionString as { 'Fn::Sub': string };
      const file = readFileSync(join(root, 'statemachines/backup.asl.json'), 'utf8');
      expect(JSON.parse(definition['Fn::Sub'])).toEqual(JSON.parse(file));
    });

    it('is started by the nightly run (one execution per database), not by a schedule of its own', () => {
      expect(rulesTargeting({ Ref: 'BackupStateMachine' })).toEqual([]);
      const rules = rulesTargeting({ Ref: 'NightlyStateMachine' });
      expect(rules).toHaveLength(1);
      expect(rules[0]?.Properties).toMatchObject({
        ScheduleExpression: 'cron(0 2 * * ? *)',
        State: 'ENABLED',
        Targets: [
          expect.objectContaining({ Arn: { Ref: 'NightlyStateMachine' }, Input: '{"trigger":"schedule"}' }),
        ],
      });
    });
  });

  describe('nightly state machine', () => {
    it('backs the databases up in a Map of backup executions, its concurrency from ListDatabases', () => {
      const definition = resource('NightlyStateMachine').Properties.DefinitionString as { 'Fn::Sub': string };
      const asl = JSON.parse(definition['Fn::Sub']) as {
        StartAt: string;
        States: Record<string, Record<string, unknown>>;
      };
      expect(asl.StartAt).toBe('ListDatabases');
      const map = asl.States.Databases as {
        Type: string;
        ItemsPath: string;
        MaxConcurrencyPath: string;
        ItemProcessor: { StartAt: string; States: Record<string, Record<string, unknown>> };
        Next: string;
      };
      expect(map).toMatchObject({
        Type: 'Map',
        ItemsPath: '$.list.databases',
        MaxConcurrencyPath: '$.list.concurrency',
        Next: 'Conclude',
      });
      const backup = map.ItemProcessor.States[map.ItemProcessor.StartAt];
      expect(backup).toMatchObject({
        Type: 'Task',
        Resource: 'arn:aws:states:::states:startExecution.sync:2',
        Parameters: { StateMachineArn: '${BackupStateMachine}', 'Input.$': '$.input' },
        // A failed database is caught inside the iteration, so the others go on.
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'DatabaseFailed' }],
      });
      expect(asl.States.SomeDatabasesFailed).toMatchObject({ Type: 'Fail', ErrorPath: '$.conclusion.error' });
    });

    it('may start, follow and stop executions of the backup state machine and nothing else', () => {
      const policy = resource('NightlyStateMachineRole').Properties.Policies as {
        PolicyDocument: { Statement: { Sid: string; Action: unknown; Resource: unknown }[] };
      }[];
      const statements = Object.fromEntries(
        (policy[0]?.PolicyDocument.Statement ?? []).map((s) => [s.Sid, [s.Action, s.Resource]]),
      );
      expect(statements.RunBackupExecutions).toEqual([
        'states:StartExecution',
        { Ref: 'BackupStateMachine' },
      ]);
      expect(statements.FollowBackupExecutions).toEqual([
        ['states:DescribeExecution', 'states:StopExecution'],
        {
          'Fn::Sub':
            'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${BackupStateMachine.Name}:*',
        },
      ]);
      expect(statements.InvokeStepFunctions?.[1]).toEqual([
        { 'Fn::GetAtt': ['ListDatabasesLambdaFunction', 'Arn'] },
        { 'Fn::GetAtt': ['GlobalsLambdaFunction', 'Arn'] },
        { 'Fn::GetAtt': ['ConcludeLambdaFunction', 'Arn'] },
        { 'Fn::GetAtt': ['HeartbeatLambdaFunction', 'Arn'] },
      ]);
    });

    it('lets Globals read the production secret and write under globals/, and nothing else', () => {
      expect(grants('GlobalsRole')).toEqual({
        'secretsmanager:GetSecretValue': [
          'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/production-AbCdEf',
        ],
        's3:PutObject': [sub('${BackupBucket.Arn}/globals/*')],
        // Single PutObjects: S3 asks for a data key and reads none back.
        'kms:GenerateDataKey': [kmsKey],
      });
    });

    it('tells ListDatabases which databases and how many at a time, from the stage config', () => {
      const environment = resource('ListDatabasesLambdaFunction').Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      expect(environment.Variables).toMatchObject({
        DATABASES: 'url',
        EXCLUDE_DATABASES: '',
        DATABASE_CONCURRENCY: '2',
      });
    });

    it('gives each Lambda the timeout of the Task that invokes it', () => {
      const states = JSON.parse(readFileSync(join(root, 'statemachines/backup.asl.json'), 'utf8')).States;
      const tasks = {
        Dump: 'DumpLambdaFunction',
        Promote: 'PromoteLambdaFunction',
        Checksum: 'ChecksumLambdaFunction',
        Verify: 'VerifyLambdaFunction',
        Notify: 'NotifyLambdaFunction',
      };
      for (const [state, fn] of Object.entries(tasks)) {
        expect(resource(fn).Properties.Timeout).toBe(states[state].TimeoutSeconds);
      }
    });

    it('names the bucket in a tag, where backupctl --stage reads it', () => {
      expect(resource('BackupStateMachine').Properties.Tags).toEqual([
        { Key: 'service', Value: 'verified-pg-backups' },
        { Key: 'stage', Value: 'test' },
        { Key: 'verified-pg-backups:bucket', Value: { Ref: 'BackupBucket' } },
      ]);
    });

    it('logs errors to CloudWatch without execution data', () => {
      expect(resource('BackupStateMachine').Properties.LoggingConfiguration).toEqual({
        Level: 'ERROR',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': ['BackupStateMachineLogGroup', 'Arn'] } },
          },
        ],
      });
    });

    it('may invoke only its functions, start only worker builds and publish only to the alert topic', () => {
      const allowed = grants('BackupStateMachineRole');
      expect(allowed['lambda:InvokeFunction']).toEqual(
        ['Plan', 'Dump', 'WorkerResult', 'Promote', 'Checksum', 'Verify', 'Notify'].map((name) => ({
          'Fn::GetAtt': [`${name}LambdaFunction`, 'Arn'],
        })),
      );
      for (const action of ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds']) {
        expect(allowed[action]).toEqual([{ 'Fn::GetAtt': ['WorkerProject', 'Arn'] }]);
      }
      const buildEnds = sub(
        'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule',
      );
      for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule']) {
        expect(allowed[action]).toEqual([buildEnds]);
      }
      expect(allowed['sns:Publish']).toEqual([{ Ref: 'AlertTopic' }]);
      const wildcards = Object.entries(allowed).filter(([, resources]) => resources.includes('*'));
      expect(
        wildcards.every(([action]) =>
          /^logs:\w+(Log|Resource)(Delivery|Deliveries|Policy|Policies|Groups)$/.test(action),
        ),
      ).toBe(true);
    });
  });

  describe('drill state machine', () => {
    it('runs the definition file unchanged (modulo the Fn::Sub wrapping)', () => {
      const definition = resource('DrillStateMachine').Properties.DefinitionString as { 'Fn::Sub': string };
      const file = readFileSync(join(root, 'statemachines/drill.asl.json'), 'utf8');
      expect(JSON.parse(definition['Fn::Sub'])).toEqual(JSON.parse(file));
      expect(resource('DrillStateMachine').Properties.StateMachineName).toBe(
        'verified-pg-backups-test-drill',
      );
    });

    it('is started quarterly by the drills run (one execution per database), not by a schedule of its own', () => {
      expect(rulesTargeting({ Ref: 'DrillStateMachine' })).toEqual([]);
      const rules = rulesTargeting({ Ref: 'DrillsStateMachine' });
      expect(rules).toHaveLength(1);
      expect(rules[0]?.Properties).toMatchObject({
        ScheduleExpression: 'cron(0 3 1 1,4,7,10 ? *)',
        State: 'ENABLED',
        Targets: [
          expect.objectContaining({ Arn: { Ref: 'DrillsStateMachine' }, Input: '{"trigger":"schedule"}' }),
        ],
      });
      const asl = JSON.parse(
        (resource('DrillsStateMachine').Properties.DefinitionString as { 'Fn::Sub': string })['Fn::Sub'],
      ) as { States: Record<string, { ItemProcessor?: { States: Record<string, unknown> } }> };
      expect(asl.States.Databases?.ItemProcessor?.States.DrillDatabase).toMatchObject({
        Resource: 'arn:aws:states:::states:startExecution.sync:2',
        Parameters: { StateMachineArn: '${DrillStateMachine}' },
      });
      const policy = resource('DrillsStateMachineRole').Properties.Policies as {
        PolicyDocument: { Statement: { Sid: string; Action: unknown; Resource: unknown }[] };
      }[];
      const run = policy[0]?.PolicyDocument.Statement.find((s) => s.Sid === 'RunDrillExecutions');
      expect(run).toMatchObject({ Action: 'states:StartExecution', Resource: { Ref: 'DrillStateMachine' } });
      // Render's drill runs on the worker after the database drills: the drills run may start its builds.
      expect(asl.States.RenderDrill).toMatchObject({ Type: 'Parallel', Next: 'Conclude' });
      const builds = policy[0]?.PolicyDocument.Statement.find((s) => s.Sid === 'RunWorkerBuilds');
      expect(builds).toMatchObject({ Resource: { 'Fn::GetAtt': ['WorkerProject', 'Arn'] } });
    });

    it('gives each drill Lambda the timeout of the Task that invokes it', () => {
      const states = JSON.parse(readFileSync(join(root, 'statemachines/drill.asl.json'), 'utf8')).States;
      for (const [state, fn] of Object.entries(drillTasks)) {
        expect(resource(fn).Properties.Timeout).toBeLessThanOrEqual(states[state].TimeoutSeconds);
        if (fn !== 'ChecksumLambdaFunction') {
          expect(resource(fn).Properties.Timeout).toBe(states[state].TimeoutSeconds);
        }
      }
    });

    it('logs errors to CloudWatch without execution data', () => {
      expect(resource('DrillStateMachine').Properties.LoggingConfiguration).toEqual({
        Level: 'ERROR',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': ['DrillStateMachineLogGroup', 'Arn'] } },
          },
        ],
      });
    });

    it('may invoke only the drill functions and checksum and publish only to the alert topic', () => {
      const allowed = grants('DrillStateMachineRole');
      expect(allowed['lambda:InvokeFunction']).toEqual(
        expect.arrayContaining(
          [...new Set(Object.values(drillTasks))].map((fn) => ({ 'Fn::GetAtt': [fn, 'Arn'] })),
        ),
      );
      // The drill's functions, checksum, and the reader of worker results.
      expect(allowed['lambda:InvokeFunction']).toHaveLength(6);
      expect(allowed['lambda:InvokeFunction']).toContainEqual({
        'Fn::GetAtt': ['WorkerResultLambdaFunction', 'Arn'],
      });
      expect(allowed['codebuild:StartBuild']).toEqual([{ 'Fn::GetAtt': ['WorkerProject', 'Arn'] }]);
      expect(allowed['sns:Publish']).toEqual([{ Ref: 'AlertTopic' }]);
      const wildcards = Object.entries(allowed).filter(([, resources]) => resources.includes('*'));
      expect(
        wildcards.every(([action]) =>
          /^logs:\w+(Log|Resource)(Delivery|Deliveries|Policy|Policies|Groups)$/.test(action),
        ),
      ).toBe(true);
    });
  });

  describe('status function', () => {
    it('runs hourly and whenever an execution of either state machine ends', () => {
      const rules = rulesTargeting({ 'Fn::GetAtt': ['StatusLambdaFunction', 'Arn'] });
      expect(rules).toHaveLength(2);
      expect(rules.map((r) => r.Properties.ScheduleExpression)).toContain('rate(1 hour)');
      const pattern = rules.find((r) => r.Properties.EventPattern)?.Properties.EventPattern as {
        'detail-type': string[];
        detail: { stateMachineArn: unknown[] };
      };
      expect(pattern['detail-type']).toEqual(['Step Functions Execution Status Change']);
      expect(pattern.detail.stateMachineArn).toEqual([
        { Ref: 'BackupStateMachine' },
        { Ref: 'DrillStateMachine' },
        { Ref: 'RestoreStateMachine' },
        { Ref: 'NightlyStateMachine' },
        { Ref: 'DrillsStateMachine' },
      ]);
    });

    it('knows its stage, the dimension of the metrics the backup-age alarm watches', () => {
      const env = (resource('StatusLambdaFunction').Properties.Environment as { Variables: Json }).Variables;
      expect(env.STAGE).toBe('test');
    });

    it('records and compares content checksums by default (verification.proof)', () => {
      for (const name of ['DumpLambdaFunction', 'VerifyLambdaFunction']) {
        const env = (resource(name).Properties.Environment as { Variables: Json }).Variables;
        expect(env.PROOF_LEVEL).toBe('checksums');
      }
    });

    it('knows the state machines whose executions it reads, whatever event invoked it', () => {
      const env = (resource('StatusLambdaFunction').Properties.Environment as { Variables: Json }).Variables;
      expect(env).toMatchObject({
        BACKUP_STATE_MACHINE_ARN: { Ref: 'BackupStateMachine' },
        DRILL_STATE_MACHINE_ARN: { Ref: 'DrillStateMachine' },
        RESTORE_STATE_MACHINE_ARN: { Ref: 'RestoreStateMachine' },
      });
    });

    it("watches Render's own backups when configured, naming the key's secret, never a key", () => {
      const env = (resource('StatusLambdaFunction').Properties.Environment as { Variables: Json }).Variables;
      expect(env.RENDER_POSTGRES_ID).toEqual({
        'Fn::If': ['UseRender', 'dpg-test123', { Ref: 'AWS::NoValue' }],
      });
      expect(env.RENDER_API_KEY_SECRET_ARN).toEqual({
        'Fn::If': [
          'UseRender',
          'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/render-StUvWx',
          { Ref: 'AWS::NoValue' },
        ],
      });
      expect(env.ALERT_TOPIC_ARN).toEqual({ Ref: 'AlertTopic' });
      // The plan's defaults: 7 days of point-in-time recovery, an export at most 26 h old.
      expect(env.RENDER_MIN_RECOVERY_DAYS).toEqual({ 'Fn::If': ['UseRender', '7', { Ref: 'AWS::NoValue' }] });
      expect(env.RENDER_MAX_EXPORT_AGE_HOURS).toEqual({
        'Fn::If': ['UseRender', '26', { Ref: 'AWS::NoValue' }],
      });
    });
  });

  describe('monitoring', () => {
    it('alarms when a database was silent (no verified backup, no delivered failure alert) for the schedule interval plus the grace, and when nothing reports', () => {
      // A nightly schedule (24 h) plus alerts.ageAlarmGraceHours (2): a late night does not page. A failed
      // night does not either: its failure alert resets the silence (lib/report/silence.ts).
      expect(resource('BackupAgeAlarm').Properties).toMatchObject({
        Namespace: 'VerifiedPgBackups',
        MetricName: 'SilenceHours',
        Period: 3600,
        EvaluationPeriods: 1,
        Threshold: 26,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: 'AlertTopic' }],
      });
    });

    it.each([
      ['BackupExecutionsTimedOutAlarm', 'ExecutionsTimedOut', 'BackupStateMachine'],
      ['DrillExecutionsTimedOutAlarm', 'ExecutionsTimedOut', 'DrillStateMachine'],
    ])('%s pages on %s of %s (no alert state ran)', (id, metric, machine) => {
      expect(resource(id).Properties).toMatchObject({
        Namespace: 'AWS/States',
        MetricName: metric,
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: machine } }],
        AlarmActions: [{ Ref: 'AlertTopic' }],
      });
    });

    it.each([
      ['BackupExecutionsFailedAlarm', 'BackupStateMachine'],
      ['DrillExecutionsFailedAlarm', 'DrillStateMachine'],
    ])('%s counts failed executions of %s for the dashboard, without paging a second time', (id, machine) => {
      // The execution's own failure alert paged, naming the database, step and cause.
      const properties = resource(id).Properties;
      expect(properties).toMatchObject({
        Namespace: 'AWS/States',
        MetricName: 'ExecutionsFailed',
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: machine } }],
      });
      expect(properties.AlarmActions).toBeUndefined();
    });

    it('pages for a failed backup or drill whose failure alert was not published', () => {
      expect(resource('FailureAlertUndeliveredAlarm').Properties).toMatchObject({
        Namespace: 'VerifiedPgBackups',
        MetricName: 'UndeliveredFailureAlerts',
        Statistic: 'Maximum',
        Period: 3600,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: 'AlertTopic' }],
      });
    });

    it('has a dashboard', () => {
      expect(resource('BackupDashboard').Type).toBe('AWS::CloudWatch::Dashboard');
    });

    it("plots each step's own duration and bytes moved, on Lambda and the worker alike, as the steps publish them", () => {
      const [text] = (resource('BackupDashboard').Properties.DashboardBody as { 'Fn::Sub': [string, Json] })[
        'Fn::Sub'
      ];
      // The placeholders CloudFormation fills: RpoHours stands as a number, the others inside strings.
      const body = JSON.parse(
        text.replace(/\$\{([^}]+)\}/g, (_, name) => (name === 'RpoHours' ? '24' : 'x')),
      ) as {
        widgets: { properties: { title: string; metrics: unknown[] } }[];
      };
      const metrics = (title: string) =>
        body.widgets.find((w) => w.properties.title === title)?.properties.metrics;
      // Every step of a night, on whichever venue it runs: the Step dimension is its function key.
      const steps = [
        ...new Set(
          tasks.filter((t) => t.machine === 'nightly' || t.machine === 'backup').map((t) => t.function),
        ),
      ];
      expect(steps).toEqual(expect.arrayContaining(['plan', 'dump', 'verify', 'globals', 'notify']));
      expect(metrics('Step durations, Lambda and worker (ms)')).toEqual(
        steps.map((step) => [metricsNamespace, stepMetricNames.duration, 'Stage', 'test', 'Step', step]),
      );
      expect(metrics('Bytes moved per step')).toEqual(
        ['dump', 'promote', 'checksum', 'globals'].map((step) => [
          metricsNamespace,
          stepMetricNames.bytes,
          'Stage',
          'test',
          'Step',
          step,
        ]),
      );
    });

    it('sets a retention on every log group', () => {
      const groups = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');
      // 19 functions, the worker bundle's function, 5 state machines and the worker's builds.
      expect(groups.length).toBe(26);
      for (const group of groups) expect(group.Properties.RetentionInDays).toBe(30);
    });
  });

  describe('functions', () => {
    it('run Node 22 on arm64 with the arm64 pg-client layer where PostgreSQL programs run', () => {
      const client = { Ref: 'PgClientLambdaLayer' };
      const server = { Ref: 'PgServerLambdaLayer' };
      const layers: Record<string, unknown> = {
        Dump: [client],
        Checksum: [client],
        Verify: [client, server],
      };
      for (const name of ['Dump', 'Promote', 'Checksum', 'Verify', 'Notify']) {
        const fn = resource(`${name}LambdaFunction`).Properties;
        expect(fn.Runtime).toBe('nodejs22.x');
        expect(fn.Architectures).toEqual(['arm64']);
        expect(fn.Layers).toEqual(layers[name]);
      }
      expect(resource('PgClientLambdaLayer').Properties.CompatibleArchitectures).toEqual(['arm64']);
      expect(resource('PgServerLambdaLayer').Properties.CompatibleArchitectures).toEqual(['arm64']);
    });

    it('attach the layer zips of the stage’s majors, extensions and architecture', () => {
      // config/test.yml: client 18, scratch server 18 with pgvector, arm64 (the zip is uploaded as it is).
      for (const [layer, zip] of [
        ['PgClientLambdaLayer', 'pg-client-18-arm64.zip'],
        ['PgServerLambdaLayer', 'pg-server-18-arm64-pgvector.zip'],
      ] as const) {
        const content = resource(layer).Properties.Content as { S3Key: string };
        expect(content.S3Key.split('/').at(-1)).toBe(zip);
      }
    });

    it('run the drill and status functions on Node 22 arm64, the layers only where the scratch server runs', () => {
      for (const name of Object.keys(functionRoles).filter((n) => n.startsWith('drill') || n === 'status')) {
        const fn = resource(`${name[0]?.toUpperCase()}${name.slice(1)}LambdaFunction`).Properties;
        expect(fn.Runtime).toBe('nodejs22.x');
        expect(fn.Architectures).toEqual(['arm64']);
        expect(fn.Layers).toEqual(
          name === 'drillRestore'
            ? [{ Ref: 'PgClientLambdaLayer' }, { Ref: 'PgServerLambdaLayer' }]
            : undefined,
        );
      }
    });

    it('give no drill function a database secret, and verify the staging secret only in staging mode', () => {
      const env = (name: string) =>
        (resource(`${name}LambdaFunction`).Properties.Environment as { Variables: Json }).Variables;
      for (const name of [
        'DrillSelectBackup',
        'DrillRestore',
        'DrillRecordEvidence',
        'DrillNotify',
        'Status',
      ]) {
        expect(env(name).STAGING_DATABASE_SECRET_ARN).toBeUndefined();
        expect(env(name).PRODUCTION_DATABASE_SECRET_ARN).toBeUndefined();
      }
      expect(env('Verify')).toMatchObject({
        VERIFY_TARGET: 'staging',
        SCRATCH_EXTENSIONS: 'pgvector',
        STAGING_DATABASE_SECRET_ARN: {
          'Fn::If': [
            'UseStaging',
            'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/staging-GhIjKl',
            { Ref: 'AWS::NoValue' },
          ],
        },
      });
      // The verifying steps restore on a scratch server in /tmp, with restore's parallelism.
      for (const name of ['Verify', 'DrillRestore']) {
        expect(env(name)).toMatchObject({ RESTORE_JOBS: env('Verify').RESTORE_JOBS, WORK_DIR: '/tmp' });
        expect(resource(`${name}LambdaFunction`).Properties.EphemeralStorage).toEqual({ Size: 8192 });
      }
      // Only functions that talk to a database join the VPC when one is configured.
      expect(resource('VerifyLambdaFunction').Properties.VpcConfig).toBeDefined();
      expect(resource('DumpLambdaFunction').Properties.VpcConfig).toEqual(
        resource('VerifyLambdaFunction').Properties.VpcConfig,
      );
      for (const name of ['Promote', 'Checksum', 'Notify', 'DrillRestore', 'Status']) {
        expect(resource(`${name}LambdaFunction`).Properties.VpcConfig).toBeUndefined();
      }
      expect(env('DrillNotify').SUMMARY_TOPIC_ARN).toEqual({ Ref: 'SummaryTopic' });
      // config/test.yml configures one sanity check; without any the variable stays unset.
      const checks = env('DrillRestore').DRILL_SANITY_CHECKS as { 'Fn::If': [string, string, unknown] };
      expect(checks['Fn::If'][0]).toBe('UseDrillSanityChecks');
      expect(JSON.parse(checks['Fn::If'][1])).toEqual([
        expect.objectContaining({ name: 'restored database has tables', atLeast: 1 }),
      ]);
      expect(template.Conditions.UseDrillSanityChecks).toEqual({ 'Fn::Equals': ['true', 'true'] });
      // Which database a check without its own `database` is for: the stage's one (lib/drill/sanity.ts).
      expect(env('DrillRestore').DATABASES).toBe('url');
      for (const name of Object.keys(functionRoles)) {
        const variables = env(`${name[0]?.toUpperCase()}${name.slice(1)}`);
        expect(Object.keys(variables).filter((key) => key.endsWith('_URL') || key === 'AWS_REGION')).toEqual(
          [],
        );
        expect(variables.BACKUP_BUCKET).toEqual({ Ref: 'BackupBucket' });
      }
    });

    it('get only the settings their step reads, never a *_URL', () => {
      const env = (name: string) =>
        (resource(`${name}LambdaFunction`).Properties.Environment as { Variables: Json }).Variables;
      expect(env('Dump').PRODUCTION_DATABASE_SECRET_ARN).toBeDefined();
      expect(env('Verify').PRODUCTION_DATABASE_SECRET_ARN).toBeUndefined();
      expect(env('Verify').STAGING_DATABASE_SECRET_ARN).toBeDefined();
      expect(env('Dump').STAGING_DATABASE_SECRET_ARN).toBeUndefined();
      for (const name of ['Dump', 'Promote', 'Checksum', 'Verify', 'Notify']) {
        expect(Object.keys(env(name)).filter((key) => key.endsWith('_URL') || key === 'AWS_REGION')).toEqual(
          [],
        );
        expect(env(name).BACKUP_BUCKET).toEqual({ Ref: 'BackupBucket' });
      }
    });

    it('ship an ES module bundle that loads and runs middy (fails on missing settings, by name)', () => {
      const dir = mkdtempSync(join(service.dir, 'dump-bundle-'));
      unzip(readFileSync(join(service.dir, 'dump.zip')), dir);
      const script = `
        const { handler } = await import(${JSON.stringify(join(dir, 'functions/dump/handler.mjs'))});
        try { await handler({}, { getRemainingTimeInMillis: () => 60000 }); console.log('no error'); }
        catch (error) { console.log(error.name); }`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
      // Besides the script's own last line, only the step's JSON log lines (Powertools Logger).
      const stdout = result.stdout.trim().split('\n');
      expect(stdout.pop()).toBe('ConfigurationError');
      const logs = [...stdout, ...result.stderr.trim().split('\n')].map((line) => JSON.parse(line));
      expect(logs).toEqual([
        expect.objectContaining({ level: 'INFO', message: 'step started', step: 'dump' }),
        expect.objectContaining({ level: 'ERROR', message: 'step failed', errorName: 'ConfigurationError' }),
      ]);
    });
  });

  describe('worker', () => {
    const project = () => resource('WorkerProject').Properties;
    const variables = () =>
      (project().Environment as { EnvironmentVariables: unknown[] }).EnvironmentVariables.map((v) => {
        const conditional = (v as { 'Fn::If'?: [string, Json, unknown] })['Fn::If'];
        return (conditional ? conditional[1] : v) as { Name: string; Type: string; Value: unknown };
      });
    const policy = (name: string) =>
      (
        resource('WorkerRole').Properties.Policies as {
          PolicyName: string;
          PolicyDocument: { Statement: unknown[] };
        }[]
      ).find((p) => p.PolicyName === name)?.PolicyDocument.Statement;

    it('is one CodeBuild project with the stage architecture, size and timeout, running the deployed bundle', () => {
      expect(project()).toMatchObject({
        Name: 'verified-pg-backups-test-worker',
        ServiceRole: { 'Fn::GetAtt': ['WorkerRole', 'Arn'] },
        Artifacts: { Type: 'NO_ARTIFACTS' },
        Environment: {
          Type: 'ARM_CONTAINER',
          Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
          ComputeType: 'BUILD_GENERAL1_MEDIUM',
        },
        TimeoutInMinutes: 240,
        EncryptionKey: kmsKey,
        LogsConfig: {
          CloudWatchLogs: { Status: 'ENABLED', GroupName: '/aws/codebuild/verified-pg-backups-test-worker' },
        },
      });
      const buildspec = (project().Source as { Type: string; BuildSpec: string }).BuildSpec;
      expect((project().Source as { Type: string }).Type).toBe('NO_SOURCE');
      expect(buildspec).toContain('nodejs: 22');
      expect(buildspec).toContain('aws lambda get-function --function-name "$WORKER_FUNCTION"');
      expect(buildspec).toContain('get-layer-version-by-arn');
      expect(buildspec).toContain('node /opt/worker/functions/worker/handler.mjs');
      expect(resource('WorkerBuildsLogGroup').Properties.RetentionInDays).toBe(30);
    });

    it('stops a build before any state machine gives up on it', () => {
      // The nightly run starts backup executions, never builds of its own.
      for (const machine of machineNames.filter((name) => childMachineOf[name] === undefined)) {
        const builds = everyState(loadAsl(machine).States).filter(
          ([, state]) => state.Resource === workerResource,
        );
        expect(builds.length).toBeGreaterThan(0);
        for (const [, state] of builds) expect(state.TimeoutSeconds).toBeGreaterThan(540 * 60);
      }
    });

    it("gets the worker functions' settings as plain text, references to secrets and never a secret", () => {
      const byName = Object.fromEntries(variables().map((v) => [v.Name, v]));
      expect(variables().every((v) => v.Type === 'PLAINTEXT')).toBe(true);
      expect(byName.BACKUP_BUCKET?.Value).toEqual({ Ref: 'BackupBucket' });
      expect(byName.WORKER_FUNCTION?.Value).toBe('verified-pg-backups-test-worker');
      expect(byName.WORKER_TIMEOUT_SECONDS?.Value).toBe(String(240 * 60));
      expect(byName.PRODUCTION_DATABASE_SECRET_ARN?.Value).toBe(
        'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/production-AbCdEf',
      );
      expect(byName.VERIFY_TARGET?.Value).toBe('staging');
      expect(byName.SCRATCH_EXTENSIONS?.Value).toBe('pgvector');
      // pg_restore -j follows the build's CPUs, not the verify Lambda's memory.
      expect(byName.RESTORE_JOBS).toBeUndefined();
      expect(Object.keys(byName).filter((name) => name.endsWith('_URL') || name.endsWith('_KEY'))).toEqual(
        [],
      );
    });

    it('holds exactly the grants of the steps it runs, plus its bundle, layers, logs and result records', () => {
      const stepPolicy = (role: string) =>
        (resource(role).Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[])
          .flatMap((p) => p.PolicyDocument.Statement)
          .filter((statement) => (statement as Statement).Sid !== 'WriteOwnLogs')
          // A function's VPC network interfaces; the worker's own (RunInVpc) are CodeBuild's.
          .filter((statement) => !JSON.stringify(statement).includes('ManageVpcNetworkInterfaces'));
      for (const [key, role] of [
        ['dump', 'DumpRole'],
        ['verify', 'VerifyRole'],
        ['drillRestore', 'DrillRestoreRole'],
      ] as const) {
        expect(policy(`worker-${key}`)).toEqual(stepPolicy(role));
      }
      const restore = JSON.stringify(policy('worker-restore'));
      expect(restore).toContain(
        'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:verified-pg-backups/test/restore-*',
      );
      expect(restore).not.toContain('PutObject');
      // Render's drill: our records (never a dump), its own records, the Render key only with Render.
      const renderDrill = JSON.stringify(policy('worker-renderDrill'));
      expect(renderDrill).toContain('${BackupBucket.Arn}/provider/render/drills/*');
      expect(renderDrill).toContain('${BackupBucket.Arn}/backups/*.manifest.json');
      expect(renderDrill).not.toContain('backups/*.dump');
      expect(renderDrill).not.toContain('"${BackupBucket.Arn}/backups/*"');
      expect(
        (policy('worker-renderDrill') as unknown[]).find((statement) =>
          JSON.stringify(statement).includes('secretsmanager:GetSecretValue'),
        ),
      ).toMatchObject({ 'Fn::If': ['UseRender', expect.anything(), { Ref: 'AWS::NoValue' }] });
      const own = Object.fromEntries(
        (policy('worker') as Statement[])
          .filter((statement) => statement.Sid)
          .map((statement) => [statement.Sid, statement]),
      );
      expect(own.WriteResultRecords).toMatchObject({
        Action: 's3:PutObject',
        Resource: sub('${BackupBucket.Arn}/worker/*'),
      });
      expect(own.FetchWorkerBundle).toMatchObject({ Action: 'lambda:GetFunction' });
      // The worker function and its versions only: `…-worker*` would match `…-workerResult` too.
      expect(own.FetchWorkerBundle?.Resource).toEqual([
        sub(
          'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:verified-pg-backups-test-worker',
        ),
        sub(
          'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:verified-pg-backups-test-worker:*',
        ),
      ]);
      expect(own.FetchPgLayers).toMatchObject({
        Action: 'lambda:GetLayerVersion',
        Resource: [{ Ref: 'PgClientLambdaLayer' }, { Ref: 'PgServerLambdaLayer' }],
      });
      for (const statement of roleStatements('WorkerRole')) {
        for (const action of list(statement.Action)) {
          expect(action).not.toContain('*');
          if (/Delete/.test(action) && !action.startsWith('ec2:')) {
            expect(list(statement.Resource)).toEqual([sub('${BackupBucket.Arn}/incoming/*')]);
          }
        }
        // Only the VPC interface management AWS documents without resource-level permissions.
        if (list(statement.Resource).includes('*')) expect(statement.Sid).toBe('RunInVpc');
      }
      const vpc = (policy('worker') as Json[]).find((s) => JSON.stringify(s).includes('RunInVpc'));
      expect(vpc).toMatchObject({ 'Fn::If': ['UseVpc', expect.anything(), { Ref: 'AWS::NoValue' }] });
    });

    it('holds exactly the roles the IAM-enforcing tests evaluate requests against (test/support/iam)', () => {
      const roles = roleResources();
      expect(Object.keys(roles).length).toBeGreaterThan(14);
      for (const [id, role] of Object.entries(roles)) expect(resource(id)).toEqual(role);
    });

    it('carries its bundle in a function nothing invokes, whose role may only log', () => {
      const carrier = resource('WorkerLambdaFunction').Properties;
      expect(carrier.Layers).toEqual([{ Ref: 'PgClientLambdaLayer' }, { Ref: 'PgServerLambdaLayer' }]);
      expect(grants('WorkerCarrierRole')).toEqual({});
      for (const role of [
        'BackupStateMachineRole',
        'DrillStateMachineRole',
        'RestoreStateMachineRole',
        'DrillsStateMachineRole',
      ]) {
        expect(JSON.stringify(grants(role)['lambda:InvokeFunction'] ?? [])).not.toContain(
          '"WorkerLambdaFunction"',
        );
      }
      // The cloud restore and Render's drill run only on the worker: no Lambda function of their own.
      expect(template.Resources.RestoreLambdaFunction).toBeUndefined();
      expect(template.Resources.RenderDrillLambdaFunction).toBeUndefined();
    });

    it("runs the cloud restore, whose state machine may delete only the restore targets' secrets", () => {
      const definition = resource('RestoreStateMachine').Properties.DefinitionString as { 'Fn::Sub': string };
      const file = readFileSync(join(root, 'statemachines/restore.asl.json'), 'utf8');
      expect(JSON.parse(definition['Fn::Sub'])).toEqual(JSON.parse(file));
      const allowed = grants('RestoreStateMachineRole');
      expect(allowed['lambda:InvokeFunction']).toEqual([
        { 'Fn::GetAtt': ['WorkerResultLambdaFunction', 'Arn'] },
      ]);
      expect(allowed['secretsmanager:DeleteSecret']).toEqual([
        sub(
          'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:verified-pg-backups/test/restore-*',
        ),
      ]);
      expect(allowed['codebuild:StartBuild']).toEqual([{ 'Fn::GetAtt': ['WorkerProject', 'Arn'] }]);
    });

    it('counts failed builds without paging (their run pages), alarms on failed restores, and expires result records after a week', () => {
      // Every build is a `.sync` task of a state machine: a failed build fails its run, which pages
      // through the run's own alert (or RestoreExecutionsFailedAlarm); a second page would say less.
      expect(resource('WorkerBuildsFailedAlarm').Properties).toMatchObject({
        Namespace: 'AWS/CodeBuild',
        MetricName: 'FailedBuilds',
        Dimensions: [{ Name: 'ProjectName', Value: 'verified-pg-backups-test-worker' }],
      });
      expect(resource('WorkerBuildsFailedAlarm').Properties.AlarmActions).toBeUndefined();
      expect(resource('RestoreExecutionsFailedAlarm').Properties).toMatchObject({
        Namespace: 'AWS/States',
        MetricName: 'ExecutionsFailed',
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: 'RestoreStateMachine' } }],
      });
      const rules = (resource('BackupBucket').Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
      expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'worker/', ExpirationInDays: 7 }));
    });

    it('ships a bundle that runs as the worker, failing by name without its request', () => {
      const dir = mkdtempSync(join(service.dir, 'worker-bundle-'));
      unzip(readFileSync(join(service.dir, 'worker.zip')), dir);
      const result = spawnSync(process.execPath, [join(dir, 'functions/worker/handler.mjs')], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
      expect(result.status).toBe(1);
      // One JSON log line (Powertools), as every step writes them.
      const lines = `${result.stdout}${result.stderr}`
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'ERROR',
          message: 'worker request unusable',
          errorMessage: 'ConfigurationError: the worker needs WORKER_TASK in its environment',
        }),
      ]);
    });
  });
});

// The other stages (the example, and the variants config/test.yml leaves off) in cfn-schema.test.ts.
describe('packaged template against CloudFormation (test/support/cfn-schema.ts)', () => {
  it('holds only resource types, properties and attributes CloudFormation knows, with every required property', async () => {
    const spec = await loadSpec();
    expect(describeFindings(schemaFindings(spec, template as unknown as Template))).toEqual([]);
  });

  it("grants each state machine's role what AWS documents for every Task it runs", async () => {
    const { findings, checked } = await integrationCheck(template as unknown as Template);
    expect(describeFindings(findings)).toEqual([]);
    expect(checked.map(({ machine, state }) => `${machine}.${state}`).sort()).toEqual(
      everyTaskOfEveryMachine(),
    );
  });
});

describe('docs/deploy.md', () => {
  it("lists the template's alarms by name, no other, and states no count of them that could drift", () => {
    // The stage of config/test.yml: every alarm name starts with the service and stage.
    const prefix = 'verified-pg-backups-test-';
    const inTemplate = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => String(r.Properties.AlarmName))
      .sort();
    expect(inTemplate.length).toBeGreaterThan(0);
    expect(inTemplate.filter((name) => !name.startsWith(prefix))).toEqual([]);
    const doc = readFileSync(join(root, 'docs', 'deploy.md'), 'utf8');
    const start = doc.indexOf('### Alarms');
    const section = doc.slice(start, doc.indexOf('\n#', start + 1));
    const listed = [...section.matchAll(/^\| `<service>-<stage>-([a-z0-9-]+)` \|/gm)].map((m) => m[1]);
    expect(listed.map((name) => `${prefix}${name}`).sort()).toEqual(inTemplate);
    const counted = [
      ...doc.matchAll(/\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten) (?:CloudWatch )?alarms\b/gi),
    ];
    expect(counted.map((m) => m[0])).toEqual([]);
  });
});
