/**
 * Real parts for pipeline tests: an embedded "production" PostgreSQL seeded with a small sample
 * database and a local S3 API; verification starts its own scratch servers, as the product does. A
 * standing "staging" server that opted in as a restore target is started only for the tests of staging
 * mode (`stagingSettings()`). Each test gets its own bucket, so tests sharing the servers cannot see
 * each other's backups.
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { quoteIdentifier, withSession } from '../../lib/pg/session.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../tools/local/environment.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import {
  type ExecutionRecord,
  runStateMachine,
  type TaskWrapper,
} from '../../tools/local/state-machine-runner.ts';
import { iamWorkerExecArgv } from './iam/jest-setup.ts';

export type Wrapper = TaskWrapper;

export const alertTopicArn = 'arn:aws:sns:us-east-1:000000000000:backup-alerts';
export const summaryTopicArn = 'arn:aws:sns:us-east-1:000000000000:backup-summaries';

export interface PipelineFixture {
  environment: LocalEnvironment;
  stateDir: string;
  /** A fresh, empty bucket and the settings that point the handlers at it. */
  freshBucket(
    overrides?: Record<string, string>,
  ): Promise<{ settings: Record<string, string>; store: BackupStore }>;
  /** Runs the real backup state machine; `wrap` lets a test inject a fault around one step. */
  run(
    settings: Record<string, string>,
    options?: {
      input?: unknown;
      wrap?: Partial<Record<string, Wrapper>>;
      retryIntervalMs?: number;
      /** The child process of each worker build (tests kill it). */
      onWorkerStarted?: (state: string, child: ChildProcess) => void;
      machine?: 'backup' | 'drill' | 'nightly' | 'drills';
    },
  ): Promise<ExecutionRecord>;
  productionSql<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs statements, in order, on another database of the production server. */
  sqlOn(database: string, ...statements: string[]): Promise<void>;
  /**
   * A database with one `events` table of md5 hex payloads (`md5Columns` per row): it barely
   * compresses, so its dump streams for a while and spans several 8 MiB parts.
   */
  createIncompressibleDatabase(name: string, rows: number, md5Columns?: number): Promise<void>;
  /** Settings that verify on the standing staging server (started on first use) instead of scratch. */
  stagingSettings(): Promise<Record<string, string>>;
  /** Whether a test started the staging server. */
  stagingStarted(): boolean;
  /** SQL on the staging database (the staging server is started on first use). */
  stagingSql<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * What scratch servers left behind under this fixture's work directory: their directories, and any
   * postgres process whose command line names one of them. Empty after every run, success or failure.
   */
  scratchLeftovers(): Promise<string[]>;
  stop(): Promise<void>;
}

let bucketCounter = 0;

export async function startPipelineFixture(options: { sampleScale?: number } = {}): Promise<PipelineFixture> {
  const stateDir = await mkdtemp(join(tmpdir(), 'pipeline-'));
  // The servers run as the postgres user when tests run as root; mkdtemp makes the folder 0700.
  await chmod(stateDir, 0o755);
  const environment = await startLocalEnvironment({
    stateDir,
    env: {},
    sampleScale: options.sampleScale ?? 0.02,
  });
  const client = createS3Client({ endpoint: environment.settings.AWS_ENDPOINT_URL_S3 });
  const sql =
    (url: string | undefined) =>
    async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
      withSession(parseConnectionUrl(url ?? '', 'test database'), async (session) => {
        const result = await session.query(text, params);
        return result.rows as T[];
      });
  const productionSql = sql(environment.settings.PRODUCTION_DATABASE_URL);
  let staging: Promise<PostgresServer> | undefined;
  const stagingSettings = async () => {
    staging ??= (async () => {
      const server = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'staging') });
      await withSession(parseConnectionUrl(server.url(), 'test staging'), async (session) => {
        await session.query('CREATE DATABASE staging');
        await session.query(optInStatement('staging'));
      });
      return server;
    })();
    return { VERIFY_TARGET: 'staging', STAGING_DATABASE_URL: (await staging).url('staging') };
  };
  const sqlOn = async (database: string, ...statements: string[]) => {
    const production = environment.production;
    if (!production) throw new Error('the fixture started no production server');
    await withSession(parseConnectionUrl(production.url(database), 'test database'), async (session) => {
      for (const statement of statements) await session.query(statement);
    });
  };
  return {
    environment,
    stateDir,
    async freshBucket(overrides = {}) {
      const bucket = `test-${process.pid}-${++bucketCounter}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return {
        settings: {
          ...environment.settings,
          BACKUP_BUCKET: bucket,
          ALERT_TOPIC_ARN: alertTopicArn,
          SUMMARY_TOPIC_ARN: summaryTopicArn,
          ...overrides,
        },
        store: new BackupStore({ client, bucket }),
      };
    },
    run: (settings, options = {}) => {
      return runStateMachine({
        machine: options.machine ?? 'backup',
        input: options.input ?? { trigger: 'manual', reason: 'test' },
        ...(options.wrap ? { wrap: options.wrap } : {}),
        ...(options.onWorkerStarted ? { onWorkerStarted: options.onWorkerStarted } : {}),
        settings,
        stateDir,
        retryIntervalMs: options.retryIntervalMs ?? 10,
        workerExecArgv: iamWorkerExecArgv(),
      });
    },
    productionSql,
    sqlOn,
    async createIncompressibleDatabase(name, rows, md5Columns = 2) {
      await productionSql(`CREATE DATABASE ${quoteIdentifier(name)}`);
      const payload = Array.from({ length: md5Columns }, (_, i) => `md5((i * ${i + 1} + ${i})::text)`).join(
        ' || ',
      );
      await sqlOn(
        name,
        `CREATE TABLE events AS SELECT i AS id, ${payload} AS payload FROM generate_series(1, ${Number(rows)}) AS i`,
      );
    },
    stagingSettings,
    stagingStarted: () => staging !== undefined,
    async stagingSql(text, params = []) {
      const { STAGING_DATABASE_URL: url } = await stagingSettings();
      return sql(url)(text, params);
    },
    scratchLeftovers: () => scratchLeftovers(environment.settings.WORK_DIR ?? ''),
    async stop() {
      await staging?.then((server) => server.stop()).catch(() => undefined);
      await environment.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Scratch directories under `workDir` and postgres processes that still name one. */
export async function scratchLeftovers(workDir: string): Promise<string[]> {
  const left: string[] = [];
  const entries = await readdir(workDir).catch(() => [] as string[]);
  for (const name of entries) if (name.startsWith('scratch-')) left.push(join(workDir, name));
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (command.includes(`${workDir}/scratch-`))
      left.push(`process ${pid}: ${command.replaceAll('\0', ' ').trim()}`);
  }
  return left;
}
