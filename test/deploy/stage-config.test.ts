import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigurationError } from '../../lib/errors.ts';
import { serverlessSettings } from '../../tools/deploy/serverless-settings.ts';
import { loadStageConfig, parseStageConfig } from '../../tools/deploy/stage-config.ts';

const root = join(import.meta.dirname, '..', '..');
const productionArn = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod-AbCdEf';
const stagingArn = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:staging-GhIjKl';

/** The project roots the tests made, removed at the end. */
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A project root with statemachines/ and one config/<stage>.yml holding `yaml`. */
function projectWith(stage: string, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stage-config-'));
  made.push(dir);
  mkdirSync(join(dir, 'config'));
  cpSync(join(root, 'statemachines'), join(dir, 'statemachines'), { recursive: true });
  writeFileSync(join(dir, 'config', `${stage}.yml`), yaml);
  return dir;
}

function errorOf(run: () => unknown): ConfigurationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error('expected a ConfigurationError');
}

const minimal = `databases:\n  productionSecretArn: ${productionArn}\n  stagingSecretArn: ${stagingArn}\n`;

describe('stage config', () => {
  describe('loadStageConfig()', () => {
    it('accepts config/example.yml as committed', () => {
      const config = loadStageConfig('example', root);
      expect(config.architecture).toBe('arm64');
      expect(config.bucket.objectLock).toBe('off');
    });

    it('fills the documented defaults around the two required secrets', () => {
      const config = loadStageConfig('prod', projectWith('prod', minimal));
      expect(config).toMatchObject({
        architecture: 'arm64',
        postgresClientMajor: 18,
        schedule: 'cron(0 2 * * ? *)',
        compression: 'zstd:1',
        bucket: { retentionDays: 30, objectLock: 'off' },
        kms: {},
        alerts: { emails: [] },
        targets: { rpoHours: 24, rtoHours: 2 },
      });
      expect(config.steps.verify.ephemeralStorageMb).toBeGreaterThan(512);
      expect(config.verification).toEqual({
        target: 'scratch',
        serverMajor: 18,
        extensions: [],
        proof: 'checksums',
        checksumSource: 'stream',
        compareBesideIndexes: 'auto',
      });
    });

    it('needs no staging database: verification runs on a scratch server by default', () => {
      const dir = projectWith('prod', `databases:\n  productionSecretArn: ${productionArn}\n`);
      expect(loadStageConfig('prod', dir).databases.stagingSecretArn).toBeUndefined();
    });

    it('refuses a staging target without the staging secret, naming the field', () => {
      const dir = projectWith(
        'prod',
        `databases:\n  productionSecretArn: ${productionArn}\nverification:\n  target: staging\n`,
      );
      const error = errorOf(() => loadStageConfig('prod', dir));
      expect(error.details).toMatchObject({ field: 'databases.stagingSecretArn' });
      expect(error.message).toContain('required when verification.target is staging');
    });

    it('refuses an extension the scratch server cannot carry', () => {
      const dir = projectWith('prod', `${minimal}verification:\n  extensions: [timescaledb]\n`);
      expect(errorOf(() => loadStageConfig('prod', dir)).details).toMatchObject({
        field: 'verification.extensions.0',
      });
    });

    it('names the file and the field of an unknown field', () => {
      const dir = projectWith('prod', `${minimal}bucket:\n  retentionDay: 30\n`);
      const error = errorOf(() => loadStageConfig('prod', dir));
      expect(error.message).toBe(
        'config/prod.yml:5: bucket.retentionDay: unknown field (see config/example.yml)',
      );
      expect(error.details).toMatchObject({ file: 'config/prod.yml', field: 'bucket.retentionDay', line: 5 });
    });

    it('names the file and the field of a wrong type', () => {
      const dir = projectWith('prod', `${minimal}bucket:\n  retentionDays: thirty\n`);
      const error = errorOf(() => loadStageConfig('prod', dir));
      expect(error.message).toBe('config/prod.yml:5: bucket.retentionDays: must be a number');
    });

    it('rejects a connection string where a secret ARN belongs without echoing it', () => {
      const secret = 'postgresql://backup:hunter2@db.example.com/app';
      const dir = projectWith(
        'prod',
        `databases:\n  productionSecretArn: ${secret}\n  stagingSecretArn: ${stagingArn}\n`,
      );
      const error = errorOf(() => loadStageConfig('prod', dir));
      expect(error.message).toMatch(
        /^config\/prod\.yml:2: databases\.productionSecretArn: must be a Secrets Manager secret ARN/,
      );
      expect(error.message).not.toContain('hunter2');
      expect(JSON.stringify(error.details)).not.toContain('hunter2');
    });

    it('rejects a Render API key pasted where its secret ARN belongs, without echoing it', () => {
      const key = 'rnd_NotAnArnButTheKeyItself';
      const dir = projectWith('prod', `${minimal}render:\n  apiKeySecretArn: ${key}\n  postgresId: dpg-x1\n`);
      const error = errorOf(() => loadStageConfig('prod', dir));
      expect(error.message).toMatch(
        /config\/prod\.yml.*render\.apiKeySecretArn: must be a Secrets Manager secret ARN/,
      );
      expect(`${error.message}${JSON.stringify(error.details)}`).not.toContain(key);
    });

    it('names a Render drill allowance outside 0-100 percent per hour, and defaults it to 1', () => {
      const render = (extra: string) =>
        `${minimal}render:\n  apiKeySecretArn: arn:aws:secretsmanager:eu-central-1:123456789012:secret:r-AbCdEf\n  postgresId: dpg-x1\n${extra}`;
      expect(loadStageConfig('prod', projectWith('prod', render(''))).render?.drillDriftPercentPerHour).toBe(
        1,
      );
      const error = errorOf(() =>
        loadStageConfig('prod', projectWith('prod', render('  drillDriftPercentPerHour: -2\n'))),
      );
      expect(error.message).toMatch(/config\/prod\.yml:\d+: render\.drillDriftPercentPerHour: /);
    });

    it('points at the line of every problem, deep in the file, after comments and blank lines', () => {
      const yaml = `# production\n${minimal}\nalerts:\n  emails:\n    - ops@example.com\n    - 42\nsteps:\n  verify:\n    memoryMb: lots\n    jobz: 2\n`;
      const error = errorOf(() => loadStageConfig('prod', projectWith('prod', yaml)));
      const lines = error.message
        .split('\n')
        .map((line) => /^config\/prod\.yml:(\d+): (\S+):/.exec(line)?.slice(1));
      expect(lines).toEqual(
        expect.arrayContaining([
          ['9', 'alerts.emails.1'],
          ['12', 'steps.verify.memoryMb'],
          ['13', 'steps.verify.jobz'],
        ]),
      );
    });

    it('points at the line of a YAML syntax error', () => {
      const error = errorOf(() =>
        loadStageConfig('prod', projectWith('prod', `${minimal}bucket: [unclosed\n`)),
      );
      expect(error.message).toMatch(/^config\/prod\.yml:\d+: not valid YAML$/);
      expect(error.details).toMatchObject({ file: 'config/prod.yml', line: expect.any(Number) });
    });

    it('reports a missing required field', () => {
      const error = errorOf(() =>
        loadStageConfig('prod', projectWith('prod', `databases:\n  stagingSecretArn: ${stagingArn}\n`)),
      );
      expect(error.message).toBe('config/prod.yml:2: databases.productionSecretArn: is required');
    });

    it('says how to start when the stage has no file', () => {
      const error = errorOf(() => loadStageConfig('nope', root));
      expect(error.message).toMatch(/config\/nope\.yml does not exist: copy config\/example\.yml/);
    });

    it('refuses a stage name that is not a plain file name', () => {
      expect(errorOf(() => loadStageConfig('../secrets', root)).details).toMatchObject({ field: 'stage' });
    });
  });

  describe('parseStageConfig()', () => {
    const base = { databases: { productionSecretArn: productionArn, stagingSecretArn: stagingArn } };

    it.each([
      ['objectLock', { bucket: { objectLock: 'governance' } }, 'bucket.objectLock'],
      ['schedule', { schedule: '0 2 * * *' }, 'schedule'],
      ['drill schedule', { drillSchedule: 'quarterly' }, 'drillSchedule'],
      [
        'drill sanity check',
        { drill: { sanityChecks: [{ name: 'n', sql: 'SELECT 1' }] } },
        'drill.sanityChecks',
      ],
      [
        'drill sanity check without its database where several are backed up',
        {
          databases: { ...base.databases, backup: 'all' },
          drill: {
            sanityChecks: [
              { name: 'n', database: 'app', sql: 'SELECT 1', atLeast: 1 },
              { name: 'm', sql: 'SELECT 1', atLeast: 1 },
            ],
          },
        },
        'drill.sanityChecks[1].database',
      ],
      [
        'drill sanity check for a database not backed up',
        {
          databases: { ...base.databases, backup: ['app', 'queue'] },
          drill: { sanityChecks: [{ name: 'n', database: 'ap', sql: 'SELECT 1', atLeast: 1 }] },
        },
        'drill.sanityChecks[0].database',
      ],
      ['compression', { compression: 'zstd:99' }, 'compression'],
      ['alert e-mail', { alerts: { emails: ['not-an-address'] } }, 'alerts.emails.0'],
      ['KMS key', { kms: { keyArn: 'alias/backups' } }, 'kms.keyArn'],
      [
        'VPC subnets',
        { vpc: { vpcId: 'vpc-0abc', subnetIds: [], securityGroupIds: ['sg-0abc'] } },
        'vpc.subnetIds',
      ],
      [
        'VPC without its id',
        { vpc: { subnetIds: ['subnet-0abc'], securityGroupIds: ['sg-0abc'] } },
        'vpc.vpcId',
      ],
      ['worker timeout', { worker: { timeoutMinutes: 600 } }, 'worker.timeoutMinutes'],
      ['worker size', { worker: { computeType: 'BUILD_GENERAL2_HUGE' } }, 'worker.computeType'],
      ['dump venue', { venues: { dump: 'fargate' } }, 'venues.dump'],
      [
        'retention shorter than Object Lock',
        { bucket: { retentionDays: 30, objectLock: 'COMPLIANCE' }, retention: { dailyDays: 14 } },
        'retention.dailyDays',
      ],
      ['schedule that cannot meet the RPO', { schedule: 'cron(0 2 ? * MON-FRI *)' }, 'schedule'],
      ['schedule rate beyond the RPO', { schedule: 'rate(2 days)', targets: { rpoHours: 36 } }, 'schedule'],
      ['alarm grace', { alerts: { ageAlarmGraceHours: 0 } }, 'alerts.ageAlarmGraceHours'],
      [
        'webhook given as a URL',
        { alerts: { webhookSecretArn: 'https://hooks.example/x' } },
        'alerts.webhookSecretArn',
      ],
      ['memory', { steps: { dump: { memoryMb: 20_000 } } }, 'steps.dump.memoryMb'],
      ['log retention', { logRetentionDays: 31 }, 'logRetentionDays'],
    ])('rejects an invalid %s, naming the field', (_label, overrides, field) => {
      const error = errorOf(() => parseStageConfig({ ...base, ...overrides }, 'config/x.yml'));
      expect(error.details).toMatchObject({ file: 'config/x.yml', field });
      expect(error.message.startsWith(`config/x.yml: ${field}: `)).toBe(true);
    });

    it('runs the drill quarterly with its built-in sanity check unless configured otherwise', () => {
      const config = parseStageConfig(base, 'x');
      expect(config.drillSchedule).toBe('cron(0 3 1 1,4,7,10 ? *)');
      expect(config.drill.sanityChecks).toEqual([]);
    });

    it('takes a sanity check without its database where one database is backed up', () => {
      const check = { name: 'n', sql: 'SELECT 1', atLeast: 1 };
      expect(parseStageConfig({ ...base, drill: { sanityChecks: [check] } }, 'x').drill.sanityChecks).toEqual(
        [check],
      );
      const one = { ...base, databases: { ...base.databases, backup: ['app'] } };
      expect(parseStageConfig({ ...one, drill: { sanityChecks: [check] } }, 'x').drill.sanityChecks).toEqual([
        check,
      ]);
      const error = errorOf(() =>
        parseStageConfig(
          { ...base, databases: { ...base.databases, backup: 'all' }, drill: { sanityChecks: [check] } },
          'x',
        ),
      );
      expect(error.message).toBe(
        'x: drill.sanityChecks[0].database: is missing: sanity check "n" must name the database it checks, as this stage backs up several (all)',
      );
    });

    it('accepts a schedule within the RPO: weekdays only with a 72 h RPO', () => {
      const config = parseStageConfig(
        { ...base, schedule: 'cron(0 2 ? * MON-FRI *)', targets: { rpoHours: 72 } },
        'x',
      );
      expect(config.alerts.ageAlarmGraceHours).toBe(2);
    });

    it('reads a YAML 1.1 `off` (false) as no Object Lock', () => {
      expect(parseStageConfig({ ...base, bucket: { objectLock: false } }, 'x').bucket.objectLock).toBe('off');
    });
  });

  describe('serverlessSettings()', () => {
    it.each([
      ['', 26],
      ['schedule: rate(12 hours)\nalerts:\n  ageAlarmGraceHours: 1\n', 13],
      ['schedule: cron(0 2 ? * MON-FRI *)\ntargets:\n  rpoHours: 72\n', 74],
    ])('sets the backup-age alarm at the schedule gap plus the grace: %j -> %d h', (extra, hours) => {
      expect(serverlessSettings('prod', projectWith('prod', minimal + extra)).ageAlarmHours).toBe(hours);
    });

    it('matches each Lambda timeout to its Task timeout in the state machine file', () => {
      const settings = serverlessSettings('prod', projectWith('prod', minimal));
      const timeout = (key: string) => (settings.functions[key] as { timeout?: number } | undefined)?.timeout;
      expect(timeout('dump')).toBe(900);
      expect(timeout('notify')).toBe(120);
    });

    it('matches each drill Lambda timeout to its Task timeout in the drill definition', () => {
      const settings = serverlessSettings('prod', projectWith('prod', minimal));
      const timeout = (key: string) => (settings.functions[key] as { timeout?: number } | undefined)?.timeout;
      expect(timeout('drillSelectBackup')).toBe(120);
      expect(timeout('drillRestore')).toBe(900);
      expect(timeout('drillNotify')).toBe(120);
      expect(settings.useDrillSanityChecks).toBe('false');
      expect(settings.drillSanityChecks).toBe('[]');
    });

    it('refuses a Lambda timeout longer than its Task timeout, naming the field', () => {
      const dir = projectWith('prod', `${minimal}steps:\n  notify: { timeoutSeconds: 300 }\n`);
      const error = errorOf(() => serverlessSettings('prod', dir));
      expect(error.details).toMatchObject({ file: 'config/prod.yml', field: 'steps.notify.timeoutSeconds' });
      expect(error.message).toMatch(/Notify Task timeout of 120 s/);
    });

    it('takes every scratch server major from 13 to 18 on x86_64, each with its own layer', () => {
      for (const major of [13, 14, 15, 16, 17, 18]) {
        const dir = projectWith(
          'prod',
          `${minimal}architecture: x86_64\nverification:\n  serverMajor: ${major}\n`,
        );
        expect(serverlessSettings('prod', dir)).toMatchObject({
          serverMajor: major,
          pgServerLayerZip: `layers/pg-client/dist/pg-server-${major}-x86_64.zip`,
        });
      }
    });

    it('takes 13, 15, 16, 17 and 18 on arm64, and refuses 14 saying what to choose instead', () => {
      for (const major of [13, 15, 16, 17, 18]) {
        const dir = projectWith('prod', `${minimal}verification:\n  serverMajor: ${major}\n`);
        expect(serverlessSettings('prod', dir).pgServerLayerZip).toBe(
          `layers/pg-client/dist/pg-server-${major}-arm64.zip`,
        );
      }
      const error = errorOf(() =>
        loadStageConfig('prod', projectWith('prod', `${minimal}verification:\n  serverMajor: 14\n`)),
      );
      expect(error.details).toMatchObject({ field: 'verification.serverMajor' });
      expect(error.message).toMatch(
        /no source here carries a PostgreSQL 14 server for arm64.*Choose architecture x86_64 or a newer major \(15;/,
      );
    });

    it('refuses extensions on a major only the npm builds serve, naming the extensions', () => {
      const dir = projectWith(
        'prod',
        `${minimal}architecture: x86_64\nverification:\n  serverMajor: 16\n  extensions: [pgvector]\n`,
      );
      const error = errorOf(() => loadStageConfig('prod', dir));
      expect(error.details).toMatchObject({ field: 'verification.extensions' });
      expect(error.message).toMatch(
        /PostgreSQL 16 server with pgvector: only Debian's packages carry extensions/,
      );
    });

    it('refuses a scratch server major no source has', () => {
      const dir = projectWith('prod', `${minimal}verification:\n  serverMajor: 12\n`);
      expect(errorOf(() => loadStageConfig('prod', dir)).details).toMatchObject({
        field: 'verification.serverMajor',
      });
    });

    it('picks the pg-client layer for the configured architecture and major', () => {
      const dir = projectWith('prod', `${minimal}architecture: x86_64\npostgresClientMajor: 17\n`);
      expect(serverlessSettings('prod', dir).pgClientLayerZip).toBe(
        'layers/pg-client/dist/pg-client-17-x86_64.zip',
      );
    });
  });
});
