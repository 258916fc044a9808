/**
 * The backup state machine when something breaks in the middle: the dump connection dies, the object
 * store goes away between two parts, pg_restore cannot replay the archive, production runs an older
 * PostgreSQL than the client. Real servers, real S3 API, real ASL; only SNS is mocked (at the client).
 *
 * Mid-dump faults need a dump that lasts: `bigshop` holds one table of about 110 MB of md5 text
 * (pg_dump takes about 1 s with zstd and about 3 s with gzip on 2 cores). Each fault waits for the
 * work it cuts to be observably under way (a COPY in pg_stat_activity, a part held at the fault proxy),
 * never for a while (test/unit/test-timers.test.ts).
 */

import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups } from '../../lib/backup/catalog.ts';
import type { DumpResult } from '../../lib/backup/dump.ts';
import { parseVerification } from '../../lib/backup/manifest.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { keys } from '../../lib/storage/keys.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import {
  alerts,
  answerAlertsInEachTest,
  expectFailureAlert,
  expectNothingVerifiedOrLeftOver,
} from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { waitFor } from '../support/wait-for.ts';

answerAlertsInEachTest();

const bigDatabase = 'bigshop';
const bigTableRows = 800_000;
const unrestorableDatabase = 'unrestorable';

let fixture: PipelineFixture;
let production: PostgresServer;
/** The S3 server brought back after the outage test; the fixture only knows the one it started. */
let restartedS3: LocalS3Server | undefined;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  if (!fixture.environment.production) throw new Error('the fixture started no production server');
  production = fixture.environment.production;
  await fixture.createIncompressibleDatabase(bigDatabase, bigTableRows, 3);
}, 120_000);
afterAll(async () => {
  await restartedS3?.stop();
  await fixture?.stop();
});

describe('backup state machine under faults', () => {
  it('retries a dump whose connection is terminated mid-COPY, then alerts and leaves nothing behind', async () => {
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: production.url(bigDatabase),
    });
    // Every COPY of the dump is terminated as soon as it is seen in pg_stat_activity: the table's 110 MB
    // keep each attempt's COPY there for a second or more, and a COPY that got away would make its
    // attempt succeed and this test fail (three terminated dumps are asserted), never pass by chance.
    // A terminated backend stays in pg_stat_activity until it has exited, so it may be hit twice.
    const terminatedDumps = new Set<number>();
    const runEnded = new AbortController();
    const terminating = (async () => {
      while (!runEnded.signal.aborted) {
        const killed = await waitFor(
          'a COPY of the dump to terminate',
          async () => {
            const rows = await fixture
              .productionSql<{ pid: number; killed: boolean }>(
                `SELECT pid, pg_terminate_backend(pid) AS killed FROM pg_stat_activity
                  WHERE datname = $1 AND query ILIKE 'COPY%' AND pid <> pg_backend_pid()`,
                [bigDatabase],
              )
              .catch(() => []);
            const pids = rows.filter((row) => row.killed).map((row) => row.pid);
            return pids.length > 0 ? pids : undefined;
          },
          { signal: runEnded.signal },
        ).catch(() => [] as number[]);
        for (const pid of killed) terminatedDumps.add(pid);
      }
    })();

    let execution: Awaited<ReturnType<typeof fixture.run>>;
    try {
      execution = await fixture.run(settings);
    } finally {
      runEnded.abort('the run ended');
      await terminating;
    }

    const message = expectFailureAlert(execution, 'DumpFailedError', 'Dump');
    expect(execution.states.filter((s) => s.name === 'Dump' && s.status === 'retried')).toHaveLength(2);
    expect(terminatedDumps.size).toBe(3);
    expect(message).toContain('pg_dump exited with 1');
    expect(message).toMatch(/Dumping the contents of table \\?"events\\?" failed/);
    // libpq reports the server's FATAL message when it reads it before noticing the closed socket.
    expect(message).toMatch(
      /terminating connection due to administrator command|server closed the connection/,
    );
    await expectNothingVerifiedOrLeftOver(store);
    expect(await store.list('incoming/')).toEqual([]);
  });

  it('survives the S3 server going away mid-upload: the retry aborts the orphaned upload and the backup is verified', async () => {
    const s3 = fixture.environment.s3;
    if (!s3) throw new Error('the fixture started no S3 server');
    // The dump's traffic goes through the fault proxy, which holds its second part: the upload is
    // then observably under way (its first part stored), and the server goes away before that part
    // goes on, however fast pg_dump and the machine are.
    const proxy = await startFaultProxy(s3.endpoint);
    const bucket = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: production.url(bigDatabase),
      AWS_ENDPOINT_URL_S3: proxy.endpoint,
    });
    const { settings, store } = bucket;
    proxy.inject({ operation: 'UploadPart', nth: 2, times: 1, action: { kind: 'hold' } });
    const s3Directory = join(fixture.stateDir, 's3');
    // s3rver keeps an upload's parts in <bucket>/._S3rver_uploads/<uploadId>/<n>, <n>.md5 once stored.
    const uploadsDir = join(s3Directory, settings.BACKUP_BUCKET ?? '', '._S3rver_uploads');
    const firstPartStored = async () => {
      for (const id of await readdir(uploadsDir).catch(() => [] as string[])) {
        const stored = await access(join(uploadsDir, id, '1.md5')).then(
          () => true,
          () => false,
        );
        if (stored) return true;
      }
      return false;
    };
    let firstAttemptFailed: () => void = () => undefined;
    const firstAttemptDone = new Promise<void>((resolveDone) => {
      firstAttemptFailed = resolveDone;
    });
    const runEnded = new AbortController();
    const outage = (async () => {
      await proxy.whenHeld(runEnded.signal);
      await waitFor('the first part of the upload stored', firstPartStored, { signal: runEnded.signal });
      await s3.stop();
      proxy.release();
      // Back only once the attempt has failed, so its own abort could not reach the store either.
      await firstAttemptDone;
      restartedS3 = await startLocalS3Server({ directory: s3Directory, port: s3.port });
    })();
    outage.catch(() => undefined);

    let execution: Awaited<ReturnType<typeof fixture.run>>;
    let firstError: unknown;
    try {
      execution = await fixture.run(settings, {
        wrap: {
          Dump: async (next) => {
            // The retry starts once the store is back, whatever the backoff on this machine.
            if (firstError) await outage;
            try {
              return await next();
            } catch (error) {
              if (!firstError) {
                firstError = error;
                firstAttemptFailed();
              }
              throw error;
            }
          },
        },
      });
    } finally {
      runEnded.abort('the run ended');
      firstAttemptFailed();
      await outage.catch(() => undefined);
      await proxy.stop();
    }
    await outage;

    expect((firstError as Error).name).toBe('StorageUnavailableError');
    const dumps = execution.states.filter((s) => s.name === 'Dump');
    expect(dumps.map((s) => s.status)).toEqual(['failed', 'retried', 'succeeded']);
    expect(dumps[0]?.error?.name).toBe('StorageUnavailableError');
    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const dump = (dumps[2]?.output as { dump?: DumpResult } | undefined)?.dump;
    // The orphan of the failed attempt was still open and the retried dump aborted it.
    expect(dump?.abortedStaleUploads).toBe(1);
    expect(dump?.rows).toBe(bigTableRows);
    expect(await store.listIncompleteUploads('')).toEqual([]);
    expect(await store.list('incoming/')).toEqual([]);
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(true);
    expect(alerts().map((a) => a.subject)).toEqual([expect.stringContaining('Backup verified')]);
  }, 60_000);

  it('fails the restore on an error pg_restore cannot get past, even though every row arrived', async () => {
    // An expression index over a function that reads a table by its unqualified name. Created while the
    // table was empty (as migrations do), production maintains it row by row with the session's
    // search_path; a restore builds it over the loaded rows with a restricted search_path (pg_dump's
    // empty one, and PostgreSQL 17+'s safe one for CREATE INDEX), where the table cannot be found.
    await fixture.productionSql(`DROP DATABASE IF EXISTS ${unrestorableDatabase}`);
    await fixture.productionSql(`CREATE DATABASE ${unrestorableDatabase}`);
    try {
      await fixture.sqlOn(
        unrestorableDatabase,
        'CREATE TABLE categories (code text PRIMARY KEY, label text NOT NULL)',
        `CREATE FUNCTION category_label(wanted text) RETURNS text LANGUAGE plpgsql IMMUTABLE
           AS $$ BEGIN RETURN (SELECT label FROM categories WHERE code = wanted); END $$`,
        'CREATE TABLE products (id int PRIMARY KEY, category text NOT NULL)',
        'CREATE INDEX products_by_label ON products (category_label(category))',
        "INSERT INTO categories VALUES ('tea', 'Tea'), ('cof', 'Coffee')",
        "INSERT INTO products SELECT i, CASE WHEN i % 2 = 0 THEN 'tea' ELSE 'cof' END FROM generate_series(1, 500) AS i",
      );
      // On staging, where what arrived can be looked at afterwards.
      const { settings, store } = await fixture.freshBucket({
        ...(await fixture.stagingSettings()),
        PRODUCTION_DATABASE_URL: production.url(unrestorableDatabase),
      });

      const execution = await fixture.run(settings);

      const message = expectFailureAlert(execution, 'RestoreFailedError', 'Verify');
      expect(message).toMatch(
        /pg_restore failed \(exit 1\) with 1 error\(s\): .*relation "categories" does not exist/,
      );
      expect(execution.states.some((s) => s.name === 'Verify' && s.status === 'retried')).toBe(false);
      const [products] = await fixture.stagingSql<{ n: number }>(
        'SELECT count(*)::int AS n FROM public.products',
      );
      expect(products?.n).toBe(500);
      const [backup] = await listBackups(store);
      expect(backup?.verified).toBe(false);
      expect(await store.exists(keys.verification(backup?.backupId ?? ''))).toBe(false);

      // On a scratch server the same verdict, and the server with everything it restored is gone.
      const scratch = await fixture.freshBucket({
        PRODUCTION_DATABASE_URL: production.url(unrestorableDatabase),
      });
      const onScratch = await fixture.run(scratch.settings);
      expect(onScratch.error?.name).toBe('RestoreFailedError');
      expect(onScratch.error?.cause).toMatch(/relation \\"categories\\" does not exist/);
      expect(await fixture.scratchLeftovers()).toEqual([]);
    } finally {
      await fixture.productionSql(`DROP DATABASE IF EXISTS ${unrestorableDatabase}`);
    }
  });

  it('verifies a PostgreSQL 15 backup on a scratch server of 15 and records the benign transaction_timeout error', async () => {
    const oldProduction = await startPostgresServer({
      major: 15,
      dataDir: join(fixture.stateDir, 'pg', 'production-15'),
    });
    try {
      await withSession(parseConnectionUrl(oldProduction.url(), 'production 15'), async (session) => {
        await session.query('CREATE DATABASE shop_old');
      });
      await withSession(
        parseConnectionUrl(oldProduction.url('shop_old'), 'production 15'),
        async (session) => {
          await session.query('CREATE TABLE orders (id int PRIMARY KEY, total numeric)');
          await session.query('INSERT INTO orders SELECT i, i * 1.5 FROM generate_series(1, 1000) AS i');
        },
      );
      const { settings, store } = await fixture.freshBucket({
        PRODUCTION_DATABASE_URL: oldProduction.url('shop_old'),
      });

      const execution = await fixture.run(settings);

      expect(execution.error).toBeUndefined();
      expect(execution.status).toBe('SUCCEEDED');
      const [backup] = await listBackups(store);
      expect(backup?.verified).toBe(true);
      const verification = parseVerification(
        await store.getText(keys.verification(backup?.backupId ?? '')),
        'verification record',
      );
      expect(verification.verificationVersion === 2 && verification.restoreTarget.serverVersion).toMatch(
        /^15\./,
      );
      expect(verification.benignRestoreMessages).toEqual([
        expect.stringContaining('unrecognized configuration parameter "transaction_timeout"'),
      ]);
      expect(await fixture.scratchLeftovers()).toEqual([]);
    } finally {
      await oldProduction.stop();
    }
  }, 60_000);
});
