/**
 * Wires the pipeline's dependencies from the runtime settings it is given: the store, the database
 * connections (a URL locally, Secrets Manager on AWS; their TLS mode settled by lib/pg/tls.ts's policy),
 * the notification channels and the PostgreSQL programs. `createRuntime(settings)` is what the local
 * runner, the worker and the CLI call with the settings they hold; a Lambda handler calls
 * `runtimeFromEnvironment()`, which reads (never writes) the environment serverless.yml set. SDK
 * clients are created once per container.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { readStageExecutions } from './aws/executions.ts';
import { createSfnClient, type SfnApi } from './aws/sfn.ts';
import { type RuntimeSettings, readRuntimeSettings } from './config.ts';
import { ConfigurationError, describeError, InputValidationError } from './errors.ts';
import { createLogger } from './logging.ts';
import type { Channels } from './notify/publish.ts';
import { bundleCaFile, clientForServer, type PgBundle } from './pg/client.ts';
import { type PgConnection, parseConnectionUrl } from './pg/connection.ts';
import { startPgProcess } from './pg/process.ts';
import { negotiateTls } from './pg/session.ts';
import type { ExecutionSummary } from './report/executions.ts';
import { connectionUrlFromSecret, readSecret } from './secrets.ts';
import { BackupStore } from './storage/backup-store.ts';
import { createS3Client } from './storage/s3-client.ts';

export interface Runtime {
  settings: RuntimeSettings;
  store: BackupStore;
  /** Production, with the sslmode this step's clients use (`negotiateTls` below). */
  productionConnection(): Promise<PgConnection>;
  /** Staging, with the sslmode this step's clients use (`negotiateTls` below). */
  stagingConnection(): Promise<PgConnection>;
  /**
   * A connection with an explicit sslmode that node-postgres and the PostgreSQL programs share
   * (lib/pg/tls.ts): a connection string without sslmode to a non-local host gets verify-full against
   * the pg-client bundle's CA list, or require when the server's certificate does not verify (logged).
   * Decided once per call, so once per step: the step passes the result everywhere it connects.
   */
  negotiateTls(connection: PgConnection): Promise<PgConnection>;
  /**
   * Where a message goes: `alert` (things to act on: the alert topic, or Slack and the webhook directly
   * when there is no topic), `summary` (the success topic and Slack), `relay` (Slack and the webhook:
   * the alert relay, which the alert topic feeds).
   */
  channels(purpose: 'alert' | 'summary' | 'relay'): Promise<Channels>;
  /** The heartbeat check URL, when one is configured (env locally, Secrets Manager on AWS). */
  heartbeatUrl(): Promise<string | undefined>;
  /** The Render API key, when Render's own backups are watched (env locally, Secrets Manager on AWS). */
  renderApiKey(): Promise<string | undefined>;
  /**
   * A secret passed by reference (a Secrets Manager ARN; locally `local:<name>` in LOCAL_SECRETS_DIR),
   * for values that must stay out of the execution history, such as a restore's target URL.
   */
  secretByReference(reference: string, label: string): Promise<string>;
  programs: ReturnType<typeof pgProgramsFor>;
  /**
   * The stage's executions since `since`, read from Step Functions when the state machines' ARNs are
   * set (the status function on AWS); undefined otherwise.
   */
  executionHistory(since: Date): Promise<ExecutionSummary[] | undefined>;
  /**
   * The time as the steps see it: backup ids, verification and globals records, the status report's
   * ages and retention's cut-offs all read it here, so a test can run many nights on a clock it moves.
   */
  now(): Date;
}

/** The PostgreSQL programs: the bundles this machine has (or the one PG_CLIENT_DIR names). */
export function pgProgramsFor(clientDir: string | undefined) {
  const env = { PG_CLIENT_DIR: clientDir };
  return {
    clientForServer: (serverVersionNum: number): Promise<PgBundle> =>
      clientForServer(serverVersionNum, { env }),
    start: startPgProcess,
  };
}

export const pgPrograms = pgProgramsFor(undefined);

let secretsClient: SecretsManagerClient | undefined;
let snsClient: SNSClient | undefined;
let sfnClient: SfnApi | undefined;
let cached: { fingerprint: string; runtime: Runtime } | undefined;

async function connectionFrom(
  url: string | undefined,
  secretArn: string | undefined,
  label: string,
  region: string | undefined,
): Promise<PgConnection> {
  if (url) return parseConnectionUrl(url, label);
  if (secretArn) {
    const secret = await readSecretOnce(region, secretArn, `${label}_SECRET_ARN`);
    return parseConnectionUrl(connectionUrlFromSecret(secret, `${label}_SECRET_ARN`), `${label}_SECRET_ARN`);
  }
  throw new ConfigurationError(`neither ${label}_URL nor ${label}_SECRET_ARN is set`);
}

/** A secret's value, with the one Secrets Manager client of this container. */
function readSecretOnce(region: string | undefined, arn: string, label: string): Promise<string> {
  secretsClient ??= new SecretsManagerClient(region ? { region } : {});
  return readSecret(secretsClient, arn, label);
}

/**
 * An https URL that is itself a secret (a Slack or generic webhook, a heartbeat): the setting's value
 * locally, else the secret's; anything but https:// is refused, naming the setting, never the value.
 */
async function secretHttpsUrl(
  region: string | undefined,
  url: string | undefined,
  arn: string | undefined,
  label: string,
): Promise<string | undefined> {
  const value = url ?? (arn ? (await readSecretOnce(region, arn, label)).trim() : undefined);
  if (value !== undefined && !/^https:\/\/\S+$/.test(value)) {
    throw new ConfigurationError(`${label}: must hold an https:// URL`);
  }
  return value;
}

export interface RuntimeOptions {
  /** Where the TLS fallback is logged; default a Powertools logger on stdout/stderr. */
  logger?: Pick<Logger, 'warn'>;
  /** The clock the steps read (`Runtime.now`); the machine's own by default. */
  now?: () => Date;
}

function buildRuntime(settings: RuntimeSettings, options: RuntimeOptions): Runtime {
  const logger = options.logger ?? createLogger();
  const tlsFor = async (connection: PgConnection) =>
    negotiateTls(connection, {
      caFile: await bundleCaFile({ env: { PG_CLIENT_DIR: settings.PG_CLIENT_DIR } }),
      onFallback: (notice) =>
        logger.warn('TLS certificate did not verify; encrypting without verification', { ...notice }),
    });
  const store = new BackupStore({
    client: createS3Client({
      endpoint: settings.AWS_ENDPOINT_URL_S3,
      region: settings.AWS_REGION,
      socketTimeoutMs: settings.S3_SOCKET_TIMEOUT_MS,
    }),
    bucket: settings.BACKUP_BUCKET,
    kmsKeyId: settings.KMS_KEY_ID,
  });
  return {
    settings,
    store,
    productionConnection: async () =>
      tlsFor(
        await connectionFrom(
          settings.PRODUCTION_DATABASE_URL,
          settings.PRODUCTION_DATABASE_SECRET_ARN,
          'PRODUCTION_DATABASE',
          settings.AWS_REGION,
        ),
      ),
    stagingConnection: async () =>
      tlsFor(
        await connectionFrom(
          settings.STAGING_DATABASE_URL,
          settings.STAGING_DATABASE_SECRET_ARN,
          'STAGING_DATABASE',
          settings.AWS_REGION,
        ),
      ),
    negotiateTls: tlsFor,
    async channels(purpose) {
      const webhook = (url: string | undefined, arn: string | undefined, label: string) =>
        secretHttpsUrl(settings.AWS_REGION, url, arn, label);
      const topicArn = purpose === 'summary' ? settings.SUMMARY_TOPIC_ARN : settings.ALERT_TOPIC_ARN;
      snsClient ??= new SNSClient(settings.AWS_REGION ? { region: settings.AWS_REGION } : {});
      const sns = purpose !== 'relay' && topicArn ? { client: snsClient, topicArn } : undefined;
      // With an alert topic, the relay subscribed to it carries alerts to Slack and the webhook; posting
      // here too would say everything twice. Summaries go to Slack directly, never to the webhook.
      const direct = purpose === 'relay' || (purpose === 'alert' && !sns);
      const slack = purpose === 'summary' || direct;
      return {
        sns,
        slackWebhookUrl: slack
          ? await webhook(
              settings.SLACK_WEBHOOK_URL,
              settings.SLACK_WEBHOOK_SECRET_ARN,
              'SLACK_WEBHOOK_SECRET_ARN',
            )
          : undefined,
        webhookUrl: direct
          ? await webhook(
              settings.ALERT_WEBHOOK_URL,
              settings.ALERT_WEBHOOK_SECRET_ARN,
              'ALERT_WEBHOOK_SECRET_ARN',
            )
          : undefined,
      };
    },
    heartbeatUrl: () =>
      secretHttpsUrl(
        settings.AWS_REGION,
        settings.HEARTBEAT_URL,
        settings.HEARTBEAT_SECRET_ARN,
        'HEARTBEAT_SECRET_ARN',
      ),
    async executionHistory(since) {
      const { BACKUP_STATE_MACHINE_ARN, DRILL_STATE_MACHINE_ARN, RESTORE_STATE_MACHINE_ARN } = settings;
      if (!BACKUP_STATE_MACHINE_ARN || !DRILL_STATE_MACHINE_ARN || !RESTORE_STATE_MACHINE_ARN)
        return undefined;
      sfnClient ??= createSfnClient(settings.AWS_REGION ?? regionOf(BACKUP_STATE_MACHINE_ARN));
      return readStageExecutions(
        sfnClient,
        {
          backup: BACKUP_STATE_MACHINE_ARN,
          drill: DRILL_STATE_MACHINE_ARN,
          restore: RESTORE_STATE_MACHINE_ARN,
          ...(settings.NIGHTLY_STATE_MACHINE_ARN ? { nightly: settings.NIGHTLY_STATE_MACHINE_ARN } : {}),
          ...(settings.DRILLS_STATE_MACHINE_ARN ? { drills: settings.DRILLS_STATE_MACHINE_ARN } : {}),
        },
        since,
        { histories: 'ended-badly' },
      );
    },
    async renderApiKey() {
      if (settings.RENDER_API_KEY) return settings.RENDER_API_KEY;
      if (!settings.RENDER_API_KEY_SECRET_ARN) return undefined;
      return (
        await readSecretOnce(
          settings.AWS_REGION,
          settings.RENDER_API_KEY_SECRET_ARN,
          'RENDER_API_KEY_SECRET_ARN',
        )
      ).trim();
    },
    async secretByReference(reference, label) {
      if (secretArnPattern.test(reference)) return readSecretOnce(settings.AWS_REGION, reference, label);
      const local = /^local:([A-Za-z0-9_-]{1,100})$/.exec(reference);
      const passed = local?.[1] ? localSecretValue(settings.LOCAL_SECRET_VALUES, local[1]) : undefined;
      if (passed !== undefined) return passed;
      if (local?.[1] && settings.LOCAL_SECRETS_DIR) {
        try {
          return (await readFile(join(settings.LOCAL_SECRETS_DIR, local[1]), 'utf8')).trim();
        } catch (error) {
          throw new ConfigurationError(
            `${label}: local secret ${local[1]} cannot be read: ${describeError(error)}`,
          );
        }
      }
      throw new InputValidationError(
        `${label} must be a Secrets Manager secret ARN${settings.LOCAL_SECRETS_DIR ? ' or local:<name>' : ''}`,
        { details: { field: label } },
      );
    },
    programs: pgProgramsFor(settings.PG_CLIENT_DIR),
    now: options.now ?? (() => new Date()),
  };
}

/** A `local:<name>` secret handed over in LOCAL_SECRET_VALUES (a JSON object), if it is there. */
function localSecretValue(values: string | undefined, name: string): string | undefined {
  if (values === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(values);
  } catch {
    throw new ConfigurationError('LOCAL_SECRET_VALUES is not a JSON object');
  }
  const value = (parsed as Record<string, unknown> | null)?.[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

const secretArnPattern = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;

/** The runtime for these settings (checked by readRuntimeSettings); SDK clients are shared. */
export function createRuntime(settings: RuntimeSettings, options: RuntimeOptions = {}): Runtime {
  return buildRuntime(settings, options);
}

/**
 * On Lambda: the settings in the function's environment, read and checked once per container. The step
 * handler passes its own logger, so the runtime's warnings carry the invocation's ids like its lines.
 */
export function runtimeFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  options: Pick<RuntimeOptions, 'logger'> = {},
): Runtime {
  const settings = readRuntimeSettings(env);
  const fingerprint = JSON.stringify(settings);
  if (cached?.fingerprint !== fingerprint) cached = { fingerprint, runtime: buildRuntime(settings, options) };
  return cached.runtime;
}

/** The region part of an ARN (`arn:aws:states:<region>:...`). */
const regionOf = (arn: string) => arn.split(':')[3] ?? '';
