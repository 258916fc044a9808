/**
 * The operator policy the stage ships for `backupctl --stage` (tools/deploy/operator.ts): exactly the
 * actions the CLI asks for (test/support/iam/calls.ts, kept honest by the IAM-enforcing CLI tests), on
 * the stage's own resources, as an IAM managed policy an operator can attach.
 */
import { describe, expect, it } from '@jest/globals';
import { serverlessSettings } from '../../../../tools/deploy/serverless-settings.ts';
import { operatorCalls } from '../../../support/iam/calls.ts';
import { evaluate } from '../../../support/iam/evaluate.ts';
import { withholdGrant } from '../../../support/iam/policies.ts';

type Statement = { Sid: string; Action: string | string[]; Resource: unknown };
const root = new URL('../../../..', import.meta.url).pathname;
const settings = serverlessSettings('test', root);
const resources = settings.functionResources.Resources as Record<
  string,
  { Type: string; Properties: { ManagedPolicyName: string; PolicyDocument: { Statement: Statement[] } } }
>;
const policy = resources.OperatorPolicy;
// A grant only some stages get (Render's key) is an Fn::If of the statement and AWS::NoValue.
const statements = (policy?.Properties.PolicyDocument.Statement ?? []).map(
  (statement) => (statement as { 'Fn::If'?: [string, Statement, unknown] })['Fn::If']?.[1] ?? statement,
);
const list = (value: string | string[]) => (Array.isArray(value) ? value : [value]);

describe('the operator policy', () => {
  it('is a managed policy of the stage, its ARN a stack output', () => {
    expect(policy?.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(policy?.Properties.ManagedPolicyName).toBe('verified-pg-backups-test-operator');
    expect(settings.functionResources.Outputs).toEqual({
      OperatorPolicyArn: expect.objectContaining({ Value: { Ref: 'OperatorPolicy' } }),
    });
  });

  it('grants exactly the actions the CLI asks for', () => {
    const granted = new Set(statements.flatMap((statement) => list(statement.Action)));
    expect([...granted].sort()).toEqual(Object.keys(operatorCalls).sort());
  });

  it('uses no wildcard action, and "*" only where AWS has no resource-level permission', () => {
    for (const statement of statements) {
      for (const action of list(statement.Action)) expect(action).not.toContain('*');
      if (JSON.stringify(statement.Resource) === '"*"') {
        expect(statement.Action).toBe('states:ListStateMachines');
      }
    }
  });

  it("denies what the CLI never does: another stage's execution, the production secret's neighbours", async () => {
    const caller = { principal: 'backupctl backup --stage', settings: { BACKUP_BUCKET: 'backups-test' } };
    const start = (machine: string) =>
      evaluate(caller, 'SFNClient', 'StartExecution', {
        stateMachineArn: `arn:aws:states:eu-central-1:123456789012:stateMachine:verified-pg-backups-${machine}`,
      });
    expect(await start('test-backup')).toEqual([]);
    expect(await start('prod-backup')).toEqual([
      expect.objectContaining({ action: 'states:StartExecution', result: 'ImplicitlyDenied' }),
    ]);
    const read = (secret: string) =>
      evaluate(caller, 'SecretsManagerClient', 'GetSecretValue', {
        SecretId: `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${secret}`,
      });
    expect(await read('test/production-AbCdEf')).toEqual([]);
    expect(await read('test/slack-MnOpQr')).toEqual([
      expect.objectContaining({ action: 'secretsmanager:GetSecretValue', result: 'ImplicitlyDenied' }),
    ]);
    const deleteObject = await evaluate(caller, 'S3Client', 'DeleteObject', {
      Bucket: 'backups-test',
      Key: 'backups/2026/01/01/x.dump',
    });
    expect(deleteObject).toEqual([expect.objectContaining({ result: 'ImplicitlyDenied' })]);
  });

  it('names the command, the action and the resource when a grant is withheld (the check can fail)', async () => {
    const restore = withholdGrant('OperatorPolicy', 'secretsmanager:CreateSecret');
    try {
      const denials = await evaluate(
        { principal: 'backupctl restore --stage', settings: {} },
        'SecretsManagerClient',
        'CreateSecret',
        { Name: 'verified-pg-backups/test/restore-0123456789abcdef' },
      );
      expect(denials).toMatchObject([
        {
          principal: 'backupctl restore --stage',
          role: 'OperatorPolicy',
          action: 'secretsmanager:CreateSecret',
          resource:
            'arn:aws:secretsmanager:eu-central-1:123456789012:secret:verified-pg-backups/test/restore-0123456789abcdef-AbCdEf',
          result: 'ImplicitlyDenied',
        },
      ]);
    } finally {
      restore();
    }
  });
});
