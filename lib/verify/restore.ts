/**
 * The RestoreToStaging step. Guard first (never production, explicit opt-in), then download the dump
 * to ephemeral storage (pg_restore -j needs a seekable file) while re-hashing it, reset the staging
 * database, and run pg_restore. Its errors are classified; only the known-benign ones are tolerated.
 * With `lease`, the staging lease is taken right after the guard and given back if the restore fails
 * (CompareRowCounts gives it back after a successful one).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Manifest } from '../backup/manifest.ts';
import {
  BackupError,
  ChecksumMismatchError,
  describeError,
  RestoreFailedError,
  StepTimeoutError,
} from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import type { PgPrograms } from '../pg/process.ts';
import { openSession, quoteIdentifier, type Session } from '../pg/session.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { createHashingStream } from '../storage/hashing-stream.ts';
import { keys } from '../storage/keys.ts';
import { classifyRestoreLine, type RestoreMessages, restoreSucceeded } from './restore-messages.ts';
import { assertSafeRestoreTarget } from './restore-target-guard.ts';
import { acquireStagingLease, type LeaseOwner, leaseSchema, releaseStagingLease } from './staging-lease.ts';

export type RestorePrograms = PgPrograms<'pg_restore'>;

export interface RestoreDependencies {
  store: BackupStore;
  target: PgConnection;
  programs: RestorePrograms;
  jobs: number;
  /** Where the dump is downloaded; defaults to the OS temp dir (/tmp on Lambda). */
  workDir?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Take the staging lease (the backup's staging database); drills restore into their own databases. */
  lease?: LeaseOwner | undefined;
}

export interface RestoreResult {
  database: string;
  stagingServerVersion: string;
  downloadSeconds: number;
  restoreSeconds: number;
  benignMessages: string[];
}

/**
 * Empties the staging database: every non-system schema goes, `public` comes back empty, and so do
 * large objects, which belong to no schema (pg_restore --clean removes only the ones in the archive).
 * The lease schema stays: it says who may do this.
 */
async function resetDatabase(session: Session): Promise<void> {
  const { rows } = await session.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace
      WHERE nspname NOT IN ('pg_catalog', 'information_schema', $1)
        AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'`,
    [leaseSchema],
  );
  await session.query('BEGIN');
  for (const { name } of rows) await session.query(`DROP SCHEMA ${quoteIdentifier(name)} CASCADE`);
  await session.query('CREATE SCHEMA public');
  await session.query('SELECT lo_unlink(oid) FROM pg_largeobject_metadata');
  await session.query('COMMIT');
}

async function downloadVerified(store: BackupStore, manifest: Manifest, path: string): Promise<void> {
  const key = keys.dump(manifest.backupId);
  const hashing = createHashingStream();
  await pipeline(await store.getStream(key), hashing.stream, createWriteStream(path));
  const { sha256, bytes } = hashing.result();
  if (sha256 !== manifest.dump.sha256 || bytes !== manifest.dump.bytes) {
    throw new ChecksumMismatchError(`downloaded ${key} does not match its manifest`, {
      details: {
        expected: manifest.dump.sha256,
        actual: sha256,
        expectedBytes: manifest.dump.bytes,
        actualBytes: bytes,
      },
    });
  }
}

export async function restoreToStaging(
  manifest: Manifest,
  deps: RestoreDependencies,
): Promise<RestoreResult> {
  const session = await openSession(deps.target);
  const workDir = await mkdtemp(join(deps.workDir ?? tmpdir(), 'restore-'));
  let leased = false;
  try {
    const identity = await assertSafeRestoreTarget(session, deps.target, manifest.source);
    if (deps.lease) {
      await acquireStagingLease(session, deps.lease);
      leased = true;
    }
    // The client must read the archive (made by bundleMajor) and talk to the staging server.
    const bundle = await deps.programs.clientForServer(
      Math.max(identity.serverVersionNum, manifest.client.bundleMajor * 10_000),
    );

    const downloadStarted = Date.now();
    const dumpPath = join(workDir, 'backup.dump');
    await downloadVerified(deps.store, manifest, dumpPath);
    const downloadSeconds = (Date.now() - downloadStarted) / 1000;

    const restoreStarted = Date.now();
    await resetDatabase(session);
    const messages: RestoreMessages = { benign: [], fatal: [] };
    const pgRestore = deps.programs.start(
      bundle,
      'pg_restore',
      [
        '--clean',
        '--if-exists',
        '--no-owner',
        '--no-acl',
        `--jobs=${deps.jobs}`,
        '--no-password',
        `--dbname=${identity.database}`,
        dumpPath,
      ],
      {
        connection: deps.target,
        stdout: 'ignore',
        signal: deps.signal,
        onStderrLine: (line) => classifyRestoreLine(line, messages),
      },
    );
    const exit = await pgRestore.exit;
    if (exit.outcome === 'aborted') throw new StepTimeoutError('restore stopped before the Lambda timeout');

    const code = exit.exitCode;
    if (!restoreSucceeded(messages, code)) {
      const first = messages.fatal.slice(0, 5).map((m) => describeError(m));
      throw new RestoreFailedError(
        `pg_restore failed (exit ${code ?? exit.signal}) with ${messages.fatalCount ?? messages.fatal.length} error(s): ${first.join(' | ') || describeError(exit.lastLines.slice(-3).join(' | '))}`,
        { details: { exitCode: code, errors: first, benign: messages.benign.length } },
      );
    }
    return {
      database: identity.database,
      stagingServerVersion: identity.serverVersion,
      downloadSeconds,
      restoreSeconds: (Date.now() - restoreStarted) / 1000,
      benignMessages: [...new Set(messages.benign)],
    };
  } catch (error) {
    // A failed restore leaves staging to whoever comes next; a retry of this one takes it again.
    if (leased && deps.lease) await releaseStagingLease(session, deps.lease.owner).catch(() => undefined);
    if (error instanceof BackupError) throw error;
    throw new RestoreFailedError(`restore failed: ${describeError(error)}`, { cause: error });
  } finally {
    await session.end().catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  }
}
