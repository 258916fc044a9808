/**
 * Runtime settings, read from the environment (set by serverless.yml on AWS, by the local runner
 * locally) and checked strictly: a missing or malformed variable is named in the error, never guessed.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { compressionPattern, defaultCompression, proofLevels } from './backup/manifest.ts';
import { defaultVenues, dumpVenues, venues } from './backup/plan.ts';
import { ConfigurationError } from './errors.ts';
import { defaultLockWaitSeconds } from './pg/row-counts.ts';
import { postgresIdPattern } from './provider/render.ts';

const optionalText = z.string().trim().min(1).optional();

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

export const runtimeSettingsSchema = z.object({
  BACKUP_BUCKET: z.string().regex(bucketNamePattern, 'must be a valid S3 bucket name'),
  AWS_REGION: optionalText,
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  /** Silence on an S3 request's socket after which it fails and is retried (lib/storage/s3-client.ts). */
  S3_SOCKET_TIMEOUT_MS: z.coerce.number().int().min(100).optional(),
  KMS_KEY_ID: optionalText,
  PRODUCTION_DATABASE_URL: optionalText,
  PRODUCTION_DATABASE_SECRET_ARN: optionalText,
  /**
   * Which databases of the production server the nightly run backs up (lib/backup/databases.ts):
   * `url` (default: the one the connection URL names), `all` (every database the role may connect to,
   * minus EXCLUDE_DATABASES), or a comma-separated list of names.
   */
  DATABASES: z
    .string()
    .trim()
    .default('url')
    .transform((text, context) => {
      if (text === 'url' || text === 'all' || text === '') return text === 'all' ? 'all' : 'url';
      const names = text.split(',').map((name) => name.trim());
      if (names.some((name) => name.length === 0 || Buffer.byteLength(name) > 63)) {
        context.addIssue({ code: 'custom', message: 'must be url, all or a list of 1-63 byte names' });
        return z.NEVER;
      }
      return [...new Set(names)];
    }),
  /** Databases the `all` mode leaves out: a comma-separated list of names. */
  EXCLUDE_DATABASES: z
    .string()
    .trim()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  /** How many databases the nightly run backs up at a time (its Map state's MaxConcurrency). */
  DATABASE_CONCURRENCY: z.coerce.number().int().min(1).max(10).default(2),
  STAGING_DATABASE_URL: optionalText,
  STAGING_DATABASE_SECRET_ARN: optionalText,
  /** Things to act on: failures and alarms (e-mail subscribers, and the alert relay to Slack/webhook). */
  ALERT_TOPIC_ARN: snsTopicArn,
  /** The nightly success summaries, kept off the alert topic so that an alert e-mail always means work. */
  SUMMARY_TOPIC_ARN: snsTopicArn,
  /** A secret: checked here (before any step touches a database or the bucket), never echoed. */
  SLACK_WEBHOOK_URL: secretHttpsUrl,
  SLACK_WEBHOOK_SECRET_ARN: optionalText,
  /** A generic webhook for failures (JSON POST): a secret too. */
  ALERT_WEBHOOK_URL: secretHttpsUrl,
  ALERT_WEBHOOK_SECRET_ARN: optionalText,
  /** healthchecks.io-style check URL: pinged at `/start`, on success, and at `/fail`. A secret. */
  HEARTBEAT_URL: secretHttpsUrl,
  HEARTBEAT_SECRET_ARN: optionalText,
  DUMP_COMPRESSION: z
    .string()
    .regex(compressionPattern, 'must be none, gzip[:1-9], lz4[:1-12] or zstd[:1-22]')
    .default(defaultCompression),
  /** Seconds the dump waits for a table lock (pg_dump --lock-wait-timeout) before TableLockedError. */
  DUMP_LOCK_WAIT_SECONDS: z.coerce.number().int().min(1).max(600).default(defaultLockWaitSeconds),
  RESTORE_JOBS: z.coerce.number().int().min(1).max(64).default(Math.max(1, availableParallelism())),
  RPO_HOURS: z.coerce.number().positive().default(24),
  RTO_HOURS: z.coerce.number().positive().default(2),
  STEP_TIMEOUT_RESERVE_MS: z.coerce.number().int().min(0).default(20_000),
  WORK_DIR: optionalText,
  /** One pg-client bundle to use instead of looking for them (lib/pg/client.ts). */
  PG_CLIENT_DIR: optionalText,
  /** One scratch-server bundle to use instead of looking for them (lib/pg/server-bundle.ts). */
  PG_SERVER_DIR: optionalText,
  /**
   * Where a backup is restored to be verified: a scratch server the step starts and removes (default),
   * or the standing staging database (STAGING_DATABASE_URL / _SECRET_ARN), which must have opted in.
   */
  VERIFY_TARGET: z.enum(['scratch', 'staging']).default('scratch'),
  /** Extensions beyond contrib the scratch server carries: a comma-separated list of pgvector, postgis. */
  SCRATCH_EXTENSIONS: z
    .string()
    .trim()
    .regex(
      /^((pgvector|postgis)(,(pgvector|postgis))*)?$/,
      'must be a comma-separated list of pgvector, postgis',
    )
    .transform((text) => (text ? [...new Set(text.split(','))].sort() : []))
    .default([]),
  /** The deployment stage, the dimension of the published metrics. */
  STAGE: z
    .string()
    .regex(/^[a-zA-Z0-9-]{1,32}$/, 'must be 1-32 letters, digits or dashes')
    .default('local'),
  /** Render's own backups (optional): the database id, and the API key (locally) or its secret (AWS). */
  RENDER_POSTGRES_ID: z
    .string()
    .regex(postgresIdPattern, 'must be a Render Postgres id such as dpg-…')
    .optional(),
  RENDER_API_KEY: optionalText,
  RENDER_API_KEY_SECRET_ARN: optionalText,
  RENDER_API_URL: z.url().optional(),
  /** JSON list of drill sanity checks (lib/drill/sanity.ts validates it when a drill runs). */
  DRILL_SANITY_CHECKS: optionalText,
  /**
   * Where the dump runs: `auto` (the Plan step estimates from the database's size whether it fits one
   * Lambda with margin, else the worker), or always `lambda` / `worker` (lib/backup/plan.ts).
   */
  DUMP_VENUE: z.enum(dumpVenues).default(defaultVenues.dump),
  /**
   * What Dump records and Verify compares: `checksums` (every table's content, large objects and
   * sequences, besides the counts) or `counts` only. Drills compare content whenever it was recorded.
   */
  PROOF_LEVEL: z.enum(proofLevels).default('checksums'),
  /**
   * Where Verify and the drill's RestoreAndCheck run their scratch server: the worker unless set
   * (local runs set `lambda`, in-process, unless told otherwise: tools/local/environment.ts).
   */
  VERIFY_VENUE: z.enum(venues).default(defaultVenues.verify),
  /** The dump Lambda's timeout, for the Plan step's estimate (serverless.yml sets the deployed one). */
  DUMP_LAMBDA_TIMEOUT_SECONDS: z.coerce.number().int().min(60).max(900).default(900),
  /** The retention pass (lib/backup/retention.ts): what it keeps whatever the age. */
  RETENTION_KEEP_LAST_VERIFIED: z.coerce.number().int().min(1).max(1000).default(7),
  RETENTION_DAILY_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  RETENTION_WEEKLY_WEEKS: z.coerce.number().int().min(0).max(520).default(8),
  RETENTION_MONTHLY_MONTHS: z.coerce.number().int().min(0).max(1200).default(12),
  /**
   * The stage's state machines (set on the status function): their recent executions are what the
   * status report's last failure, success rate and VerificationFailures come from.
   */
  BACKUP_STATE_MACHINE_ARN: stateMachineArn,
  DRILL_STATE_MACHINE_ARN: stateMachineArn,
  RESTORE_STATE_MACHINE_ARN: stateMachineArn,
  NIGHTLY_STATE_MACHINE_ARN: stateMachineArn,
  DRILLS_STATE_MACHINE_ARN: stateMachineArn,
  /**
   * Local runs only: a directory of secret files, so `local:<name>` can stand for a Secrets Manager
   * ARN where a secret travels by reference (the cloud restore's target). Never set on AWS.
   */
  LOCAL_SECRETS_DIR: optionalText,
  /**
   * Local runs only: the values of `local:<name>` secrets as a JSON object, handed to the local worker
   * in its environment, so a target's password is never in a file (a killed run left it behind).
   */
  LOCAL_SECRET_VALUES: optionalText,
});

export type RuntimeSettings = z.infer<typeof runtimeSettingsSchema>;

export function readRuntimeSettings(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const result = runtimeSettingsSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = issue?.path.join('.') ?? '(environment)';
    // The value is never echoed: some of these variables hold credentials.
    throw new ConfigurationError(`environment variable ${name} ${issue?.message ?? 'is invalid'}`, {
      details: { field: name },
    });
  }
  return result.data;
}
