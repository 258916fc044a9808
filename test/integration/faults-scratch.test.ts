/**
 * Fault matrix, the scratch server: an extension the server lacks, too little disk, a server that cannot
 * be created, one that dies mid-restore, a disk that fills up mid-restore, the deadline mid-restore, a backup of a newer major than any
 * server available, and a machine without a time zone database. Each is a named error with an alert carrying the cause, nothing is marked
 * verified, and no scratch server or directory is left behind (expectFaultContained checks all of it).
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdtemp, readdir, readFile, realpath, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildPgServer } from '../../layers/pg-client/builder.ts';
import { listBackups, readManifest } from '../../lib/backup/catalog.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { availableServerBundles } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { keys } from '../../lib/storage/keys.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import {
  alerts,
  answerAlertsInEachTest,
  captureBaseline,
  expectFaultContained,
  seedVerifiedBackup,
  vaultOfRun,
} from '../support/pipeline-assertions.ts';
import { type PipelineFixture, scratchLeftovers, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { processAlive, signalIfAlive, signalPending, waitFor } from '../support/wait-for.ts';

const execFileAsync = promisify(execFile);

answerAlertsInEachTest();

const bigDatabase = 'bigshop_scratch_faults';

let fixture: PipelineFixture;
let vectorProduction: PostgresServer;
let work: string;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  await fixture.createIncompressibleDatabase(bigDatabase, 600_000, 3);
  // A production server whose database uses pgvector, from the Debian build that carries it.
  await buildPgServer({ major: 18, extensions: ['pgvector'] });
  vectorProduction = await startPostgresServer({
    dataDir: join(fixture.stateDir, 'pg', 'production-vector'),
    extensions: ['pgvector'],
  });
  work = await mkdtemp(join(tmpdir(), 'scratch-faults-'));
}, 240_000);
afterAll(async () => {
  await vectorProduction?.stop();
  await fixture?.stop();
  await rm(work, { recursive: true, force: true });
});

async function faultyBucket(overrides: Record<string, string> = {}) {
  const bucket = await fixture.freshBucket(overrides);
  await seedVerifiedBackup(fixture, bucket.store);
  return { ...bucket, baseline: await captureBaseline(fixture, bucket.store) };
}

async function vectorDatabase(): Promise<string> {
  await withSession(parseConnectionUrl(vectorProduction.url(), 'vector production'), async (session) => {
    await session.query('DROP DATABASE IF EXISTS embeddings');
    await session.query('CREATE DATABASE embeddings');
  });
  await withSession(
    parseConnectionUrl(vectorProduction.url('embeddings'), 'vector production'),
    async (s) => {
      await s.query('CREATE EXTENSION vector');
      await s.query('CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))');
      await s.query(
        'INSERT INTO items SELECT i, ARRAY[i, i * 2, i * 3]::vector FROM generate_series(1, 500) AS i',
      );
    },
  );
  return vectorProduction.url('embeddings');
}

/**
 * Waits until pg_restore runs against a scratch server under `workDir`, then returns that server's
 * postmaster and the pg_restore processes restoring into it (other tests run restores at the same time).
 */
async function postmasterDuringRestore(workDir: string): Promise<{ postmaster: number; restores: number[] }> {
  return waitFor('a restore into a scratch server', async () => {
    const scratch = (await readdir(workDir).catch(() => [] as string[])).find((n) =>
      n.startsWith('scratch-'),
    );
    if (!scratch) return undefined;
    const pid = await readFile(join(workDir, scratch, 'data', 'postmaster.pid'), 'utf8').catch(() => '');
    const postmaster = Number(pid.split('\n')[0]);
    const socket = postmaster > 0 ? await socketDirOf(postmaster) : undefined;
    const restores = socket ? await pgRestorePids(socket) : [];
    return restores.length > 0 ? { postmaster, restores } : undefined;
  });
}

/** The unix socket directory a scratch postmaster listens in (its command line names it). */
async function socketDirOf(postmaster: number): Promise<string | undefined> {
  const command = await readFile(`/proc/${postmaster}/cmdline`, 'utf8').catch(() => '');
  return /unix_socket_directories=([^\0]+)/.exec(command)?.[1];
}

/** pg_restore processes restoring into the scratch server on `socket` (PGHOST in their environment). */
async function pgRestorePids(socket: string): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!command.includes('pg_restore')) continue;
    const environment = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (environment.split('\0').includes(`PGHOST=${socket}`)) pids.push(Number(pid));
  }
  return pids;
}

describe('scratch server faults', () => {
  it('names a missing extension and the config line that adds it, before anything is restored', async () => {
    const url = await vectorDatabase();
    const { settings, store, baseline } = await faultyBucket({ PRODUCTION_DATABASE_URL: url });

    const execution = await fixture.run(settings);

    await expectFaultContained(fixture, execution, baseline, {
      area: 'scratch server',
      fault: 'production uses pgvector, the scratch server lacks it',
      error: 'ExtensionMissingError',
      step: 'Verify',
      cause:
        /extension vector [\d.]+, which the scratch server \(PostgreSQL 18\.\d+\) does not offer.*verification: \{ extensions: \[pgvector\] \}.*SCRATCH_EXTENSIONS=pgvector/,
      retries: 0,
      staging: 'untouched',
    });
    // The vector database's backups have a vault of their own (the seeded one is the sample's).
    const vault = vaultOfRun(execution, store);
    const newest = (await listBackups(vault))[0]?.backupId ?? '';
    const manifest = await readManifest(vault, newest);
    expect(manifest.extensions?.map((e) => e.name)).toEqual(expect.arrayContaining(['plpgsql', 'vector']));

    // With the extension configured the same database verifies.
    const configured = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: url,
      SCRATCH_EXTENSIONS: 'pgvector',
    });
    const verified = await fixture.run(configured.settings);
    expect(verified.error).toBeUndefined();
    expect(verified.status).toBe('SUCCEEDED');
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });

  it('refuses a database too large for the free disk before initdb', async () => {
    const { settings, store, baseline } = await faultyBucket();

    const execution = await fixture.run(settings, {
      wrap: {
        // The manifest says the source database is a petabyte: no work directory has room for it.
        Verify: async (next, event) => {
          const { backupId } = event as { backupId: string };
          const manifest = await readManifest(store, backupId);
          manifest.source.databaseSizeBytes = 1024 ** 5;
          await store.putJson(keys.manifest(backupId), manifest);
          return next();
        },
      },
    });

    await expectFaultContained(fixture, execution, baseline, {
      area: 'scratch server',
      fault: 'too little free disk for the restored database',
      error: 'InsufficientSpaceError',
      step: 'Verify',
      cause: /free; verifying this backup needs 1280\.0 TiB/,
      retries: 0,
      staging: 'untouched',
    });
  });

  it('fails named with the server log when the scratch server cannot be created', async () => {
    const newest = (await availableServerBundles()).at(-1);
    const broken = join(work, 'broken-server');
    await cp(await realpath(newest?.dir ?? ''), broken, { recursive: true });
    await rm(join(broken, 'usr/share/postgresql', String(newest?.major), 'postgres.bki'));
    const { settings, baseline } = await faultyBucket({ PG_SERVER_DIR: broken });

    const execution = await fixture.run(settings);

    await expectFaultContained(fixture, execution, baseline, {
      area: 'scratch server',
      fault: 'initdb fails (a file of the server bundle is missing)',
      error: 'ScratchServerError',
      step: 'Verify',
      cause: /initdb failed for the scratch server: .*postgres\.bki/,
      retries: 0,
      staging: 'untouched',
    });
  });

  // Mid-restore by construction: pg_restore, once seen restoring into the server (the big table's
  // restore lasts seconds), is held (SIGSTOP) while the postmaster is killed, so it cannot finish first.
  it('fails named when the scratch server dies mid-restore, with its log', async () => {
    const { settings, baseline } = await faultyBucket({
      PRODUCTION_DATABASE_URL: fixture.environment.production?.url(bigDatabase) ?? '',
      DUMP_COMPRESSION: 'none',
    });
    const workDir = settings.WORK_DIR ?? '';
    let killedMidRestore = false;

    const execution = await fixture.run(settings, {
      wrap: {
        Verify: async (next) => {
          const killer = postmasterDuringRestore(workDir).then(async ({ postmaster, restores }) => {
            const held = restores.filter((pid) => signalIfAlive(pid, 'SIGSTOP'));
            try {
              killedMidRestore =
                held.length > 0 && (await Promise.all(held.map(processAlive))).every(Boolean);
              process.kill(postmaster, 'SIGKILL');
            } finally {
              for (const pid of held) signalIfAlive(pid, 'SIGCONT');
            }
          });
          try {
            return await next();
          } finally {
            await killer.catch(() => undefined);
          }
        },
      },
    });

    expect(killedMidRestore).toBe(true);
    await expectFaultContained(fixture, execution, baseline, {
      area: 'scratch server',
      fault: 'the scratch server is killed during pg_restore',
      error: 'ScratchServerError',
      step: 'Verify',
      cause: /the scratch server \(PostgreSQL 18\.\d+\) died during the verification/,
      retries: 0,
      staging: 'untouched',
    });
  });

  // A file system of its own for the scratch server: ext4 in a sparse 2 GiB loop file, enough for
  // the space check (dump + 1.25 × database + 1.25 GiB). Once pg_restore runs it is held (SIGSTOP)
  // while a file takes all but 8 MiB of the disk (what a wrong estimate or another tenant leaves),
  // then let go: the events table's COPY (about 80 MB) meets a full disk, as PostgreSQL reports it.
  it('names a disk that fills up during the restore, with the sizes, after the space check passed', async () => {
    const base = await mkdtemp(join(tmpdir(), 'scratch-disk-'));
    await chmod(base, 0o755);
    const image = join(base, 'disk.img');
    const workDir = join(base, 'disk');
    await execFileAsync('truncate', ['-s', '2G', image]);
    await execFileAsync('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    await execFileAsync('mkdir', [workDir]);
    await execFileAsync('mount', ['-o', 'loop', image, workDir]);
    try {
      await chmod(workDir, 0o755);
      const { settings, baseline } = await faultyBucket({
        PRODUCTION_DATABASE_URL: fixture.environment.production?.url(bigDatabase) ?? '',
        DUMP_COMPRESSION: 'none',
        WORK_DIR: workDir,
      });
      let filledMidRestore = false;

      const execution = await fixture.run(settings, {
        wrap: {
          Verify: async (next) => {
            const filler = postmasterDuringRestore(workDir).then(async ({ restores }) => {
              const held = restores.filter((pid) => signalIfAlive(pid, 'SIGSTOP'));
              try {
                const free = await statfs(workDir);
                const bytes = Number(free.bavail) * Number(free.bsize) - 8 * 1024 ** 2;
                await execFileAsync('fallocate', ['-l', String(bytes), join(workDir, 'filler')]);
                filledMidRestore = held.length > 0;
              } finally {
                for (const pid of held) signalIfAlive(pid, 'SIGCONT');
              }
            });
            try {
              return await next();
            } finally {
              await filler.catch(() => undefined);
            }
          },
        },
      });

      expect(filledMidRestore).toBe(true);
      const cause = await expectFaultContained(fixture, execution, baseline, {
        area: 'scratch server',
        fault:
          'the disk fills up during pg_restore (ext4 loop file system, all but 8 MiB taken once pg_restore runs)',
        error: 'ScratchDiskFullError',
        step: 'Verify',
        cause:
          /the disk of .*\/disk\/scratch-\w+ filled up during the restore of \S+(, at table events)? \(\d+\.\d GiB free at the start, [\d.]+ \w+ free now, the database [\d.]+ MiB in the manifest, the dump [\d.]+ MiB, the space check asked for [\d.]+ GiB\): .*(could not extend file|No space left on device).*worker\.computeType/,
        retries: 0,
        staging: 'untouched',
      });
      expect(cause).not.toMatch(/RestoreFailedError/);
      expect(await scratchLeftovers(workDir)).toEqual([]);
    } finally {
      await execFileAsync('umount', [workDir]);
      await rm(base, { recursive: true, force: true });
    }
  });

  it('stops at the deadline mid-restore: StepTimeoutError, the server and its files gone', async () => {
    const { settings, baseline } = await faultyBucket({
      PRODUCTION_DATABASE_URL: fixture.environment.production?.url(bigDatabase) ?? '',
      DUMP_COMPRESSION: 'none',
      STEP_TIMEOUT_RESERVE_MS: '500',
    });
    const workDir = settings.WORK_DIR ?? '';
    let pausedRestore = false;

    const execution = await fixture.run(settings, {
      wrap: {
        // The deadline is 20 s away: far enough for the server's start and the download even when
        // the other test worker loads both cores (6 s was not, in CI). pg_restore is held (SIGSTOP)
        // from the moment it runs until the deadline's SIGTERM has reached it (pending, as the process
        // is stopped), so the deadline falls mid-restore whatever the machine's speed.
        Verify: async (next) => {
          const started = Date.now();
          const holder = postmasterDuringRestore(workDir).then(async ({ restores: pids }) => {
            for (const pid of pids) process.kill(pid, 'SIGSTOP');
            pausedRestore = pids.length > 0;
            await waitFor("the deadline's SIGTERM at pg_restore", async () => {
              for (const pid of pids) {
                if (!(await processAlive(pid)) || (await signalPending(pid, 'SIGTERM'))) return true;
              }
              return false;
            });
            for (const pid of pids) signalIfAlive(pid, 'SIGCONT');
          });
          try {
            return await next({ getRemainingTimeInMillis: () => started + 20_000 - Date.now() });
          } finally {
            await holder.catch(() => undefined);
          }
        },
      },
    });

    expect(pausedRestore).toBe(true);
    await expectFaultContained(fixture, execution, baseline, {
      area: 'time',
      fault: 'deadline during the restore onto the scratch server',
      error: 'StepTimeoutError',
      step: 'Verify',
      cause: /before the Lambda timeout/,
      retries: 0,
      staging: 'untouched',
    });
  });

  it('names a backup of a newer major than any scratch server available', async () => {
    const older = (await availableServerBundles()).find((bundle) => bundle.major === 17);
    const { settings, baseline } = await faultyBucket({ PG_SERVER_DIR: older?.dir ?? '' });

    const execution = await fixture.run(settings);

    await expectFaultContained(fixture, execution, baseline, {
      area: 'scratch server',
      fault: 'production 18, only a PostgreSQL 17 scratch server available',
      error: 'ScratchServerVersionError',
      step: 'Verify',
      cause: /PostgreSQL 18\.\d+; no scratch server of that major or newer is available \(have: 17\.\d+\)/,
      retries: 0,
      staging: 'untouched',
    });
    expect(alerts().length).toBeGreaterThan(0);
  });

  it('names a machine without a time zone database instead of blaming the backup', async () => {
    // A CHECK constraint that names a zone: every restored row asks the server for Europe/Berlin.
    const database = 'tzshop';
    await fixture.productionSql(`CREATE DATABASE ${database}`);
    await fixture.sqlOn(
      database,
      `CREATE TABLE shifts (id int PRIMARY KEY, starts timestamptz NOT NULL,
         CHECK ((starts AT TIME ZONE 'Europe/Berlin') > '2000-01-01'))`,
      `INSERT INTO shifts SELECT i, '2026-01-01'::timestamptz + i * interval '1 hour' FROM generate_series(1, 100) AS i`,
    );
    const production = fixture.environment.production;
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: production?.url(database) ?? '',
    });
    // With the host's time zone database the backup verifies: the backup is sound.
    const verified = await fixture.run(settings);
    expect(verified.status).toBe('SUCCEEDED');
    const backupId = (await listBackups(store))[0]?.backupId ?? '';

    // The same backup on a machine without /usr/share/zoneinfo (a mount namespace hides it).
    const emptyZoneinfo = await mkdtemp(join(tmpdir(), 'no-zoneinfo-'));
    const script = join(import.meta.dirname, '..', 'support', 'verify-once.ts');
    await chmod(emptyZoneinfo, 0o755);
    const { stdout } = await execFileAsync(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        `mount --bind ${emptyZoneinfo} /usr/share/zoneinfo && exec "$0" "$1"`,
        process.execPath,
        script,
      ],
      {
        env: {
          ...process.env,
          BACKUP_BUCKET: settings.BACKUP_BUCKET,
          AWS_ENDPOINT_URL_S3: settings.AWS_ENDPOINT_URL_S3,
          WORK_DIR: settings.WORK_DIR,
          BACKUP_ID: backupId,
          NODE_OPTIONS: '',
        },
      },
    );
    await rm(emptyZoneinfo, { recursive: true, force: true });
    expect(JSON.parse(stdout)).toEqual({
      error: 'ScratchServerError',
      message: expect.stringMatching(
        /cannot resolve time zone "Europe\/Berlin": this machine has no time zone database \(\/usr\/share\/zoneinfo.*The backup is not at fault/,
      ),
    });
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });
});
