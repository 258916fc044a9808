/**
 * A stage that says nothing and a runtime that is told nothing must mean the same thing: each pair
 * below is one setting as config/<stage>.yml spells it and as the functions read it. VERIFY_VENUE once
 * defaulted to `lambda` at run time and to `worker` in the stage config.
 */
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { readRuntimeSettings } from '../../../../lib/config.ts';
import { settingRows } from '../../../../lib/settings.ts';
import {
  configFillValue,
  loadStageConfig,
  parseStageConfig,
  type StageConfig,
} from '../../../../tools/deploy/stage-config.ts';

const productionArn = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod-db-AbCdEf';
const stage = parseStageConfig({ databases: { productionSecretArn: productionArn } }, 'config/test.yml');
const runtime = readRuntimeSettings({ BACKUP_BUCKET: 'backups-test' });

const pairs: [keyof typeof runtime, (config: StageConfig) => unknown][] = [
  ['DUMP_VENUE', (config) => config.venues.dump],
  ['VERIFY_VENUE', (config) => config.venues.verify],
  ['VERIFY_TARGET', (config) => config.verification.target],
  ['PROOF_LEVEL', (config) => config.verification.proof],
  ['DUMP_COMPRESSION', (config) => config.compression],
  ['RPO_HOURS', (config) => config.targets.rpoHours],
  ['RTO_HOURS', (config) => config.targets.rtoHours],
  ['DATABASES', (config) => config.databases.backup],
  ['EXCLUDE_DATABASES', (config) => config.databases.exclude],
  ['DATABASE_CONCURRENCY', (config) => config.databases.concurrency],
  ['RETENTION_KEEP_LAST_VERIFIED', (config) => config.retention.keepLastVerified],
  ['RETENTION_DAILY_DAYS', (config) => config.retention.dailyDays ?? config.bucket.retentionDays],
  ['RETENTION_WEEKLY_WEEKS', (config) => config.retention.weeklyWeeks],
  ['RETENTION_MONTHLY_MONTHS', (config) => config.retention.monthlyMonths],
  ['SCRATCH_EXTENSIONS', (config) => config.verification.extensions],
];

describe('defaults', () => {
  it.each(pairs)('%s means the same unset at run time as left out of the stage config', (name, ofStage) => {
    expect({ name, value: runtime[name] }).toEqual({ name, value: ofStage(stage) });
  });
});

describe('stage fills', () => {
  it('name fields config/test.yml has (a misspelt path would leave a setting unset on AWS)', () => {
    const config = loadStageConfig('test', join(import.meta.dirname, '..', '..', '..', '..'));
    for (const [name, row] of settingRows()) {
      if (!row.stage || !('config' in row.stage)) continue;
      expect({ name, value: configFillValue(config, name, row.stage) }).toEqual({
        name,
        value: expect.any(String),
      });
    }
  });
});
