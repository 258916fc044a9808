/**
 * Real parts for pipeline tests: an embedded "production" PostgreSQL seeded with a small sample
 * database, a separate "staging" server that opted in as a restore target, and a local S3 API. Each
 * test gets its own bucket, so tests sharing the servers cannot see each other's backups.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { quoteIdentifier, withSession } from '../../lib/pg/session.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../tools/local/environment.ts';
import {
  type ExecutionRecord,
  runStateMachine,
  type TaskWrapper,
} from '../../tools/local/state-machine-runner.ts';

export type Wrapper = TaskWrapper;

export const alertTopicArn = 'arn:aws:sns:us-east-1:000000000000:backup-alerts';

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
  stagingSql<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
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
          ...overrides,
        },
        store: new BackupStore({ client, bucket }),
      };
    },
    run: (settings, options = {}) => {
      return runStateMachine({
        machine: 'backup',
        input: options.input ?? { trigger: 'manual', reason: 'test' },
        ...(options.wrap ? { wrap: options.wrap } : {}),
        settings,
        stateDir,
        retryIntervalMs: options.retryIntervalMs ?? 10,
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
    stagingSql: sql(environment.settings.STAGING_DATABASE_URL),
    async stop() {
      await environment.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
