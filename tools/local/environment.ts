/**
 * Local mode: the same handlers against real servers on this machine. What the user points at is
 * used (DATABASE_URL, BACKUP_BUCKET + AWS_ENDPOINT_URL_S3, and STAGING_DATABASE_URL for staging-mode
 * verification); whatever is missing is started here: an embedded "production" PostgreSQL seeded with
 * the sample database and a local S3 API. Verification starts its own scratch servers, as on AWS; a
 * standing staging server is started only when asked for (`need.staging`, VERIFY_TARGET=staging).
 * All local state lives under one directory (default `.local/` in the project, ignored by git).
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RuntimeSettings } from '../../lib/config.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { quoteIdentifier, withSession } from '../../lib/pg/session.ts';
import { localPassThrough } from '../../lib/settings.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { type PostgresServer, startPostgresServer } from './postgres-server.ts';
import { type LocalS3Server, startLocalS3Server } from './s3-server.ts';
import { seedSampleDatabase } from './sample-database.ts';
import { onShutdown } from './shutdown.ts';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultStateDir = join(projectRoot, '.local');
export const localBucket = 'local-backups';
const productionDatabase = 'shop';
const stagingDatabase = 'staging';
/** Where local runs verify unless VERIFY_VENUE says otherwise (the product's default is the worker). */
export const localVerifyVenue: RuntimeSettings['VERIFY_VENUE'] = 'lambda';

/** What the sample shop's owner would check; named for the shop, so a drill of any other database skips them. */
export const sampleSanityChecks = [
  { name: 'orders restored', database: productionDatabase, sql: 'SELECT count(*) FROM orders', atLeast: 1 },
  {
    name: 'every order line has its order',
    database: productionDatabase,
    sql: 'SELECT count(*) FROM order_lines l WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = l.order_id)',
    equals: 0,
  },
];

export interface LocalEnvironmentOptions {
  stateDir?: string;
  /** The caller's environment: DATABASE_URL, STAGING_DATABASE_URL, BACKUP_BUCKET, AWS_ENDPOINT_URL_S3. */
  env?: NodeJS.ProcessEnv;
  /** Size of the seeded sample database (1 = about 70 MB). */
  sampleScale?: number;
  /** Start only what these commands need; a staging server only when asked for. */
  need?: { production?: boolean; staging?: boolean };
  /** Where to verify when VERIFY_VENUE does not say: in-process unless asked (localVerifyVenue). */
  verifyVenue?: RuntimeSettings['VERIFY_VENUE'];
  onProgress?: (message: string) => void;
}

export interface LocalEnvironment {
  stateDir: string;
  /** Environment for the handlers (the runtime settings of lib/config.ts). */
  settings: Record<string, string>;
  production: PostgresServer | undefined;
  staging: PostgresServer | undefined;
  s3: LocalS3Server | undefined;
  stop(): Promise<void>;
}

async function ensureDatabase(server: PostgresServer, name: string): Promise<boolean> {
  return withSession(parseConnectionUrl(server.url('postgres'), 'local server'), async (session) => {
    const { rowCount } = await session.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await session.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
    return true;
  });
}

export async function startLocalEnvironment(
  options: LocalEnvironmentOptions = {},
): Promise<LocalEnvironment> {
  const env = options.env ?? process.env;
  const stateDir = resolve(options.stateDir ?? env.BACKUP_LOCAL_STATE_DIR ?? defaultStateDir);
  const need = {
    production: true,
    staging: env.VERIFY_TARGET === 'staging' && !env.STAGING_DATABASE_URL,
    ...options.need,
  };
  const progress = options.onProgress ?? (() => undefined);
  await mkdir(stateDir, { recursive: true });
  const started: { stop(): Promise<void> }[] = [];
  const stopServices = async () => {
    for (const service of started.reverse()) await service.stop().catch(() => undefined);
  };
  // Ctrl-C or `kill` during a run stops these servers too, instead of leaving them running.
  const forget = onShutdown(stopServices);
  const stopAll = async () => {
    forget();
    await stopServices();
  };

  try {
    let production: PostgresServer | undefined;
    let productionUrl = env.DATABASE_URL;
    if (!productionUrl && need.production) {
      production = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'production') });
      started.push(production);
      if (await ensureDatabase(production, productionDatabase)) {
        progress(`seeding the sample database "${productionDatabase}" (first run only)`);
        await withSession(
          parseConnectionUrl(production.url(productionDatabase), 'local production'),
          (session) =>
            seedSampleDatabase(session, options.sampleScale ?? Number(env.BACKUP_SAMPLE_SCALE ?? 1)),
        );
      }
      productionUrl = production.url(productionDatabase);
    }

    let staging: PostgresServer | undefined;
    let stagingUrl = env.STAGING_DATABASE_URL;
    if (!stagingUrl && need.staging) {
      staging = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'staging') });
      started.push(staging);
      if (await ensureDatabase(staging, stagingDatabase)) {
        await withSession(parseConnectionUrl(staging.url('postgres'), 'local staging'), (session) =>
          session.query(optInStatement(stagingDatabase)),
        );
      }
      stagingUrl = staging.url(stagingDatabase);
    }

    let s3: LocalS3Server | undefined;
    let endpoint = env.AWS_ENDPOINT_URL_S3;
    const bucket = env.BACKUP_BUCKET ?? localBucket;
    if (!endpoint) {
      s3 = await startLocalS3Server({ directory: join(stateDir, 's3'), buckets: [bucket] });
      started.push(s3);
      endpoint = s3.endpoint;
    }

    const settings: Record<string, string> = {
      BACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: env.AWS_REGION ?? 'us-east-1',
      WORK_DIR: join(stateDir, 'tmp'),
    };
    await mkdir(settings.WORK_DIR as string, { recursive: true });
    // Where `backupctl restore` leaves a target's URL for a restore on the local worker (mode 0600),
    // as it creates a Secrets Manager secret on a stage: the URL never enters the execution input.
    settings.LOCAL_SECRETS_DIR = join(stateDir, 'secrets');
    if (productionUrl) settings.PRODUCTION_DATABASE_URL = productionUrl;
    // The seeded sample shop is checked for what its owner would check; the checks name it, so a drill
    // of whatever else the bucket holds runs the built-in check instead. A real database keeps the
    // built-in check unless DRILL_SANITY_CHECKS says more.
    if (!env.DATABASE_URL) settings.DRILL_SANITY_CHECKS = JSON.stringify(sampleSanityChecks);
    if (stagingUrl) settings.STAGING_DATABASE_URL = stagingUrl;
    // Locally the Lambda venue is this process: the fast path most tests and runs take. The default
    // (the worker, as on a stage) is one setting away, and the demo and the worker tests take it.
    settings.VERIFY_VENUE = options.verifyVenue ?? localVerifyVenue;
    for (const name of localPassThrough()) {
      const value = env[name];
      if (value) settings[name] = value;
    }
    return { stateDir, settings, production, staging, s3, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
