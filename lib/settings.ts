/**
 * Every runtime setting, once: its name, its schema with its default, which functions get it on AWS,
 * how a deployed stage fills it and whether local runs pass the caller's value through. Everything
 * else derives from this table: the runtime schema (lib/config.ts), the groups a function row lists
 * (functions/tasks.ts), the Lambda and worker environments (tools/deploy/functions.ts, worker.ts),
 * serverless.yml's provider environment, the local pass-through (tools/local/environment.ts), the
 * stage config's defaults and the CLI's runtime for a stage (tools/deploy/stage-config.ts). test/unit/lib/settings.test.ts fails when a
 * setting's name is declared anywhere else.
 *
 * Adding a setting: one row here (and its use). A setting every function needs takes `groups: ['all']`;
 * one only some need takes a group their rows in functions/tasks.ts list (a new group is a new name in
 * `SettingGroup`).
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { checksumSources, defaultCompression, proofLevels } from './backup/manifest.ts';
import { dumpVenues, venues } from './backup/plan.ts';
import { type MachineName, machineNames, stateMachineResourceOf } from './machines.ts';
import { defaultLockWaitSeconds } from './pg/row-counts.ts';
import { postgresIdPattern, renderPlanDefaults } from './provider/render.ts';
import { priceTableSchema } from './report/cost.ts';
import { compressionSchema, isDatabaseName } from './schemas.ts';

/**
 * Which functions get a setting on AWS: `all` of them (serverless.yml's provider environment and the
 * worker), or those whose row in functions/tasks.ts lists the group.
 */
export type SettingGroup =
  | 'all'
  | 'productionSecret'
  /** VERIFY_TARGET, and the staging secret when it is `staging`. */
  | 'verifyTarget'
  /** SCRATCH_EXTENSIONS: which build of the scratch server to start. */
  | 'scratchServer'
  | 'restoreJobs'
  | 'workDir'
  /** ALERT_TOPIC_ARN: things to act on (the alert relay carries them on to Slack and the webhook). */
  | 'alerts'
  /** SUMMARY_TOPIC_ARN and the Slack webhook: success summaries. */
  | 'summary'
  /** The Slack webhook, the generic webhook and the heartbeat: the alert relay's channels. */
  | 'relay'
  /** HEARTBEAT_SECRET_ARN: the healthchecks-style check, pinged once a night (and /fail by the relay). */
  | 'heartbeat'
  /** PROOF_LEVEL: what Dump records and Verify compares (counts, or content checksums too). */
  | 'proof'
  | 'sanityChecks'
  | 'stage'
  | 'render'
  /** DUMP_VENUE, VERIFY_VENUE and the dump Lambda's timeout, for the Plan step and SelectBackup. */
  | 'venues'
  /** RETENTION_*: what the retention pass keeps. */
  | 'retention'
  /** <MACHINE>_STATE_MACHINE_ARN of the state machines: the status report reads their history. */
  | 'stateMachines'
  /** DATABASES, EXCLUDE_DATABASES, DATABASE_CONCURRENCY: which databases the nightly run backs up. */
  | 'databases'
  /** PRICE_TABLE: the AWS list prices of the status report's cost estimate. */
  | 'prices';

/**
 * How a deployed stage fills a setting (plain data; tools/deploy/functions.ts resolves it):
 * - `config`: a field of config/<stage>.yml by its dotted path (the first one set, when several);
 *   numbers as text, lists joined with commas (`json`: as JSON), left unset when `unsetWhenEmpty` and
 *   the list is empty; with `when`, set only under that CloudFormation condition;
 * - `ref`: a resource of the stack; `fixed`: a constant;
 * - `deploy`: a value only the packaging knows (the KMS key, RESTORE_JOBS from the verify memory, the
 *   stage's name, the dump Lambda's timeout from the Task's, config/prices.ts as JSON, the worker
 *   bundle's function name, the worker's timeout in seconds from `worker.timeoutMinutes`).
 */
export type StageFill =
  | {
      config: string | readonly string[];
      when?:
        | 'UseSlack'
        | 'UseAlertWebhook'
        | 'UseHeartbeat'
        | 'UseRender'
        | 'UseStaging'
        | 'UseDrillSanityChecks';
      json?: true;
      unsetWhenEmpty?: true;
    }
  | { ref: string }
  | { fixed: string }
  | {
      deploy:
        | 'kmsKeyArn'
        | 'restoreJobs'
        | 'stage'
        | 'dumpLambdaTimeout'
        | 'prices'
        | 'workerFunction'
        | 'workerTimeout';
    };

export interface SettingRow {
  /** What the variable must hold, and its default when unset (one copy: the stage config takes it too). */
  schema: z.ZodType;
  /** Which functions get it on AWS; none: it is never set on AWS (local runs, the CLI, tests). */
  groups?: readonly SettingGroup[];
  stage?: StageFill;
  /**
   * On the worker (CodeBuild), where it differs from Lambda: set whatever the groups (a fill), or left
   * unset (`unset`: the step's own default suits the build better).
   */
  worker?: StageFill | 'unset';
  /** Local runs pass the caller's value through (tools/local/environment.ts). */
  local?: 'passThrough';
}

const optionalText = z.string().trim().min(1).optional();
/** COMPARE_BESIDE_INDEXES: `auto` reads beside pg_restore's indexes when a CPU is left beyond its jobs. */
export const compareBesideModes = ['auto', 'on', 'off'] as const;

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname.length > 0 && !/\s/.test(value);
  } catch {
    return false;
  }
}

const snsTopicArn = z
  .string()
  .trim()
  .max(1024, 'is too long for an SNS topic ARN')
  .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/, 'must be an SNS topic ARN')
  .optional();

const secretHttpsUrl = z
  .string()
  .trim()
  .max(2048, 'is too long for a webhook URL')
  .refine(isHttpsUrl, 'must be an https:// URL')
  .optional();

export const bucketNamePattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const stateMachineArn = z
  .string()
  .trim()
  .regex(
    /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/,
    'must be a state machine ARN',
  )
  .optional();

/**
 * `<MACHINE>_STATE_MACHINE_ARN` of each machine of lib/machines.ts (set on the status function): the
 * status report reads their history.
 */
const stateMachineRow = (machine: MachineName) =>
  ({
    schema: stateMachineArn,
    groups: ['stateMachines'],
    stage: { ref: stateMachineResourceOf(machine) },
  }) as const satisfies SettingRow;
const stateMachineRows = Object.fromEntries(
  machineNames.map((machine) => [`${machine.toUpperCase()}_STATE_MACHINE_ARN`, stateMachineRow(machine)]),
) as Record<`${Uppercase<MachineName>}_STATE_MACHINE_ARN`, ReturnType<typeof stateMachineRow>>;

export const settings = {
  BACKUP_BUCKET: {
    schema: z.string().regex(bucketNamePattern, 'must be a valid S3 bucket name'),
    groups: ['all'],
    stage: { ref: 'BackupBucket' },
  },
  AWS_REGION: { schema: optionalText },
  AWS_ENDPOINT_URL_S3: { schema: z.url().optional() },
  /** Silence on an S3 request's socket after which it fails and is retried (lib/storage/s3-client.ts). */
  S3_SOCKET_TIMEOUT_MS: { schema: z.coerce.number().int().min(100).optional() },
  KMS_KEY_ID: { schema: optionalText, groups: ['all'], stage: { deploy: 'kmsKeyArn' } },
  PRODUCTION_DATABASE_URL: { schema: optionalText },
  PRODUCTION_DATABASE_SECRET_ARN: {
    schema: optionalText,
    groups: ['productionSecret'],
    stage: { config: 'databases.productionSecretArn' },
  },
  /**
   * Which databases of the production server the nightly run backs up (lib/backup/databases.ts):
   * `url` (default: the one the connection URL names), `all` (every database the role may connect to,
   * minus EXCLUDE_DATABASES), or a comma-separated list of names.
   */
  DATABASES: {
    schema: z
      .string()
      .trim()
      .default('url')
      .transform((text, context) => {
        if (text === 'url' || text === 'all' || text === '') return text === 'all' ? 'all' : 'url';
        const names = text.split(',').map((name) => name.trim());
        if (!names.every(isDatabaseName)) {
          context.addIssue({ code: 'custom', message: 'must be url, all or a list of 1-63 byte names' });
          return z.NEVER;
        }
        return [...new Set(names)];
      }),
    groups: ['databases'],
    stage: { config: 'databases.backup' },
    local: 'passThrough',
  },
  /** Databases the `all` mode leaves out: a comma-separated list of names. */
  EXCLUDE_DATABASES: {
    schema: z
      .string()
      .trim()
      .default('')
      .transform((text) =>
        text
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean),
      ),
    groups: ['databases'],
    stage: { config: 'databases.exclude' },
    local: 'passThrough',
  },
  /** How many databases the nightly run backs up at a time (its Map state's MaxConcurrency). */
  DATABASE_CONCURRENCY: {
    schema: z.coerce.number().int().min(1).max(10).default(2),
    groups: ['databases'],
    stage: { config: 'databases.concurrency' },
    local: 'passThrough',
  },
  STAGING_DATABASE_URL: { schema: optionalText },
  STAGING_DATABASE_SECRET_ARN: {
    schema: optionalText,
    groups: ['verifyTarget'],
    stage: { config: 'databases.stagingSecretArn', when: 'UseStaging' },
  },
  /** Things to act on: failures and alarms (e-mail subscribers, and the alert relay to Slack/webhook). */
  ALERT_TOPIC_ARN: {
    schema: snsTopicArn,
    groups: ['alerts'],
    stage: { ref: 'AlertTopic' },
    local: 'passThrough',
  },
  /** The nightly success summaries, kept off the alert topic so that an alert e-mail always means work. */
  SUMMARY_TOPIC_ARN: {
    schema: snsTopicArn,
    groups: ['summary'],
    stage: { ref: 'SummaryTopic' },
    local: 'passThrough',
  },
  /** A secret: checked here (before any step touches a database or the bucket), never echoed. */
  SLACK_WEBHOOK_URL: { schema: secretHttpsUrl, local: 'passThrough' },
  SLACK_WEBHOOK_SECRET_ARN: {
    schema: optionalText,
    groups: ['summary', 'relay'],
    stage: { config: 'alerts.slackWebhookSecretArn', when: 'UseSlack' },
  },
  /** A generic webhook for failures (JSON POST): a secret too. */
  ALERT_WEBHOOK_URL: { schema: secretHttpsUrl, local: 'passThrough' },
  ALERT_WEBHOOK_SECRET_ARN: {
    schema: optionalText,
    groups: ['relay'],
    stage: { config: 'alerts.webhookSecretArn', when: 'UseAlertWebhook' },
  },
  /** healthchecks.io-style check URL: pinged once a night, on success or at `/fail`. A secret. */
  HEARTBEAT_URL: { schema: secretHttpsUrl, local: 'passThrough' },
  HEARTBEAT_SECRET_ARN: {
    schema: optionalText,
    groups: ['relay', 'heartbeat'],
    stage: { config: 'alerts.heartbeatSecretArn', when: 'UseHeartbeat' },
  },
  DUMP_COMPRESSION: {
    schema: compressionSchema.default(defaultCompression),
    groups: ['all'],
    stage: { config: 'compression' },
    local: 'passThrough',
  },
  /** Seconds the dump waits for a table lock (pg_dump --lock-wait-timeout) before TableLockedError. */
  DUMP_LOCK_WAIT_SECONDS: {
    schema: z.coerce.number().int().min(1).max(600).default(defaultLockWaitSeconds),
    local: 'passThrough',
  },
  RESTORE_JOBS: {
    schema: z.coerce.number().int().min(1).max(64).default(Math.max(1, availableParallelism())),
    groups: ['restoreJobs'],
    stage: { deploy: 'restoreJobs' },
    // pg_restore -j follows the build's CPUs (the default), not the verify Lambda's memory.
    worker: 'unset',
    local: 'passThrough',
  },
  /**
   * Whether a restore with content compared reads the restored rows while pg_restore builds indexes
   * and constraints (lib/verify/restore.ts, `readBeside`). `auto`: when this machine has more CPUs
   * than RESTORE_JOBS, since pg_restore keeps that many busy and the reading needs cores of its own (on
   * 2 CPUs with -j2 it measured no faster, docs/performance.md).
   */
  COMPARE_BESIDE_INDEXES: {
    schema: z.enum(compareBesideModes).default('auto'),
    groups: ['restoreJobs'],
    stage: { config: 'verification.compareBesideIndexes' },
    local: 'passThrough',
  },
  RPO_HOURS: {
    schema: z.coerce.number().positive().default(24),
    groups: ['all'],
    stage: { config: 'targets.rpoHours' },
    local: 'passThrough',
  },
  RTO_HOURS: {
    schema: z.coerce.number().positive().default(2),
    groups: ['all'],
    stage: { config: 'targets.rtoHours' },
    local: 'passThrough',
  },
  /** How long before its venue's deadline a step stops and cleans up. */
  STEP_TIMEOUT_RESERVE_MS: {
    schema: z.coerce.number().int().min(0).default(20_000),
    groups: ['all'],
    stage: { fixed: '20000' },
    // The step stops and cleans up this long before the build's own timeout.
    worker: { fixed: '60000' },
  },
  WORK_DIR: {
    schema: optionalText,
    groups: ['workDir'],
    stage: { fixed: '/tmp' },
    // CodeBuild's disk is the work directory, for every step it runs.
    worker: { fixed: '/tmp' },
  },
  /** One pg-client bundle to use instead of looking for them (lib/pg/client.ts). */
  PG_CLIENT_DIR: { schema: optionalText },
  /** One scratch-server bundle to use instead of looking for them (lib/pg/server-bundle.ts). */
  PG_SERVER_DIR: { schema: optionalText, local: 'passThrough' },
  /**
   * Where a backup is restored to be verified: a scratch server the step starts and removes (default),
   * or the standing staging database (STAGING_DATABASE_URL / _SECRET_ARN), which must have opted in.
   */
  VERIFY_TARGET: {
    schema: z.enum(['scratch', 'staging']).default('scratch'),
    groups: ['verifyTarget'],
    stage: { config: 'verification.target' },
    local: 'passThrough',
  },
  /** Extensions beyond contrib the scratch server carries: a comma-separated list of pgvector, postgis. */
  SCRATCH_EXTENSIONS: {
    schema: z
      .string()
      .trim()
      .regex(
        /^((pgvector|postgis)(,(pgvector|postgis))*)?$/,
        'must be a comma-separated list of pgvector, postgis',
      )
      .transform((text) => (text ? [...new Set(text.split(','))].sort() : []))
      .default([]),
    groups: ['scratchServer'],
    stage: { config: 'verification.extensions', unsetWhenEmpty: true },
    local: 'passThrough',
  },
  /** The deployment stage, the dimension of the published metrics. */
  STAGE: {
    schema: z
      .string()
      .regex(/^[a-zA-Z0-9-]{1,32}$/, 'must be 1-32 letters, digits or dashes')
      .default('local'),
    groups: ['stage'],
    stage: { deploy: 'stage' },
  },
  /** Render's own backups (optional): the database id, and the API key (locally) or its secret (AWS). */
  RENDER_POSTGRES_ID: {
    schema: z.string().regex(postgresIdPattern, 'must be a Render Postgres id such as dpg-…').optional(),
    groups: ['render'],
    stage: { config: 'render.postgresId', when: 'UseRender' },
    local: 'passThrough',
  },
  RENDER_API_KEY: { schema: optionalText, local: 'passThrough' },
  RENDER_API_KEY_SECRET_ARN: {
    schema: optionalText,
    groups: ['render'],
    stage: { config: 'render.apiKeySecretArn', when: 'UseRender' },
  },
  RENDER_API_URL: { schema: z.url().optional(), local: 'passThrough' },
  /** What the plan needs of Render's line: days of point-in-time recovery, and the newest export's age. */
  RENDER_MIN_RECOVERY_DAYS: {
    schema: z.coerce.number().positive().max(365).default(renderPlanDefaults.minRecoveryDays),
    groups: ['render'],
    stage: { config: 'render.minRecoveryDays', when: 'UseRender' },
    local: 'passThrough',
  },
  RENDER_MAX_EXPORT_AGE_HOURS: {
    schema: z.coerce.number().positive().max(8760).default(renderPlanDefaults.maxExportAgeHours),
    groups: ['render'],
    stage: { config: 'render.maxExportAgeHours', when: 'UseRender' },
    local: 'passThrough',
  },
  /**
   * The second-line drill (lib/provider/render-drill.ts): how far Render's export may differ from our
   * nearest verified backup, in percent of our row count per hour between the two (both are copies of a
   * live database). 0 asks for equal counts.
   */
  RENDER_DRILL_DRIFT_PERCENT_PER_HOUR: {
    schema: z.coerce
      .number({ error: 'must be a number of percent per hour' })
      .min(0, 'must be 0 or more (percent per hour)')
      .max(100, 'must be at most 100 (percent per hour)')
      .default(renderPlanDefaults.drillDriftPercentPerHour),
    groups: ['render'],
    stage: { config: 'render.drillDriftPercentPerHour', when: 'UseRender' },
    local: 'passThrough',
  },
  /**
   * The AWS list prices of the status report's cost estimate, as JSON (config/prices.ts, which lib/
   * may not import: the deploy sets it from there, the CLI passes the table itself). Unset: no estimate.
   */
  PRICE_TABLE: {
    schema: z
      .string()
      .transform((text, context) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          context.addIssue({ code: 'custom', message: 'must be JSON' });
          return z.NEVER;
        }
      })
      .pipe(priceTableSchema)
      .optional(),
    groups: ['prices'],
    stage: { deploy: 'prices' },
  },
  /** JSON list of drill sanity checks (lib/drill/sanity.ts validates it when a drill runs). */
  DRILL_SANITY_CHECKS: {
    schema: optionalText,
    groups: ['sanityChecks'],
    // Unset without configured checks: the drill then runs its built-in one (lib/drill/sanity.ts).
    stage: { config: 'drill.sanityChecks', json: true, when: 'UseDrillSanityChecks' },
    local: 'passThrough',
  },
  /**
   * Where the dump runs: `auto` (the Plan step estimates from the database's size whether it fits one
   * Lambda with margin, else the worker), or always `lambda` / `worker` (lib/backup/plan.ts).
   */
  DUMP_VENUE: {
    schema: z.enum(dumpVenues).default('auto'),
    groups: ['venues'],
    stage: { config: 'venues.dump' },
    local: 'passThrough',
  },
  /**
   * What Dump records and Verify compares: `checksums` (every table's content, large objects and
   * sequences, besides the counts) or `counts` only. Drills compare content whenever it was recorded.
   */
  PROOF_LEVEL: {
    schema: z.enum(proofLevels).default('checksums'),
    groups: ['proof'],
    stage: { config: 'verification.proof' },
    local: 'passThrough',
  },
  /**
   * Where Dump takes the content checksums from: `stream` (the default: the rows pg_dump writes, hashed
   * in Node as they pass to the store, so production is read once: copy-text-murmur3-sum64-v4; a digest
   * that falls 32 MiB behind pg_dump is abandoned for the scan, with a manifest warning) or `scan` (a
   * second read of every table in the dump's snapshot, independent of pg_dump's output:
   * row-hash-sum64-v3, v1 on 13). An lz4 dump always scans (docs/reliability.md, "The stream digest
   * beside the upload").
   */
  CHECKSUM_SOURCE: {
    schema: z.enum(checksumSources).default('stream'),
    groups: ['proof'],
    stage: { config: 'verification.checksumSource' },
    local: 'passThrough',
  },
  /**
   * Where Verify and the drill's RestoreAndCheck run their scratch server. The worker by default: it
   * needs the dump plus 1.25 times the database plus 1.25 GiB of disk, so Lambda's 10 GiB of /tmp and
   * 15 minutes hold a database of a few GiB at most (docs/architecture.md, "Where it runs"), and
   * PostgreSQL inside Lambda is not proven on AWS. Local runs verify in-process unless told otherwise
   * (tools/local/environment.ts).
   */
  VERIFY_VENUE: {
    schema: z.enum(venues).default('worker'),
    groups: ['venues'],
    stage: { config: 'venues.verify' },
    local: 'passThrough',
  },
  /** The dump Lambda's timeout, for the Plan step's estimate (serverless.yml sets the deployed one). */
  DUMP_LAMBDA_TIMEOUT_SECONDS: {
    schema: z.coerce.number().int().min(60).max(900).default(900),
    groups: ['venues'],
    stage: { deploy: 'dumpLambdaTimeout' },
  },
  /** The retention pass (lib/backup/retention.ts): what it keeps whatever the age. */
  RETENTION_KEEP_LAST_VERIFIED: {
    schema: z.coerce.number().int().min(1).max(1000).default(7),
    groups: ['retention'],
    stage: { config: 'retention.keepLastVerified' },
  },
  RETENTION_DAILY_DAYS: {
    schema: z.coerce.number().int().min(1).max(36_500).default(30),
    groups: ['retention'],
    stage: { config: ['retention.dailyDays', 'bucket.retentionDays'] },
  },
  RETENTION_WEEKLY_WEEKS: {
    schema: z.coerce.number().int().min(0).max(520).default(8),
    groups: ['retention'],
    stage: { config: 'retention.weeklyWeeks' },
  },
  RETENTION_MONTHLY_MONTHS: {
    schema: z.coerce.number().int().min(0).max(1200).default(12),
    groups: ['retention'],
    stage: { config: 'retention.monthlyMonths' },
  },
  ...stateMachineRows,
  /**
   * Local runs only: a directory of secret files, so `local:<name>` can stand for a Secrets Manager
   * ARN where a secret travels by reference (the cloud restore's target). Never set on AWS.
   */
  LOCAL_SECRETS_DIR: { schema: optionalText },
  /**
   * Local runs only: the values of `local:<name>` secrets as a JSON object, handed to the local worker
   * in its environment, so a target's password is never in a file (a killed run left it behind).
   */
  LOCAL_SECRET_VALUES: { schema: optionalText },
  /**
   * The worker's own variables (lib/worker/): set on its CodeBuild project by the deploy, per build by
   * the state machine's `EnvironmentVariablesOverride` and by CodeBuild itself, and locally by the
   * runner that starts the worker as a child process (tools/local/state-machine-runner.ts). No Lambda
   * gets them. The deployed worker function whose bundle and layers the build fetches (the buildspec).
   */
  WORKER_FUNCTION: { schema: optionalText, worker: { deploy: 'workerFunction' } },
  /** How long a build may run; with CODEBUILD_START_TIME, the step's deadline (lib/worker/run.ts). */
  WORKER_TIMEOUT_SECONDS: {
    schema: z.coerce.number().positive().optional(),
    worker: { deploy: 'workerTimeout' },
  },
  /** Per build, from the state machine: the function key of the Task table whose step runs. */
  WORKER_TASK: { schema: optionalText },
  /** Per build, from the state machine: the step's event as JSON, exactly what its Lambda would get. */
  WORKER_EVENT: { schema: optionalText },
  /** Per build, from the state machine: the execution's name and the Task state's (the record's key). */
  WORKER_EXECUTION: { schema: optionalText },
  WORKER_STATE: { schema: optionalText },
  /** Set by CodeBuild (and locally by the runner, of the same shape): the build, and when it started. */
  CODEBUILD_BUILD_ID: { schema: optionalText },
  CODEBUILD_START_TIME: { schema: z.coerce.number().optional() },
  /** Local runs only: the worker stops when the run that started it dies (lib/worker/main.ts). */
  WORKER_STOPS_WITH_PARENT: { schema: z.enum(['true', 'false']).optional() },
  /** Local runs only: where an orphaned worker writes its last lines (the step log). */
  WORKER_LOG_FILE: { schema: optionalText },
} as const satisfies Record<string, SettingRow>;

export type SettingName = keyof typeof settings;

type Rows = typeof settings;
const schemaShape = Object.fromEntries(Object.entries(settings).map(([name, row]) => [name, row.schema])) as {
  [Name in SettingName]: Rows[Name]['schema'];
};

/** The runtime settings as the environment carries them, checked strictly (lib/config.ts reads them). */
export const runtimeSettingsSchema = z.object(schemaShape);

/** A setting's value when nothing sets it: what the stage config takes as its own default. */
export function defaultOf<Name extends SettingName>(name: Name): z.output<Rows[Name]['schema']> {
  return settings[name].schema.parse(undefined) as z.output<Rows[Name]['schema']>;
}

/** Every setting with its row, in the table's order. */
export function settingRows(): [SettingName, SettingRow][] {
  return Object.entries(settings) as [SettingName, SettingRow][];
}

/** The settings local runs take from the caller's environment. */
export function localPassThrough(): SettingName[] {
  return settingRows()
    .filter(([, row]) => row.local === 'passThrough')
    .map(([name]) => name);
}
