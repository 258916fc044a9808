/**
 * A failed restore names its cause: each cause provoked for real on a backup the pipeline made of a
 * production database (pg_trgm and a GIN index on it, a grant to a role, a table whose COPY lasts a
 * moment), restored the way the Verify step restores (`restoreToScratch`) or into a named target
 * (`runPgRestore`, as `restoreToStaging` runs it):
 *
 * - a scratch server without the extension: ExtensionMissingError naming it;
 * - grants kept but the role missing: RestoreFailedError naming the role and the table;
 * - a backend of the scratch server killed with SIGKILL mid-COPY, as the kernel's OOM killer does: the
 *   server restarts, and ScratchServerError says it crashed, from its log;
 * - the restoring session on a named target terminated mid-COPY (a failover, an administrator):
 *   DatabaseUnreachableError, which the Verify step retries;
 * - a scratch server on a 64 MiB tmpfs, where the dump's download runs out of space:
 *   ScratchDiskFullError (a disk filling up during pg_restore: faults-scratch.test.ts).
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PublishCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest } from '../../lib/backup/catalog.ts';
import type { Manifest } from '../../lib/backup/manifest.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { parseConnectionUrl, withDatabase } from '../../lib/pg/connection.ts';
import { availableServerBundles, type ServerBundle } from '../../lib/pg/server-bundle.ts';
import { withSession } from '../../lib/pg/session.ts';
import { createRuntime, type Runtime } from '../../lib/runtime.ts';
import { downloadVerified, restoreToScratch, runPgRestore } from '../../lib/verify/restore.ts';
import { startScratchServer } from '../../lib/verify/scratch-server.ts';
import { sns } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { signalIfAlive, waitFor } from '../support/wait-for.ts';

const execFileAsync = promisify(execFile);
const database = 'causes_shop';
let fixture: PipelineFixture;
let runtime: Runtime;
let manifest: Manifest;
let bundle: ServerBundle;
let work: string;

beforeAll(async () => {
  sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
  fixture = await startPipelineFixture({ sampleScale: 0.001 });
  await fixture.productionSql(`CREATE DATABASE ${database}`);
  await fixture.productionSql('CREATE ROLE causes_reader NOLOGIN');
  await fixture.sqlOn(
    database,
    'CREATE EXTENSION pg_trgm',
    'CREATE TABLE docs (id int PRIMARY KEY, body text)',
    "INSERT INTO docs SELECT i, 'document ' || i FROM generate_series(1, 1000) AS i",
    'CREATE INDEX docs_trgm ON docs USING gin (body gin_trgm_ops)',
    'GRANT SELECT ON docs TO causes_reader',
    // A COPY that lasts a moment (about 50 MB), with an index to build after it.
    'CREATE TABLE events (id int PRIMARY KEY, payload text)',
    'INSERT INTO events SELECT i, md5(i::text) || md5((i + 1)::text) FROM generate_series(1, 500000) AS i',
  );
  const { settings, store } = await fixture.freshBucket({
    PRODUCTION_DATABASE_URL: fixture.environment.production?.url(database) ?? '',
    DUMP_COMPRESSION: 'none',
  });
  const execution = await fixture.run(settings);
  expect(execution.status).toBe('SUCCEEDED');
  runtime = createRuntime(readRuntimeSettings(settings));
  const [backup] = await listBackups(store);
  manifest = await readManifest(store, backup?.backupId ?? '');
  const newest = (await availableServerBundles()).find((b) => b.major === 18);
  if (!newest) throw new Error('no PostgreSQL 18 server bundle: npm run build:pg-server -- 18');
  bundle = newest;
  work = await mkdtemp(join(tmpdir(), 'restore-causes-'));
  // The scratch servers' user (postgres, when tests run as root) must reach it.
  await chmod(work, 0o755);
}, 300_000);

afterAll(async () => {
  sns.restore();
  await fixture?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** pg_restore processes whose command line names `text`. */
async function pgRestoresNaming(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (command.includes('pg_restore') && command.includes(text)) pids.push(Number(pid));
  }
  return pids;
}

/**
 * Once the COPY of `events` runs in `target` (seen in pg_stat_activity), holds pg_restore (SIGSTOP) so
 * it cannot finish first, does `act` to the COPY's backend, and lets pg_restore go on.
 */
async function duringCopy(
  connection: Parameters<typeof withSession>[0],
  target: string,
  act: (backend: number) => Promise<void>,
): Promise<void> {
  const backend = await waitFor('the COPY of events', async () => {
    const { rows } = await withSession(connection, (s) =>
      s.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY public.events %'",
        [target],
      ),
    );
    return rows[0]?.pid;
  });
  const held = (await pgRestoresNaming(`--dbname=${target}`)).filter((pid) => signalIfAlive(pid, 'SIGSTOP'));
  try {
    expect(held.length).toBeGreaterThan(0);
    await act(backend);
  } finally {
    for (const pid of held) signalIfAlive(pid, 'SIGCONT');
  }
}

describe('a failed restore names its cause', () => {
  it('names a disk too small for the download ScratchDiskFullError, with the sizes', async () => {
    const disk = join(work, 'tmpfs');
    await mkdir(disk);
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', disk]);
    try {
      const server = await startScratchServer({ bundle, workDir: disk });
      try {
        const error = await restoreToScratch(manifest, server, 'no_room', {
          store: runtime.store,
          programs: runtime.programs,
          jobs: 2,
        }).catch((e: unknown) => e as Error);

        expect(error).toMatchObject({ name: 'ScratchDiskFullError' });
        expect((error as Error).message).toMatch(
          /^the disk of .*\/tmpfs\/scratch-\w+ filled up during the download of \S+ \([\d.]+ MiB free at the start, [\d.]+ \w+ free now, the database [\d.]+ MiB in the manifest, the dump [\d.]+ MiB, the space check asked for [\d.]+ GiB\): .*ENOSPC/,
        );
        expect((error as { details?: Record<string, unknown> }).details).toMatchObject({
          during: 'the download',
          dumpBytes: manifest.dump.bytes,
          databaseSizeBytes: manifest.source.databaseSizeBytes,
        });
      } finally {
        await server.stop();
      }
    } finally {
      await execFileAsync('umount', [disk]);
    }
  });

  it('names the extension the scratch server does not offer: ExtensionMissingError', async () => {
    const lacking = join(work, 'no-pg-trgm');
    await cp(await realpath(bundle.dir), lacking, { recursive: true });
    await rm(join(lacking, `usr/share/postgresql/${bundle.major}/extension/pg_trgm.control`));
    const [copy] = await availableServerBundles({ serverDir: lacking });
    const server = await startScratchServer({ bundle: copy as ServerBundle, workDir: work });
    try {
      const error = await restoreToScratch(manifest, server, 'no_extension', {
        store: runtime.store,
        programs: runtime.programs,
        jobs: 2,
      }).catch((e: unknown) => e as Error);

      expect(error).toMatchObject({ name: 'ExtensionMissingError' });
      expect((error as Error).message).toMatch(
        /^the backup uses extension pg_trgm, which the scratch server \(PostgreSQL 18\.\d+\) does not offer \(.*extension "pg_trgm" is not available\)\. Add it to `verification: \{ extensions: \[\.\.\.\] \}`/,
      );
    } finally {
      await server.stop();
    }
  });

  it('names the role a kept grant needs and the table: RestoreFailedError', async () => {
    const server = await startScratchServer({ bundle, workDir: work });
    try {
      // The night's roles as a record taken before causes_reader existed: nothing creates it.
      const roles = {
        record: {
          globalsVersion: 1 as const,
          id: 'before-the-role',
          createdAt: manifest.createdAt,
          serverVersion: manifest.source.serverVersion,
          sha256: '',
          bytes: 0,
          roles: [],
          skipped: [],
        },
        sql: '',
      };
      const error = await restoreToScratch(manifest, server, 'no_role', {
        store: runtime.store,
        programs: runtime.programs,
        jobs: 2,
        roles,
      }).catch((e: unknown) => e as Error);

      expect(error).toMatchObject({ name: 'RestoreFailedError' });
      expect((error as Error).message).toMatch(
        /^the restore needs role causes_reader \(for table public\.docs\), which the scratch server \(PostgreSQL 18\.\d+\) does not have\. Create the role there/,
      );
    } finally {
      await server.stop();
    }
  });

  it('says the scratch server crashed when a backend is killed mid-COPY (as by the OOM killer): ScratchServerError', async () => {
    const server = await startScratchServer({ bundle, workDir: work });
    try {
      const restoring = restoreToScratch(manifest, server, 'killed_backend', {
        store: runtime.store,
        programs: runtime.programs,
        jobs: 2,
      }).catch((e: unknown) => e as Error);
      await duringCopy(server.connection, 'killed_backend', async (backend) => {
        process.kill(backend, 'SIGKILL');
      });
      const error = await restoring;

      expect(error).toMatchObject({ name: 'ScratchServerError' });
      expect((error as Error).message).toMatch(
        /^the scratch server \(PostgreSQL 18\.\d+\) crashed during the restore and restarted: LOG: client backend \(PID \d+\) was terminated by signal 9: Killed.*most likely the kernel’s out-of-memory killer/,
      );
      // It restarted: the server is still there, and the failure was not blamed on the backup.
      expect(server.alive()).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('names a lost connection to a named target a transient DatabaseUnreachableError', async () => {
    const target = 'lost_target';
    await fixture.productionSql(`CREATE DATABASE ${target}`);
    const connection = parseConnectionUrl(fixture.environment.production?.url(target) ?? '', 'target');
    const dumpPath = join(work, 'lost.dump');
    await downloadVerified(runtime.store, manifest, dumpPath);

    const restoring = runPgRestore(
      manifest,
      dumpPath,
      { ...connection, serverVersionNum: manifest.source.serverVersionNum },
      {
        programs: runtime.programs,
        jobs: 2,
        venue: { name: `the target database ${target}` },
      },
    ).catch((e: unknown) => e as Error);
    await duringCopy(withDatabase(connection, 'postgres'), target, async (backend) => {
      await withSession(withDatabase(connection, 'postgres'), (s) =>
        s.query('SELECT pg_terminate_backend($1)', [backend]),
      );
    });
    const error = await restoring;

    expect(error).toMatchObject({ name: 'DatabaseUnreachableError' });
    // Which words libpq prints depends on whether it reads the server's FATAL before it sees the socket
    // close: either is the lost connection, and the product names it so.
    expect((error as Error).message).toMatch(
      /^pg_restore lost its connection to the target database lost_target mid-restore: .*(?:server closed the connection unexpectedly|terminating connection due to administrator command).*the backup is not at fault/,
    );
  });
});
