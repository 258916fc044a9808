/**
 * Runs one benchmark scenario in its own Node process, so its peak RSS (VmHWM) and the CPU of the
 * programs it starts (cutime/cstime of waited-for children) belong to that scenario alone.
 *
 *   BENCH_TASK='<WorkerTask as JSON>' node bench/worker.ts   -> one line of JSON (WorkerResult) on stdout
 *
 * The task travels in the environment, not argv, because it carries connection strings.
 *
 * Wall time starts after modules are loaded and the clients are set up, as in a warm Lambda.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, createReadStream, createWriteStream, openSync, statfsSync } from 'node:fs';
import { rm, stat, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { readManifest } from '../lib/backup/catalog.ts';
import { dumpToStore } from '../lib/backup/dump.ts';
import { type ProofLevel, parseManifest } from '../lib/backup/manifest.ts';
import { restoreBackup } from '../lib/commands/restore.ts';
import { verifyBackup } from '../lib/commands/verify-backup.ts';
import { readRuntimeSettings } from '../lib/config.ts';
import type { PgBundle } from '../lib/pg/client.ts';
import { type PgConnection, parseConnectionUrl } from '../lib/pg/connection.ts';
import type { ContentAlgorithm } from '../lib/pg/content.ts';
import { describeExit, type PgExit, startPgProcess } from '../lib/pg/process.ts';
import { countRowsInSnapshot } from '../lib/pg/row-counts.ts';
import { availableServerBundles, serverForSource } from '../lib/pg/server-bundle.ts';
import { openSession, readServerIdentity, withSession } from '../lib/pg/session.ts';
import { createRuntime, pgProgramsFor } from '../lib/runtime.ts';
import type { BackupStore } from '../lib/storage/backup-store.ts';
import { keys } from '../lib/storage/keys.ts';
import { createS3Client } from '../lib/storage/s3-client.ts';
import { startScratchServer } from '../lib/verify/scratch-server.ts';
import { benchPgDumpAppName } from './backends.ts';
import { BenchStore, type UploadVariant, uploadWithLibStorage } from './legacy-upload.ts';
import { readCpu, readPeakRss, watchPeakRss } from './proc.ts';

export type WorkerTask =
  | { kind: 'limit'; databaseUrl: string; compression: string }
  | { kind: 'plain'; databaseUrl: string; s3: S3Target; file: string; keepFile: boolean }
  | {
      kind: 'ours';
      databaseUrl: string;
      s3: S3Target;
      compression: string;
      upload?: UploadVariant;
      /** `checksums`: the dump step with content checksums (the product's default); else counts only. */
      proof?: ProofLevel;
      /** The checksums' algorithm when not the newest (the v2 against v3 comparison). */
      contentAlgorithm?: ContentAlgorithm;
      /** `stream`: the v4 proof from the dump stream (the product's default is the scan). */
      checksumSource?: 'stream';
    }
  | { kind: 'ours-without-counts'; databaseUrl: string; s3: S3Target; compression: string }
  | { kind: 'counts'; databaseUrl: string }
  | { kind: 'restore-psql'; databaseUrl: string; file: string }
  | { kind: 'restore-pg_restore'; databaseUrl: string; file: string; jobs: number }
  /**
   * jameshy/pgdump-aws-lambda's own handler, loaded from a checkout the person running the bench made
   * (bench/peer.ts): its pg_dump spawn and its aws-sdk v2 upload, pointed at the local S3 server.
   */
  | {
      kind: 'peer';
      peerDir: string;
      /** A directory whose `pg_dump` starts the same bundled pg_dump ours uses. */
      pgDumpDir: string;
      databaseUrl: string;
      s3: S3Target;
      /** Its PGDUMP_ARGS, appended after its own `-Fc -Z1` (undefined: as shipped). */
      pgDumpArgs?: string;
    }
  /** The operator's `backupctl restore latest` use case into a fresh database on another server. */
  | {
      kind: 'restore-command';
      s3: S3Target;
      targetUrl: string;
      /** Production as the stage knows it: the guard asks it whether the target is production. */
      productionUrl: string;
      workDir: string;
      jobs: number;
      /** COMPARE_BESIDE_INDEXES for this run (default: the setting's own). */
      besideIndexes?: 'on' | 'off';
    }
  /** An expert's incident restore by hand: download the newest dump, pg_restore -j N, nothing checked. */
  | {
      kind: 'restore-expert';
      s3: S3Target;
      backupId: string;
      targetUrl: string;
      workDir: string;
      jobs: number;
    }
  /** The verify leg (bench/verify-leg.ts): the step's use case, and what it is measured against. */
  | {
      kind: 'verify-step';
      s3: S3Target;
      backupId: string;
      workDir: string;
      jobs: number;
      /** Compare content checksums too (the manifest must hold them). */
      content?: boolean;
      /** COMPARE_BESIDE_INDEXES for this run (default: the setting's own). */
      besideIndexes?: 'on' | 'off';
    }
  | { kind: 'verify-expert'; s3: S3Target; backupId: string; workDir: string; jobs: number }
  | {
      kind: 'verify-standing';
      s3: S3Target;
      backupId: string;
      workDir: string;
      jobs: number;
      stagingUrl: string;
    };

export interface S3Target {
  endpoint: string;
  bucket: string;
}

export interface WorkerResult {
  wallSeconds: number;
  /** user+sys of the programs the scenario started (pg_dump, gzip, psql, pg_restore). */
  childCpuSeconds: number;
  /** user+sys of the Node process during the scenario (hashing, upload, glue). */
  nodeCpuSeconds: number;
  nodePeakRssBytes: number | undefined;
  pgDumpPeakRssBytes: number | undefined;
  bytes: number | undefined;
  /** Objects the scenario left in the bucket; the orchestrator removes them after measuring. */
  keys: string[];
  detail: Record<string, number | string>;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  return new Promise((resolveExit, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolveExit({ code, signal, stderr }));
  });
}

function assertToolSuccess(program: string, exit: Exit): void {
  if (exit.code !== 0) throw new Error(`${program} exited with ${exit.code ?? exit.signal}: ${exit.stderr}`);
}

function assertSuccess(exit: PgExit): void {
  if (exit.outcome !== 'ok') throw new Error(describeExit(exit));
}

/** The bundled worker cannot find the build output relative to itself: run.ts names it, as on Lambda. */
const pgPrograms = pgProgramsFor(process.env.PG_CLIENT_DIR);

async function bundleFor(connection: PgConnection): Promise<PgBundle> {
  const session = await openSession(connection);
  try {
    const identity = await readServerIdentity(session);
    return await pgPrograms.clientForServer(identity.serverVersionNum);
  } finally {
    await session.end();
  }
}

/** The real BackupStore, unless a variant of the upload is being compared (bench/legacy-upload.ts). */
function storeFor(s3: S3Target, upload: UploadVariant = { via: 'writer' }): BackupStore {
  return new BenchStore(createS3Client({ endpoint: s3.endpoint }), s3.bucket, upload);
}

/** The product's own programs, with pg_dump's peak RSS watched from outside. */
function watchedPrograms(): { programs: typeof pgPrograms; peak: () => number | undefined } {
  let watch: () => number | undefined = () => undefined;
  return {
    programs: {
      clientForServer: pgPrograms.clientForServer,
      start: (bundle, program, args, options) => {
        // pg_dump's backend is told apart from the product's own sessions by its name (bench/backends.ts).
        const env = program === 'pg_dump' ? { ...options?.env, PGAPPNAME: benchPgDumpAppName } : options?.env;
        const started = pgPrograms.start(bundle, program, args, { ...options, ...(env ? { env } : {}) });
        watch = watchPeakRss(started.child.pid);
        return started;
      },
    },
    peak: () => watch(),
  };
}

type Measured = Omit<WorkerResult, 'wallSeconds' | 'childCpuSeconds' | 'nodeCpuSeconds' | 'nodePeakRssBytes'>;
type Scenario = () => Promise<Measured>;

const empty = { bytes: undefined, pgDumpPeakRssBytes: undefined, keys: [], detail: {} };

/** Prepares everything untimed, returns the timed part. */
async function prepare(task: WorkerTask): Promise<Scenario> {
  if (task.kind === 'verify-step' || task.kind === 'verify-expert' || task.kind === 'verify-standing') {
    return prepareVerify(task);
  }
  if (task.kind === 'restore-command' || task.kind === 'restore-expert') return prepareRestore(task);
  if (task.kind === 'peer') return preparePeer(task);
  const connection = parseConnectionUrl(task.databaseUrl, 'BENCH_DATABASE_URL');
  const bundle = await bundleFor(connection);

  switch (task.kind) {
    case 'limit':
      return async () => {
        const devNull = openSync('/dev/null', 'w');
        try {
          const pgDump = startPgProcess(
            bundle,
            'pg_dump',
            ['--format=custom', `--compress=${task.compression}`, '--no-password'],
            { connection, stdout: devNull, env: { PGAPPNAME: benchPgDumpAppName } },
          );
          const peak = watchPeakRss(pgDump.child.pid);
          const exit = await pgDump.exit;
          const pgDumpPeakRssBytes = peak();
          assertSuccess(exit);
          return { ...empty, pgDumpPeakRssBytes };
        } finally {
          closeSync(devNull);
        }
      };

    case 'plain': {
      const client = createS3Client({ endpoint: task.s3.endpoint });
      return async () => {
        const started = performance.now();
        const out = openSync(task.file, 'w');
        let pgDumpPeakRssBytes: number | undefined;
        try {
          const dump = startPgProcess(bundle, 'pg_dump', ['--format=plain', '--no-password'], {
            connection,
            env: { PGAPPNAME: benchPgDumpAppName },
          });
          // gzip reads pg_dump's pipe directly, as `pg_dump | gzip > file` does in a shell.
          const gzip = spawn('gzip', ['-c'], { stdio: [dump.child.stdout ?? 'ignore', out, 'pipe'] });
          dump.child.stdout?.destroy();
          const peak = watchPeakRss(dump.child.pid);
          const [dumpExit, gzipExit] = await Promise.all([dump.exit, exitOf(gzip)]);
          pgDumpPeakRssBytes = peak();
          assertSuccess(dumpExit);
          assertToolSuccess('gzip', gzipExit);
        } finally {
          closeSync(out);
        }
        const dumped = performance.now();
        const bytes = (await stat(task.file)).size;
        const key = `bench/plain-${process.pid}-${Date.now()}.sql.gz`;
        // `aws s3 cp` uses 8 MiB parts; lib-storage with 4 parts in flight stands in for it.
        await uploadWithLibStorage(
          client,
          task.s3.bucket,
          key,
          createReadStream(task.file, { highWaterMark: 1024 * 1024 }),
          8 * 1024 * 1024,
        );
        const uploaded = performance.now();
        if (!task.keepFile) await unlink(task.file);
        return {
          bytes,
          pgDumpPeakRssBytes,
          keys: [key],
          detail: {
            dumpGzipSeconds: (dumped - started) / 1000,
            uploadSeconds: (uploaded - dumped) / 1000,
          },
        };
      };
    }

    case 'ours': {
      const store = storeFor(task.s3, task.upload);
      const { programs, peak } = watchedPrograms();
      return async () => {
        const result = await dumpToStore(
          { compression: task.compression, trigger: 'manual', reason: 'benchmark' },
          {
            store,
            connection,
            programs,
            proof: task.proof ?? 'counts',
            ...(task.contentAlgorithm ? { contentAlgorithm: task.contentAlgorithm } : {}),
            ...(task.checksumSource ? { checksumSource: task.checksumSource } : {}),
          },
        );
        const manifestKey = keys.incomingManifest(result.backupId);
        // The discarding endpoint (scenario c°) keeps nothing to read back: no timings then.
        const manifest = await store
          .getText(manifestKey)
          .then((text) => parseManifest(text, manifestKey))
          .catch(() => undefined);
        return {
          bytes: result.bytes,
          pgDumpPeakRssBytes: peak(),
          keys: [result.dumpKey, result.manifestKey],
          detail: {
            dumpKey: result.dumpKey,
            tables: result.tables,
            rows: result.rows,
            proof: result.proof,
            ...(manifest
              ? {
                  countSeconds: manifest.timings.countSeconds,
                  dumpSeconds: manifest.timings.dumpSeconds,
                  // Which proof the manifest holds: a v4 dump whose digest fell behind says v3 here.
                  contentAlgorithm: manifest.content?.algorithm ?? 'none',
                }
              : {}),
          },
        };
      };
    }

    case 'ours-without-counts': {
      const store = storeFor(task.s3);
      const { programs, peak } = watchedPrograms();
      return async () => {
        const result = await dumpToStore(
          { compression: task.compression, trigger: 'manual', reason: 'benchmark' },
          { store, connection, programs, withoutRowCounts: true, proof: 'counts' },
        );
        return {
          bytes: result.bytes,
          pgDumpPeakRssBytes: peak(),
          keys: [result.dumpKey],
          detail: { sha256: result.sha256 },
        };
      };
    }

    case 'counts':
      return async () => {
        const holder = await openSession(connection);
        const counter = await openSession(connection);
        try {
          await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
          const { rows } = await holder.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
          const counts = await countRowsInSnapshot(counter, rows[0]?.id ?? '');
          await holder.query('COMMIT');
          return {
            ...empty,
            detail: { tables: counts.length, rows: counts.reduce((sum, t) => sum + t.rows, 0) },
          };
        } finally {
          await counter.end();
          await holder.end();
        }
      };

    case 'restore-psql':
      return async () => {
        const gunzip = spawn('gzip', ['-dc', task.file], { stdio: ['ignore', 'pipe', 'pipe'] });
        const psql = startPgProcess(bundle, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password'], {
          connection,
          stdin: gunzip.stdout ?? 'ignore',
          stdout: 'ignore',
        });
        gunzip.stdout?.destroy();
        const [gunzipExit, psqlExit] = await Promise.all([exitOf(gunzip), psql.exit]);
        assertToolSuccess('gzip -d', gunzipExit);
        assertSuccess(psqlExit);
        return empty;
      };

    case 'restore-pg_restore':
      return async () => {
        const pgRestore = startPgProcess(
          bundle,
          'pg_restore',
          [`--dbname=${connection.database}`, `--jobs=${task.jobs}`, '--no-password', task.file],
          { connection, stdout: 'ignore' },
        );
        assertSuccess(await pgRestore.exit);
        return empty;
      };
  }
}

type VerifyTask = Extract<WorkerTask, { kind: 'verify-step' | 'verify-expert' | 'verify-standing' }>;

/**
 * Samples how much of the work directory's file system is in use, from before the scenario to its
 * end: the peak is what the scenario needed on disk (dump download plus the server's data).
 */
function watchPeakDisk(path: string, intervalMs = 100): () => number {
  const used = () => {
    const stats = statfsSync(path);
    return (Number(stats.blocks) - Number(stats.bfree)) * Number(stats.bsize);
  };
  const base = used();
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, used() - base);
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    return Math.max(peak, used() - base);
  };
}

async function prepareVerify(task: VerifyTask): Promise<Scenario> {
  const runtime = createRuntime(
    readRuntimeSettings({
      BACKUP_BUCKET: task.s3.bucket,
      AWS_ENDPOINT_URL_S3: task.s3.endpoint,
      AWS_REGION: 'us-east-1',
      WORK_DIR: task.workDir,
      RESTORE_JOBS: String(task.jobs),
      ...(task.kind === 'verify-step' && task.besideIndexes
        ? { COMPARE_BESIDE_INDEXES: task.besideIndexes }
        : {}),
      ...(process.env.PG_CLIENT_DIR ? { PG_CLIENT_DIR: process.env.PG_CLIENT_DIR } : {}),
      ...(process.env.PG_SERVER_DIR ? { PG_SERVER_DIR: process.env.PG_SERVER_DIR } : {}),
      ...(task.kind === 'verify-standing'
        ? { VERIFY_TARGET: 'staging', STAGING_DATABASE_URL: task.stagingUrl }
        : { VERIFY_TARGET: 'scratch' }),
    }),
  );
  const manifest = await readManifest(runtime.store, task.backupId);
  const bundles = await availableServerBundles({ serverDir: runtime.settings.PG_SERVER_DIR });
  const serverBundle = serverForSource(manifest.source.serverVersionNum, bundles);
  return async () => {
    const disk = watchPeakDisk(task.workDir);
    if (task.kind !== 'verify-expert') {
      const content = task.kind === 'verify-step' && task.content === true;
      const outcome = await verifyBackup(runtime, manifest, { content });
      if (outcome.compare.status !== 'match') throw new Error('the verified copy does not match');
      if (content && outcome.compare.proof !== 'checksums') throw new Error('no content was compared');
      return {
        ...empty,
        detail: {
          downloadSeconds: outcome.downloadSeconds,
          restoreSeconds: outcome.restoreSeconds,
          compareSeconds: outcome.compareSeconds,
          ...(outcome.serverStartSeconds !== undefined ? { startSeconds: outcome.serverStartSeconds } : {}),
          ...(outcome.serverStopSeconds !== undefined ? { stopSeconds: outcome.serverStopSeconds } : {}),
          peakDiskBytes: disk(),
        },
      };
    }
    // What an expert runs by hand: a server tuned the same way, the dump downloaded, pg_restore -j N.
    // No hashing while downloading, no counts afterwards.
    const startStarted = performance.now();
    const server = await startScratchServer({ bundle: serverBundle, workDir: task.workDir, jobs: task.jobs });
    const startSeconds = (performance.now() - startStarted) / 1000;
    let stopSeconds = 0;
    let measured: Measured;
    try {
      const file = join(server.directory, 'backup.dump');
      const downloadStarted = performance.now();
      await pipeline(await runtime.store.getStream(keys.dump(task.backupId)), createWriteStream(file));
      const restoreStarted = performance.now();
      const database = 'expert';
      await withSession(server.connection, (session) => session.query(`CREATE DATABASE ${database}`));
      const client = await runtime.programs.clientForServer(server.major * 10_000);
      const restore = startPgProcess(
        client,
        'pg_restore',
        ['--no-owner', '--no-acl', `--jobs=${task.jobs}`, `--dbname=${database}`, file],
        { connection: server.connection, stdout: 'ignore' },
      );
      assertSuccess(await restore.exit);
      measured = {
        ...empty,
        detail: {
          startSeconds,
          downloadSeconds: (restoreStarted - downloadStarted) / 1000,
          restoreSeconds: (performance.now() - restoreStarted) / 1000,
        },
      };
    } finally {
      const stopStarted = performance.now();
      await server.stop();
      stopSeconds = (performance.now() - stopStarted) / 1000;
    }
    return { ...measured, detail: { ...measured.detail, stopSeconds, peakDiskBytes: disk() } };
  };
}

type RestoreTask = Extract<WorkerTask, { kind: 'restore-command' | 'restore-expert' }>;

/**
 * An incident: the newest backup onto a database on another server. `restore-command` is what
 * `backupctl restore latest --target-url` runs on the worker (the guard, download with SHA-256,
 * pg_restore -jN, counts and content compared); `restore-expert` what someone types by hand.
 */
async function prepareRestore(task: RestoreTask): Promise<Scenario> {
  const runtime = createRuntime(
    readRuntimeSettings({
      BACKUP_BUCKET: task.s3.bucket,
      AWS_ENDPOINT_URL_S3: task.s3.endpoint,
      AWS_REGION: 'us-east-1',
      WORK_DIR: task.workDir,
      RESTORE_JOBS: String(task.jobs),
      ...(task.kind === 'restore-command' ? { PRODUCTION_DATABASE_URL: task.productionUrl } : {}),
      ...(task.kind === 'restore-command' && task.besideIndexes
        ? { COMPARE_BESIDE_INDEXES: task.besideIndexes }
        : {}),
      ...(process.env.PG_CLIENT_DIR ? { PG_CLIENT_DIR: process.env.PG_CLIENT_DIR } : {}),
    }),
  );
  const target = parseConnectionUrl(task.targetUrl, 'the restore target');
  if (task.kind === 'restore-command') {
    return async () => {
      const started = performance.now();
      const outcome = await restoreBackup(runtime, 'latest', target, { jobs: task.jobs });
      if (outcome.compare.status !== 'match') throw new Error('the restored copy does not match');
      if (outcome.compare.proof !== 'checksums') throw new Error('no content was compared');
      const seconds = (performance.now() - started) / 1000;
      return {
        ...empty,
        detail: {
          backupId: outcome.backupId,
          downloadSeconds: outcome.downloadSeconds,
          restoreSeconds: outcome.restoreSeconds,
          compareSeconds: outcome.compareSeconds,
          // The catalog, the guard and the work directory: what the command adds besides the three.
          checkSeconds: seconds - outcome.downloadSeconds - outcome.restoreSeconds - outcome.compareSeconds,
        },
      };
    };
  }
  const client = await bundleFor(target);
  return async () => {
    const file = join(task.workDir, `expert-${process.pid}.dump`);
    const downloadStarted = performance.now();
    await pipeline(await runtime.store.getStream(keys.dump(task.backupId)), createWriteStream(file));
    const restoreStarted = performance.now();
    try {
      const restore = startPgProcess(
        client,
        'pg_restore',
        [
          '--no-owner',
          '--no-acl',
          `--jobs=${task.jobs}`,
          `--dbname=${target.database}`,
          '--no-password',
          file,
        ],
        { connection: target, stdout: 'ignore' },
      );
      assertSuccess(await restore.exit);
    } finally {
      await rm(file, { force: true });
    }
    return {
      ...empty,
      detail: {
        downloadSeconds: (restoreStarted - downloadStarted) / 1000,
        restoreSeconds: (performance.now() - restoreStarted) / 1000,
      },
    };
  };
}

type PeerTask = Extract<WorkerTask, { kind: 'peer' }>;

/**
 * The peer's handler as its Lambda runs it, from the checkout's own files and node_modules. Only its
 * surroundings are set: the connection and bucket in its event, its pg_dump directory, and the local S3
 * endpoint on its aws-sdk's global configuration (its upload takes a region only).
 */
async function preparePeer(task: PeerTask): Promise<Scenario> {
  const connection = parseConnectionUrl(task.databaseUrl, 'BENCH_DATABASE_URL');
  const requirePeer = createRequire(join(task.peerDir, 'package.json'));
  const aws = requirePeer('aws-sdk') as { config: { update(options: Record<string, unknown>): void } };
  aws.config.update({
    endpoint: task.s3.endpoint,
    s3ForcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
  });
  const { handler } = requirePeer(task.peerDir) as { handler: (event: unknown) => Promise<string> };
  const event = {
    PGDATABASE: connection.database,
    PGUSER: connection.user,
    ...(connection.password === undefined ? {} : { PGPASSWORD: connection.password }),
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGAPPNAME: benchPgDumpAppName,
    S3_BUCKET: task.s3.bucket,
    S3_REGION: 'us-east-1',
    ROOT: 'peer',
    PGDUMP_PATH: task.pgDumpDir,
    ...(task.pgDumpArgs ? { PGDUMP_ARGS: task.pgDumpArgs } : {}),
  };
  const store = storeFor(task.s3);
  return async () => {
    const location = await handler(event);
    // Path-style: http://host:port/<bucket>/<key>
    const key = decodeURIComponent(new URL(location).pathname).replace(`/${task.s3.bucket}/`, '');
    const { bytes } = await store.head(key);
    return { ...empty, bytes, keys: [key], detail: { key } };
  };
}

async function main(): Promise<void> {
  const task = JSON.parse(process.env.BENCH_TASK ?? '') as WorkerTask;
  const run = await prepare(task);
  const before = readCpu();
  const started = performance.now();
  const measured = await run();
  const wallSeconds = (performance.now() - started) / 1000;
  const after = readCpu();
  const result: WorkerResult = {
    wallSeconds,
    childCpuSeconds: after.children - before.children,
    nodeCpuSeconds: after.self - before.self,
    nodePeakRssBytes: readPeakRss(),
    ...measured,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
