/**
 * The per-stage deployment config (`config/<stage>.yml`): one strict schema, used by serverless.yml
 * (through tools/deploy/serverless-config.cjs) and by anything else that needs to know a stage (the CLI).
 * A typo is an error, not a silent default; every error names the file and the field, and never echoes
 * a value (a secret pasted where an ARN belongs must not end up in a terminal or a CI log).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { checksumSources, proofLevels } from '../../lib/backup/manifest.ts';
import { dumpVenues, venues } from '../../lib/backup/plan.ts';
import { parseSanityChecks, sanityChecksProblem } from '../../lib/drill/sanity.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import {
  buildableServerMajors,
  missingServerSource,
  serverBundleSource,
} from '../../lib/pg/server-bundle.ts';
import { postgresIdPattern } from '../../lib/provider/render.ts';
import { compressionSchema, isDatabaseName } from '../../lib/schemas.ts';
import {
  bucketNamePattern,
  compareBesideModes,
  defaultOf,
  type SettingGroup,
  type SettingName,
  type StageFill,
  settingRows,
} from '../../lib/settings.ts';
import { scheduleIntervalHours } from './schedule.ts';

const round = (hours: number) => Math.round(hours * 100) / 100;

const secretArn = z
  .string({ error: 'must be a Secrets Manager secret ARN' })
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
    'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), never the secret value itself',
  );

const kmsKeyArn = z
  .string({ error: 'must be a KMS key ARN' })
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/,
    'must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>)',
  );

/** The values CloudWatch Logs accepts for RetentionInDays. */
const logRetentionValues = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** An optional section: absent, or present with every field commented out (YAML null), means defaults. */
function section<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null ? undefined : value), schema);
}

function stepSchema(defaults: { memoryMb: number; ephemeralStorageMb: number }) {
  return z
    .strictObject({
      memoryMb: z.number().int().min(128).max(10_240).default(defaults.memoryMb),
      ephemeralStorageMb: z.number().int().min(512).max(10_240).default(defaults.ephemeralStorageMb),
      /** Defaults to the Task's TimeoutSeconds in the state machine file; may not exceed it. */
      timeoutSeconds: z.number().int().min(1).max(900).optional(),
    })
    .prefault({});
}

export const stageConfigSchema = z.strictObject({
  region: z
    .string()
    .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as eu-central-1')
    .default('us-east-1'),
  architecture: z.enum(['arm64', 'x86_64']).default('arm64'),
  postgresClientMajor: z.union([z.literal(17), z.literal(18)]).default(18),
  databases: z.strictObject(
    {
      productionSecretArn: secretArn,
      /** Only for `verification.target: staging`: the standing database verification restores into. */
      stagingSecretArn: secretArn.optional(),
      /**
       * Which databases of the production server each night backs up: `url` (the one the secret
       * names), `all` (every database the role may connect to, minus `exclude`), or a list of names.
       */
      backup: z
        .union([
          z.enum(['url', 'all']),
          z
            .array(
              z.string().refine((name) => isDatabaseName(name) && !name.includes(','), {
                message: 'must be a database name (1-63 bytes, no comma)',
              }),
            )
            .min(1),
        ])
        .default(defaultOf('DATABASES')),
      /** Left out of `backup: all`. */
      exclude: z
        .array(
          z
            .string()
            .min(1)
            .refine((name) => !name.includes(','), 'has a comma'),
        )
        .default([]),
      /** How many databases are backed up at a time (2 by default): the load on the production server. */
      concurrency: z.number().int().min(1).max(10).default(defaultOf('DATABASE_CONCURRENCY')),
    },
    { error: (issue) => (issue.input === undefined ? 'is required' : 'must be a mapping') },
  ),
  /**
   * Where each backup is proven restorable: a scratch server the verifying step starts and removes
   * (default: no standing database, no superuser, nothing left behind), or a standing staging database
   * that opted in. `extensions` adds what production uses beyond contrib to the scratch server.
   */
  verification: section(
    z
      .strictObject({
        target: z.enum(['scratch', 'staging']).default(defaultOf('VERIFY_TARGET')),
        /**
         * The scratch server's PostgreSQL major: production's, or newer (a dump restores into a newer
         * major). Every architecture has 13-18 but arm64 14 (lib/pg/server-bundle.ts `serverBundleSource`).
         */
        serverMajor: z.union(buildableServerMajors.map((major) => z.literal(major))).default(18),
        extensions: z.array(z.enum(['pgvector', 'postgis'])).default([]),
        /**
         * `checksums` (default): the dump records every table's content checksum in its snapshot and the
         * verification compares content, not only counts; `counts` skips that cost (docs/performance.md).
         * Drills compare content whenever a backup has it.
         */
        proof: z.enum(proofLevels).default(defaultOf('PROOF_LEVEL')),
        /**
         * `stream` (default): checksums from the rows pg_dump writes, production read once; `scan`: a
         * second read of every table in the dump's snapshot, independent of pg_dump (docs/reliability.md,
         * docs/performance.md).
         */
        checksumSource: z.enum(checksumSources).default(defaultOf('CHECKSUM_SOURCE')),
        /**
         * With content compared, read the restored rows while pg_restore builds indexes and constraints
         * (`on`), after it (`off`), or beside it when the venue has more CPUs than pg_restore's jobs
         * (`auto`, default). On 2 CPUs it hid the comparison with -j1 and lost with -j2
         * (docs/performance.md, "The comparison beside pg_restore's indexes").
         */
        compareBesideIndexes: z.enum(compareBesideModes).default(defaultOf('COMPARE_BESIDE_INDEXES')),
      })
      .prefault({}),
  ),
  /**
   * Where steps run: one Lambda (15 minutes, 10 GB of /tmp) or the long-running worker (CodeBuild, up to
   * 36 h and hundreds of GB). The dump's `auto` lets the Plan step choose by the database's size and
   * the last dump's throughput; verification runs on the worker unless forced onto Lambda.
   */
  venues: section(
    z
      .strictObject({
        dump: z.enum(dumpVenues).default(defaultOf('DUMP_VENUE')),
        verify: z.enum(venues).default(defaultOf('VERIFY_VENUE')),
      })
      .prefault({}),
  ),
  /** The worker's CodeBuild environment: its size (memory, CPUs, disk) and how long a build may run. */
  worker: section(
    z
      .strictObject({
        computeType: z
          .enum([
            'BUILD_GENERAL1_SMALL',
            'BUILD_GENERAL1_MEDIUM',
            'BUILD_GENERAL1_LARGE',
            'BUILD_GENERAL1_XLARGE',
            'BUILD_GENERAL1_2XLARGE',
          ])
          .default('BUILD_GENERAL1_SMALL'),
        /** At most 540: the worker's Task states give up after 600 minutes, and the build must stop first. */
        timeoutMinutes: z.number().int().min(5).max(540).default(480),
      })
      .prefault({}),
  ),
  bucket: section(
    z
      .strictObject({
        /** Omit to let CloudFormation generate a unique name. */
        name: z.string().regex(bucketNamePattern, 'must be a valid S3 bucket name').optional(),
        retentionDays: z.number().int().min(1).max(36_500).default(30),
        // YAML 1.1 readers turn a bare `off` into false; both mean no Object Lock.
        objectLock: z.preprocess(
          (value) => (value === false ? 'off' : value),
          z.enum(['off', 'GOVERNANCE', 'COMPLIANCE']).default('off'),
        ),
      })
      .prefault({}),
  ),
  /**
   * What the daily retention pass keeps whatever its age (lib/backup/retention.ts); everything else
   * older than `dailyDays` (default: bucket.retentionDays) is marked for the lifecycle rule to expire.
   */
  retention: section(
    z
      .strictObject({
        keepLastVerified: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(defaultOf('RETENTION_KEEP_LAST_VERIFIED')),
        dailyDays: z.number().int().min(1).max(36_500).optional(),
        weeklyWeeks: z.number().int().min(0).max(520).default(defaultOf('RETENTION_WEEKLY_WEEKS')),
        monthlyMonths: z.number().int().min(0).max(1200).default(defaultOf('RETENTION_MONTHLY_MONTHS')),
      })
      .prefault({}),
  ),
  kms: section(
    z
      .strictObject({
        /** Omit to create a dedicated key with rotation on. */
        keyArn: kmsKeyArn.optional(),
      })
      .prefault({}),
  ),
  schedule: z
    .string()
    .regex(
      /^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$/,
      'must be cron(...) or rate(...)',
    )
    .default('cron(0 2 * * ? *)'),
  /** EventBridge schedule of the restore drill (UTC): quarterly by default. */
  drillSchedule: z
    .string()
    .regex(
      /^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$/,
      'must be cron(...) or rate(...)',
    )
    .default('cron(0 3 1 1,4,7,10 ? *)'),
  compression: compressionSchema.default(defaultOf('DUMP_COMPRESSION')),
  alerts: section(
    z
      .strictObject({
        /** Failures and alarms only: every e-mail on this list is something to act on. */
        emails: z.array(z.email('must be an e-mail address')).default([]),
        /** The nightly success summaries (a topic of their own). */
        summaryEmails: z.array(z.email('must be an e-mail address')).default([]),
        /** Failures, alarms and success summaries in Slack (an incoming-webhook URL in the secret). */
        slackWebhookSecretArn: secretArn.optional(),
        /** Failures and alarms as JSON to any https endpoint (the URL in the secret). */
        webhookSecretArn: secretArn.optional(),
        /** A healthchecks.io-style check URL in the secret: pinged once a night (success or /fail). */
        heartbeatSecretArn: secretArn.optional(),
        /**
         * Hours past the schedule's interval before the backup-age alarm fires: a night that runs late
         * must not page, a night with no verified backup must, within about an hour of the grace.
         */
        ageAlarmGraceHours: z.number().min(0.5).max(24).default(2),
      })
      .prefault({}),
  ),
  targets: section(
    z
      .strictObject({
        rpoHours: z.number().positive().max(8760).default(defaultOf('RPO_HOURS')),
        rtoHours: z.number().positive().max(8760).default(defaultOf('RTO_HOURS')),
      })
      .prefault({}),
  ),
  /** Optional: also watch the provider's own backups (Render point-in-time recovery and exports). */
  render: section(
    z
      .strictObject({
        apiKeySecretArn: secretArn,
        postgresId: z.string().regex(postgresIdPattern, 'must be a Render Postgres id such as dpg-…'),
        /** The plan's days of point-in-time recovery: a shorter window is ProviderRecoveryWindowError. */
        minRecoveryDays: z.number().positive().max(365).default(defaultOf('RENDER_MIN_RECOVERY_DAYS')),
        /** Hours after which Render's newest export is stale (ProviderExportStaleError). */
        maxExportAgeHours: z.number().positive().max(8760).default(defaultOf('RENDER_MAX_EXPORT_AGE_HOURS')),
        /** The second-line drill's row-count allowance, in percent of ours per hour between the two. */
        drillDriftPercentPerHour: z
          .number()
          .min(0)
          .max(100)
          .default(defaultOf('RENDER_DRILL_DRIFT_PERCENT_PER_HOUR')),
      })
      .optional(),
  ),
  restoreJobs: z.number().int().min(1).max(64).optional(),
  logRetentionDays: z
    .number()
    .refine((days) => (logRetentionValues as readonly number[]).includes(days), {
      message: `must be one of ${logRetentionValues.join(', ')}`,
    })
    .default(90),
  steps: section(
    z
      .strictObject({
        dump: stepSchema({ memoryMb: 1024, ephemeralStorageMb: 512 }),
        promote: stepSchema({ memoryMb: 512, ephemeralStorageMb: 512 }),
        checksum: stepSchema({ memoryMb: 1024, ephemeralStorageMb: 512 }),
        // The scratch server's data and the downloaded dump live in /tmp: the most Lambda offers.
        verify: stepSchema({ memoryMb: 3008, ephemeralStorageMb: 10_240 }),
        notify: stepSchema({ memoryMb: 256, ephemeralStorageMb: 512 }),
      })
      .prefault({}),
  ),
  drill: section(
    z
      .strictObject({
        /**
         * The drill's sanity queries (lib/drill/sanity.ts validates them, the same check the drill runs),
         * each for the database its `database` names (required where `databases.backup` is several).
         * A database no check is for gets the built-in check: it holds the tables its manifest lists.
         */
        sanityChecks: z
          .array(z.unknown())
          .default([])
          .superRefine((checks, context) => {
            try {
              parseSanityChecks(JSON.stringify(checks), 'sanityChecks');
            } catch (error) {
              context.addIssue({ code: 'custom', message: (error as Error).message });
            }
          }),
      })
      .prefault({}),
  ),
  vpc: z
    .strictObject({
      /** The VPC of the subnets: CodeBuild (the worker) needs it named; Lambda does not. */
      vpcId: z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC id'),
      subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'must be a subnet id')).min(1),
      securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group id')).min(1),
    })
    .optional(),
});

export type StageConfig = z.infer<typeof stageConfigSchema>;

type ConfigFill = Extract<StageFill, { config: unknown }>;

/** A field of a stage config by its dotted path; a path the config does not have is a bug in the table. */
function configValue(config: StageConfig, path: string, setting: string): unknown {
  let value: unknown = config;
  for (const key of path.split('.')) {
    if (value === undefined) return undefined;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigurationError(
        `lib/settings.ts: ${setting} is filled from ${path}, not a stage config field`,
      );
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * A setting as a stage config fills it (lib/settings.ts, its `config` fill): the first of its fields
 * that is set, numbers as text, lists joined with commas or as JSON; undefined when unset.
 */
export function configFillValue(
  config: StageConfig,
  name: SettingName,
  fill: ConfigFill,
): string | undefined {
  const paths: readonly string[] = typeof fill.config === 'string' ? [fill.config] : fill.config;
  const value = paths.map((path) => configValue(config, path, name)).find((v) => v !== undefined);
  if (value === undefined) return undefined;
  if (fill.unsetWhenEmpty && Array.isArray(value) && value.length === 0) return undefined;
  if (fill.json) return JSON.stringify(value);
  return Array.isArray(value) ? value.join(',') : String(value);
}

/**
 * The settings of these groups that the stage config alone decides, as the CLI's runtime for a stage
 * needs them (the deployed functions get the same values, tools/deploy/functions.ts).
 */
export function settingsFromStageConfig(
  config: StageConfig,
  groups: readonly SettingGroup[],
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, row] of settingRows()) {
    if (!row.stage || !('config' in row.stage) || !row.groups?.some((group) => groups.includes(group)))
      continue;
    const value = configFillValue(config, name, row.stage);
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/** What the schema alone cannot say: a staging target needs the staging secret. */
function checkConsistency(config: StageConfig): { field: string; message: string } | undefined {
  const dailyDays = config.retention.dailyDays ?? config.bucket.retentionDays;
  if (config.bucket.objectLock !== 'off' && dailyDays < config.bucket.retentionDays) {
    return {
      field: 'retention.dailyDays',
      message: `is ${dailyDays}, shorter than the ${config.bucket.retentionDays} days Object Lock keeps every backup (bucket.retentionDays): the retention pass would mark backups the bucket cannot delete yet. Make them agree`,
    };
  }
  const interval = scheduleIntervalHours(config.schedule);
  if (interval > config.targets.rpoHours) {
    return {
      field: 'schedule',
      message: `runs a backup at most every ${Number.isFinite(interval) ? `${round(interval)} h` : 'once in five weeks'}, longer than the RPO of ${config.targets.rpoHours} h (targets.rpoHours): the schedule cannot meet it`,
    };
  }
  // A check for no database in particular where several are backed up, or for one never backed up.
  const sanity = sanityChecksProblem(
    parseSanityChecks(JSON.stringify(config.drill.sanityChecks), 'drill.sanityChecks'),
    config.databases.backup,
    { field: 'drill.sanityChecks', unused: { excluded: config.databases.exclude } },
  );
  if (sanity) return sanity;
  const { serverMajor, extensions } = config.verification;
  if (!serverBundleSource(serverMajor, config.architecture, extensions)) {
    return {
      field:
        extensions.length > 0 && serverBundleSource(serverMajor, config.architecture)
          ? 'verification.extensions'
          : 'verification.serverMajor',
      message: `has no scratch server to deploy: ${missingServerSource(serverMajor, config.architecture, extensions)}`,
    };
  }
  if (config.verification.target === 'staging' && !config.databases.stagingSecretArn) {
    return {
      field: 'databases.stagingSecretArn',
      message: 'is required when verification.target is staging',
    };
  }
  return undefined;
}

const stagePattern = /^[a-z][a-z0-9-]{0,15}$/;

export function stageConfigPath(stage: string, root: string): string {
  if (!stagePattern.test(stage)) {
    throw new ConfigurationError(
      `stage "${stage}" must match ${stagePattern} (it names config/<stage>.yml)`,
      {
        details: { field: 'stage' },
      },
    );
  }
  return join(root, 'config', `${stage}.yml`);
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): { field: string; message: string } {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    return {
      field: [...path, keys[0] ?? ''].join('.'),
      message: `unknown field${keys.length > 1 ? `s ${keys.join(', ')}` : ''} (see config/example.yml)`,
    };
  }
  if (issue.code === 'invalid_type') {
    const missing = valueAt(raw, issue.path) === undefined;
    return {
      field: path.join('.') || '(root)',
      message: missing
        ? 'is required'
        : `must be ${issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}`,
    };
  }
  return { field: path.join('.') || '(root)', message: issue.message };
}

/** The line (1-based) of a field in the YAML file, when the problem has a place there. */
export type LineOf = (path: readonly PropertyKey[], unknownKey?: string) => number | undefined;

/**
 * Validates parsed YAML; every problem is reported as `<file>[:<line>]: <field>: <message>`, values
 * never echoed. `lineOf` (from loadStageConfig) points at the offending key or value.
 */
export function parseStageConfig(raw: unknown, fileLabel: string, lineOf?: LineOf): StageConfig {
  const result = stageConfigSchema.safeParse(raw ?? {});
  if (result.success) {
    const inconsistent = checkConsistency(result.data);
    if (!inconsistent) return result.data;
    throw new ConfigurationError(`${fileLabel}: ${inconsistent.field}: ${inconsistent.message}`, {
      details: { file: fileLabel, field: inconsistent.field },
    });
  }
  const problems = result.error.issues.map((issue) => ({
    ...describeIssue(issue, raw),
    line: lineOf?.(issue.path, issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined),
  }));
  const first = problems[0] ?? { field: '(root)', message: 'is invalid', line: undefined };
  const where = (line: number | undefined) => (line ? `${fileLabel}:${line}` : fileLabel);
  throw new ConfigurationError(problems.map((p) => `${where(p.line)}: ${p.field}: ${p.message}`).join('\n'), {
    details: {
      file: fileLabel,
      field: first.field,
      fields: problems.map((p) => p.field),
      ...(first.line ? { line: first.line } : {}),
    },
  });
}

/** Finds the line of the value at `path`, of the key `unknownKey` under it, or of its nearest parent. */
function lineFinder(document: ReturnType<typeof parseDocument>, lines: LineCounter): LineOf {
  return (path, unknownKey) => {
    const at = (offset: number | undefined) =>
      offset === undefined ? undefined : lines.linePos(offset).line;
    for (let depth = path.length; depth >= 0; depth -= 1) {
      const node = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
      if (!node || typeof node !== 'object' || !('range' in node)) continue;
      if (unknownKey !== undefined && depth === path.length && isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === unknownKey);
        if (pair && isScalar(pair.key)) return at(pair.key.range?.[0]);
      }
      // A missing field has no place of its own: point at the mapping that lacks it.
      return at((node as { range?: [number, number, number] | null }).range?.[0]);
    }
    return undefined;
  };
}

export function loadStageConfig(stage: string, root: string): StageConfig {
  const path = stageConfigPath(stage, root);
  const label = relative(root, path);
  if (!existsSync(path)) {
    throw new ConfigurationError(
      `${label} does not exist: copy config/example.yml to ${label} and fill it in (docs/deploy.md)`,
      { details: { file: label } },
    );
  }
  const lines = new LineCounter();
  const document = parseDocument(readFileSync(path, 'utf8'), { lineCounter: lines });
  const [invalid] = document.errors;
  if (invalid) {
    const line = invalid.linePos?.[0]?.line;
    throw new ConfigurationError(`${label}${line ? `:${line}` : ''}: not valid YAML`, {
      details: { file: label, ...(line ? { line } : {}) },
    });
  }
  return parseStageConfig(document.toJS(), label, lineFinder(document, lines));
}
