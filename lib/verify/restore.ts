/**
 * Restoring a backup: download the dump to local disk (pg_restore -j needs a seekable file) while
 * re-hashing it, then pg_restore, whose errors are classified one by one (only the known-benign ones
 * are tolerated). Two targets:
 *
 * - a scratch server this verification owns (`restoreToScratch`): a fresh database on a server nobody
 *   else uses, so there is no guard, no lease and nothing to reset;
 * - a database someone names (`restoreToStaging`: standing staging, `backupctl restore --target-url`):
 *   the guard first (never production, explicit opt-in), with `lease` the staging lease right after it,
 *   then the database is emptied and restored into (without --clean: the reset emptied it).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Manifest } from '../backup/manifest.ts';
import {
  BackupError,
  ChecksumMismatchError,
  DatabaseUnreachableError,
  describeError,
  ExtensionMissingError,
  RestoreFailedError,
  ScratchDiskFullError,
  ScratchServerError,
  StepTimeoutError,
} from '../errors.ts';
import { formatBytes } from '../notify/messages.ts';
import type { PgConnection } from '../pg/connection.ts';
import type { PgExit, PgPrograms } from '../pg/process.ts';
import { openSession, quoteIdentifier, type Session, withSession } from '../pg/session.ts';
import type { RestoredDigests } from '../pg/stream-content.ts';
import { type ProgressLog, progressIntervalMs, reportProgress } from '../progress.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { createHashingStream } from '../storage/hashing-stream.ts';
import { keys } from '../storage/keys.ts';
import {
  classifyRestoreLine,
  explainRestoreFailure,
  type RestoreFailureCause,
  type RestoreMessages,
  restoreSucceeded,
} from './restore-messages.ts';
import { assertSafeRestoreTarget, type RestoreGuardOptions } from './restore-target-guard.ts';
import { handOverOwnership, type NightGlobals, type RolesOutcome, replayGlobals } from './roles.ts';
import { scratchSpaceFor } from './scratch-server.ts';
import { acquireStagingLease, type LeaseOwner, leaseSchema, releaseStagingLease } from './staging-lease.ts';

export type RestorePrograms = PgPrograms<'pg_restore' | 'psql'>;

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
  /** Where the download's and the restore's progress goes (lib/progress.ts). */
  log?: ProgressLog | undefined;
  /** The night's roles, replayed on the target before a restore that keeps owners and grants. */
  roles?: NightGlobals | undefined;
  /** How a named target is told apart from production (restoreToStaging only). */
  guard?: RestoreGuardOptions | undefined;
  /**
   * Reads the restored database while pg_restore's post-data section runs (its rows no longer
   * change): the comparison's v4 digests (lib/verify/compare.ts, `digestRestoredBeside`).
   */
  readBeside?: ((restored: PgConnection) => Promise<RestoredDigests | undefined>) | undefined;
}

export interface RestoreResult {
  database: string;
  /** With roles: the globals used, what the target refused, and the owners' and grants' check. */
  roles?: RolesOutcome;
  /** The PostgreSQL version of the server restored into. */
  stagingServerVersion: string;
  downloadSeconds: number;
  restoreSeconds: number;
  benignMessages: string[];
  /** What `readBeside` read, when it was given. */
  digested?: RestoredDigests | undefined;
}

/**
 * What the restoring user owns in a schema it may not drop (kind, name, order of dropping): extensions
 * kept there, relations, routines and types (enums, domains, composite and range types), extension
 * members left to their extension. PostgreSQL 13 and 14 give `public` to the bootstrap superuser, so a database owner
 * without superuser (a managed provider's user) can only empty it.
 */
const ownedContentsSql = `
  SELECT 'EXTENSION' AS kind, quote_ident(e.extname) AS name, 0 AS rank
    FROM pg_catalog.pg_extension e
   WHERE e.extnamespace = $1::regnamespace AND pg_catalog.pg_has_role(e.extowner, 'USAGE')
  UNION ALL
  SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass::text, 1
    FROM pg_catalog.pg_class c
   WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                        AND d.objid = c.oid AND d.deptype IN ('e', 'i', 'a'))
  UNION ALL
  SELECT 'ROUTINE', p.oid::regprocedure::text, 2
    FROM pg_catalog.pg_proc p
   WHERE p.pronamespace = $1::regnamespace AND pg_catalog.pg_has_role(p.proowner, 'USAGE')
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                        AND d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
  SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text, 3
    FROM pg_catalog.pg_type t
   WHERE t.typnamespace = $1::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r')
     AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
     AND pg_catalog.pg_has_role(t.typowner, 'USAGE')
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_type'::regclass
                        AND d.objid = t.oid AND d.deptype = 'e')`;

/**
 * Empties the staging database: every non-system schema goes, `public` comes back empty, and so do
 * large objects, which belong to no schema (pg_restore --clean removes only the ones in the archive).
 * A schema the restoring user may not drop (`public` on 13 and 14) is emptied of what it owns instead.
 * The lease schema stays: it says who may do this.
 */
async function resetDatabase(session: Session, serverVersionNum: number): Promise<void> {
  const { rows } = await session.query<{ name: string; mine: boolean }>(
    `SELECT nspname AS name, pg_catalog.pg_has_role(nspowner, 'USAGE') AS mine FROM pg_namespace
      WHERE nspname NOT IN ('pg_catalog', 'information_schema', $1)
        AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'`,
    [leaseSchema],
  );
  await session.query('BEGIN');
  for (const { name, mine } of rows) {
    if (mine) {
      await session.query(`DROP SCHEMA ${quoteIdentifier(name)} CASCADE`);
      continue;
    }
    // One at a time: dropping one (CASCADE) may already have taken the next with it.
    // The statements come from the catalog, names quoted by PostgreSQL itself (regclass, regprocedure,
    // regtype, quote_ident): no value is pasted into SQL here.
    const { rows: owned } = await session.query<{ statement: string }>(
      `SELECT 'DROP ' || kind || ' IF EXISTS ' || name || ' CASCADE' AS statement FROM (${ownedContentsSql}) o ORDER BY rank, name`,
      [quoteIdentifier(name)],
    );
    for (const { statement } of owned) await session.query(statement);
  }
  // As a new database has it: owned by pg_database_owner (PostgreSQL 15+) and usable by everyone.
  // pg_dump leaves a default public schema out of the dump, so nothing else would bring these back.
  // A `public` that was only emptied is still the one the database came with.
  if (!rows.some((r) => r.name === 'public' && !r.mine)) {
    if (serverVersionNum >= 150000) {
      await session.query('CREATE SCHEMA public AUTHORIZATION pg_database_owner');
      await session.query('GRANT USAGE ON SCHEMA public TO PUBLIC');
    } else {
      await session.query('CREATE SCHEMA public');
      await session.query('GRANT ALL ON SCHEMA public TO PUBLIC');
    }
  }
  await session.query('SELECT lo_unlink(oid) FROM pg_largeobject_metadata');
  await session.query('COMMIT');
}

/** Downloads the dump to `path`, hashing every byte; a dump that does not match is never restored. */
/** Passes bytes through, telling `onBytes` how many went by so far. */
function counter(onBytes: (bytes: number) => void): Transform {
  let received = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      onBytes(received);
      done(null, chunk);
    },
  });
}

export async function downloadVerified(
  store: BackupStore,
  manifest: Manifest,
  path: string,
  signal?: AbortSignal,
  /** Told the bytes written so far, as they arrive (a terminal's progress line). */
  onBytes?: (bytes: number) => void,
): Promise<number> {
  const started = Date.now();
  const key = keys.dump(manifest.backupId);
  const hashing = createHashingStream();
  try {
    const source = await store.getStream(key);
    // Production's data: readable by this user only (the directory around it is 0700 too).
    const file = createWriteStream(path, { mode: 0o600 });
    if (onBytes) await pipeline(source, hashing.stream, counter(onBytes), file, { signal });
    else await pipeline(source, hashing.stream, file, { signal });
  } catch (error) {
    if (signal?.aborted) throw new StepTimeoutError('download stopped before the deadline');
    throw error;
  }
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
  return (Date.now() - started) / 1000;
}

/**
 * pg_restore reports nothing as it goes; the restored database's size does. It is polled on a
 * connection of its own against the source's size, which it approaches (indexes and bloat differ, so
 * the percentage is a guide). A failed poll ends the watching, never the restore.
 */
function watchDatabaseSize(target: PgConnection, sourceBytes: number, log: ProgressLog) {
  const progress = reportProgress(log, 'restore', sourceBytes);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const session = openSession(target);
  session.catch(() => undefined);
  let broken = false;
  const measure = async () => {
    try {
      const { rows } = await (await session).query<{ bytes: string }>(
        'SELECT pg_database_size(current_database()) AS bytes',
      );
      progress.update(Number(rows[0]?.bytes ?? 0));
    } catch {
      broken = true;
    }
  };
  let polling: Promise<void> = Promise.resolve();
  const poll = () => {
    polling = measure().then(() => {
      if (!stopped && !broken) timer = setTimeout(poll, progressIntervalMs);
    });
  };
  timer = setTimeout(poll, progressIntervalMs);
  return {
    /** Takes the final size (what the restore produced), then closes the connection. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await polling;
      if (!broken) await measure();
      if (!broken) progress.done();
      await (await session.catch(() => undefined))?.end().catch(() => undefined);
    },
  };
}

/** The disk the dump and, for a scratch server, the restored data go to: the verifying step's own. */
export interface WorkDisk {
  directory: string;
  /** Free bytes there before anything was written (a scratch server measures it before initdb). */
  freeBytesAtStart: number | undefined;
}

/** Where pg_restore restores into, so that a failure names the place and says what to do there. */
export interface RestoreVenue {
  /** As an alert names it: `the scratch server (PostgreSQL 18.6)`, `the target database staging`. */
  name: string;
  /** A scratch server of ours: its log says why a connection was lost, and its disk is the step's. */
  scratch?: { logTail: (lines?: number) => string[]; disk: WorkDisk };
  /** What the roles replay could not do (a role it could not create is why a grant then fails). */
  refused?: string[];
}

async function freeBytesNow(directory: string): Promise<number | undefined> {
  return statfs(directory).then(
    (stats) => Number(stats.bavail) * Number(stats.bsize),
    () => undefined,
  );
}

/** The step's disk filled up: the sizes that were known, PostgreSQL's words, and what to do. */
async function diskFullError(
  manifest: Manifest,
  disk: WorkDisk,
  during: 'the download' | 'the restore',
  evidence: string,
  options: { cause?: unknown; object?: string | undefined } = {},
): Promise<ScratchDiskFullError> {
  const { cause, object } = options;
  const requiredBytes = scratchSpaceFor(manifest.dump.bytes, manifest.source.databaseSizeBytes);
  const freeNow = await freeBytesNow(disk.directory);
  const sizes = [
    ...(disk.freeBytesAtStart === undefined
      ? []
      : [`${formatBytes(disk.freeBytesAtStart)} free at the start`]),
    ...(freeNow === undefined ? [] : [`${formatBytes(freeNow)} free now`]),
    `the database ${formatBytes(manifest.source.databaseSizeBytes)} in the manifest`,
    `the dump ${formatBytes(manifest.dump.bytes)}`,
    `the space check asked for ${formatBytes(requiredBytes)}`,
  ];
  return new ScratchDiskFullError(
    `the disk of ${disk.directory} filled up during ${during} of ${manifest.backupId}${object ? `, at ${object}` : ''} (${sizes.join(', ')}): ${describeError(evidence)}. Give verification more disk: a larger worker.computeType on the worker, steps.verify.ephemeralStorageMb (up to 10240) on Lambda, or WORK_DIR on a larger file system. The backup itself is stored and unharmed`,
    {
      ...(cause === undefined ? {} : { cause }),
      details: {
        directory: disk.directory,
        during,
        ...(object ? { object } : {}),
        freeBytesAtStart: disk.freeBytesAtStart,
        freeBytesNow: freeNow,
        databaseSizeBytes: manifest.source.databaseSizeBytes,
        dumpBytes: manifest.dump.bytes,
        requiredBytes,
        evidence: describeError(evidence),
      },
    },
  );
}

/** A download that ran out of space (ENOSPC) is the step's disk filling up, not a broken store. */
async function downloadInto(
  manifest: Manifest,
  path: string,
  disk: WorkDisk,
  deps: Pick<RestoreDependencies, 'store' | 'signal' | 'log'>,
): Promise<number> {
  try {
    return await downloadWithProgress(manifest, path, deps);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    throw await diskFullError(manifest, disk, 'the download', describeError(error), { cause: error });
  }
}

/**
 * The cause, with the scratch server's log. A lost connection is often a crash the log tells of
 * (a PANIC on a full disk): its lines come through another pipe than pg_restore's exit, so they get a
 * moment (at most a second) to arrive before the lost connection is taken as the cause.
 */
async function explainWithLog(
  messages: RestoreMessages,
  venue: RestoreVenue | undefined,
): Promise<RestoreFailureCause | undefined> {
  const scratch = venue?.scratch;
  let cause = explainRestoreFailure(messages, scratch?.logTail(200));
  for (let waited = 0; scratch && cause?.kind === 'connection-lost' && waited < 1_000; waited += 50) {
    await new Promise((next) => setTimeout(next, 50));
    cause = explainRestoreFailure(messages, scratch.logTail(200));
  }
  return cause;
}

/** Each error with the object it was about, where pg_restore said. */
function withObjects(messages: RestoreMessages, count: number): string[] {
  return messages.fatal.slice(0, count).map((m, i) => {
    const object = messages.objects?.[i];
    // A COPY's error names its table already.
    return describeError(object && !m.startsWith('COPY failed') ? `${m} (${object})` : m);
  });
}

/**
 * The named error for a restore whose cause is known: the alert then says what happened and what to
 * do, instead of a list of errors to decode. `failed` says how pg_restore ended and its first errors.
 */
async function namedRestoreFailure(
  cause: RestoreFailureCause,
  manifest: Manifest,
  venue: RestoreVenue,
  failed: string,
  details: Record<string, unknown>,
): Promise<Error> {
  const where = venue.name;
  const on = (object: string | undefined) => (object ? ` restoring ${object}` : '');
  switch (cause.kind) {
    case 'disk-full':
      if (venue.scratch) {
        return diskFullError(manifest, venue.scratch.disk, 'the restore', cause.evidence, {
          object: cause.object,
        });
      }
      return new RestoreFailedError(
        `${where} ran out of disk space${on(cause.object)}: ${describeError(cause.evidence)}. Give that server more disk, then restore again; the backup is not at fault (${failed})`,
        { details: { ...details, cause: 'disk full' } },
      );
    case 'extension-missing':
      return new ExtensionMissingError(
        `the backup uses extension ${cause.extension}, which ${where} does not offer (${describeError(cause.evidence)}). ${
          venue.scratch
            ? 'Add it to `verification: { extensions: [...] }` in config/<stage>.yml (pgvector, postgis; locally SCRATCH_EXTENSIONS), or verify this database on staging'
            : 'Install the package that provides it on that server, then restore again'
        }`,
        { details: { ...details, missing: [cause.extension] } },
      );
    case 'role-missing': {
      const refused = (venue.refused ?? []).filter((line) => line.includes(cause.role));
      return new RestoreFailedError(
        `the restore needs role ${cause.role}${cause.object ? ` (for ${cause.object})` : ''}, which ${where} does not have${
          refused.length > 0 ? `: the roles replay was refused ${refused.slice(0, 3).join(' | ')}` : ''
        }. Create the role there (or replay the night's roles as a user with CREATEROLE), or restore without roles (${failed})`,
        { details: { ...details, role: cause.role } },
      );
    }
    case 'out-of-memory': {
      const message = `${where} ran out of memory${on(cause.object)}: ${describeError(cause.evidence)}`;
      return venue.scratch
        ? new ScratchServerError(
            `${message}. Give verification more memory (a larger worker.computeType; steps.verify.memoryMb on Lambda) or fewer RESTORE_JOBS; the backup is not at fault`,
            { details },
          )
        : new RestoreFailedError(
            `${message}. Give that server more memory, or restore with fewer RESTORE_JOBS; the backup is not at fault (${failed})`,
            { details },
          );
    }
    case 'server-crashed':
      return new ScratchServerError(
        `${where} crashed during the restore and restarted: ${cause.evidence
          .slice(0, 4)
          .map((line) => describeError(line))
          .join(' | ')}${
          cause.evidence.some((line) => /signal 9\b/.test(line))
            ? ' (a process killed with signal 9: most likely the kernel’s out-of-memory killer; give verification more memory)'
            : ''
        }; the backup is not at fault (${failed})`,
        { details: { ...details, log: cause.evidence } },
      );
    case 'connection-lost':
      return venue.scratch
        ? new ScratchServerError(
            `pg_restore lost its connection to ${where}: ${describeError(cause.evidence)}; its log: ${venue.scratch.logTail(6).join(' | ') || 'nothing'} (${failed})`,
            { details },
          )
        : new DatabaseUnreachableError(
            `pg_restore lost its connection to ${where} mid-restore: ${describeError(cause.evidence)}. The server restarted, failed over or ended the session; the backup is not at fault (${failed})`,
            { details },
          );
  }
}

/**
 * pg_restore of a downloaded dump into `target`, without owners or grants (the roles of production
 * need not exist there). Returns the benign messages; anything else fails with RestoreFailedError.
 *
 * With `beside`, the restore runs in two parts: the pre-data and data sections, then the post-data
 * section (indexes, constraints, triggers) while `beside` reads the restored rows, which no longer
 * change. Its result comes back once both have ended; a restore that fails is the error first.
 */
export async function runPgRestore<Beside = undefined>(
  manifest: Manifest,
  dumpPath: string,
  target: PgConnection & { serverVersionNum: number },
  deps: Pick<RestoreDependencies, 'programs' | 'jobs' | 'signal' | 'log'> & {
    /** Keep the grants (the roles exist on the target); default `--no-acl`. Owners never come along. */
    withGrants?: boolean;
    /** Where the restore goes, for naming a failure's cause. */
    venue?: RestoreVenue;
    /** Work on the restored rows beside the post-data section (the comparison's reading). */
    beside?: (() => Promise<Beside>) | undefined;
  },
): Promise<{ restoreSeconds: number; benignMessages: string[]; beside?: Beside }> {
  // The client must read the archive (made by bundleMajor) and talk to the target server.
  const bundle = await deps.programs.clientForServer(
    Math.max(target.serverVersionNum, manifest.client.bundleMajor * 10_000),
  );
  const started = Date.now();
  const messages: RestoreMessages = { benign: [], fatal: [] };
  const run = (sections: string[]) =>
    deps.programs.start(
      bundle,
      'pg_restore',
      [
        '--no-owner',
        ...(deps.withGrants ? [] : ['--no-acl']),
        `--jobs=${deps.jobs}`,
        '--no-password',
        `--dbname=${target.database}`,
        ...sections.map((section) => `--section=${section}`),
        dumpPath,
      ],
      {
        connection: target,
        stdout: 'ignore',
        signal: deps.signal,
        onStderrLine: (line) => classifyRestoreLine(line, messages),
      },
    ).exit;
  const watching = deps.log
    ? watchDatabaseSize(target, manifest.source.databaseSizeBytes, deps.log)
    : undefined;
  let besideResult: Promise<Beside> | undefined;
  try {
    if (!deps.beside) {
      await judgeRestore(await run([]), messages, manifest, deps.venue);
    } else {
      await judgeRestore(await run(['pre-data', 'data']), messages, manifest, deps.venue);
      besideResult = deps.beside();
      // Settled below in any case; until then its rejection is not unhandled.
      besideResult.catch(() => undefined);
      await judgeRestore(await run(['post-data']), messages, manifest, deps.venue);
    }
  } catch (error) {
    await besideResult?.catch(() => undefined);
    throw error;
  } finally {
    await watching?.stop();
  }
  const restoreSeconds = (Date.now() - started) / 1000;
  const benignMessages = [...new Set(messages.benign)];
  return besideResult
    ? { restoreSeconds, benignMessages, beside: await besideResult }
    : { restoreSeconds, benignMessages };
}

/** How one pg_restore run ended, judged by its messages so far: a failure is named and thrown. */
async function judgeRestore(
  exit: PgExit,
  messages: RestoreMessages,
  manifest: Manifest,
  venue: RestoreVenue | undefined,
): Promise<void> {
  if (exit.outcome === 'aborted') throw new StepTimeoutError('restore stopped before the Lambda timeout');
  const code = exit.exitCode;
  if (restoreSucceeded(messages, code)) return;
  const first = withObjects(messages, 5);
  const unexplained = (messages.unexplained ?? []).slice(0, 5).map((m) => describeError(m));
  const shown = first.length > 0 ? first : unexplained.map((m) => `unaccounted for: ${m}`);
  const failed = `pg_restore failed (exit ${code ?? exit.signal}) with ${messages.fatalCount ?? messages.fatal.length} error(s): ${shown.join(' | ') || describeError(exit.lastLines.slice(-3).join(' | '))}`;
  const details = { exitCode: code, errors: first, unexplained, benign: messages.benign.length };
  const cause = await explainWithLog(messages, venue);
  if (cause && venue) throw await namedRestoreFailure(cause, manifest, venue, failed, details);
  throw new RestoreFailedError(failed, { details });
}

async function downloadWithProgress(
  manifest: Manifest,
  path: string,
  deps: Pick<RestoreDependencies, 'store' | 'signal' | 'log'>,
): Promise<number> {
  const progress = reportProgress(deps.log, 'download', manifest.dump.bytes);
  const seconds = await downloadVerified(deps.store, manifest, path, deps.signal, (bytes) =>
    progress.update(bytes),
  );
  progress.done();
  return seconds;
}

/**
 * Restores into a fresh database of a scratch server (lib/verify/scratch-server.ts). The dump goes into
 * `directory`, the server's own, so removing the server removes it too.
 */
export async function restoreToScratch(
  manifest: Manifest,
  server: {
    connection: PgConnection;
    version: string;
    major: number;
    directory: string;
    /** The server's log and the free space before initdb: a failure's cause is read from them. */
    logTail?: (lines?: number) => string[];
    freeBytesAtStart?: number;
  },
  database: string,
  deps: Pick<RestoreDependencies, 'store' | 'programs' | 'jobs' | 'signal' | 'log' | 'roles' | 'readBeside'>,
): Promise<RestoreResult> {
  await withSession(server.connection, (session) =>
    session.query(`CREATE DATABASE ${quoteIdentifier(database)}`),
  );
  // The server's directory must stay traversable for its user (0711); the dump gets a 0700 one of its own.
  const dumpDir = join(server.directory, 'download');
  await mkdir(dumpDir, { mode: 0o700 });
  const dumpPath = join(dumpDir, 'backup.dump');
  const disk: WorkDisk = { directory: server.directory, freeBytesAtStart: server.freeBytesAtStart };
  const downloadSeconds = await downloadInto(manifest, dumpPath, disk, deps);
  const target = { ...server.connection, database, serverVersionNum: server.major * 10_000 };
  const venue: RestoreVenue = {
    name: `the scratch server (PostgreSQL ${server.version})`,
    scratch: { logTail: server.logTail ?? (() => []), disk },
  };
  try {
    // The night's roles first, where the run kept them: owners and grants are then restored and checked.
    const replayed = deps.roles
      ? await replayGlobals(target, deps.roles.sql, deps.programs, target.serverVersionNum)
      : undefined;
    const { readBeside } = deps;
    const { beside: digested, ...restored } = await runPgRestore(manifest, dumpPath, target, {
      ...deps,
      withGrants: replayed !== undefined,
      venue: { ...venue, refused: replayed?.skipped ?? [] },
      beside: readBeside ? () => readBeside(target) : undefined,
    });
    const roles =
      replayed && deps.roles
        ? await withSession(target, (session) =>
            handOverOwnership(
              session,
              manifest,
              deps.roles as NightGlobals,
              replayed.skipped,
              'the scratch server',
            ),
          )
        : undefined;
    return {
      database,
      stagingServerVersion: server.version,
      downloadSeconds,
      ...restored,
      ...(roles ? { roles } : {}),
      ...(digested ? { digested } : {}),
    };
  } finally {
    await rm(dumpPath, { force: true });
  }
}

export async function restoreToStaging(
  manifest: Manifest,
  deps: RestoreDependencies,
): Promise<RestoreResult> {
  const session = await openSession(deps.target);
  const workDir = await mkdtemp(join(deps.workDir ?? tmpdir(), 'restore-'));
  const freeBytesAtStart = await freeBytesNow(workDir);
  let leased = false;
  // The download only writes our own work directory, so without a lease it runs while the guard asks
  // the servers: no statement reaches the target before the guard has passed and the dump's SHA-256 has
  // matched. A guard that refuses stops the download and is the error. With a lease (staging) the
  // download waits for it, so that a lease lost meanwhile is seen after the download, as before.
  const downloading = new AbortController();
  const stopDownload = () => downloading.abort();
  deps.signal?.addEventListener('abort', stopDownload, { once: true });
  if (deps.signal?.aborted) downloading.abort();
  const dumpPath = join(workDir, 'backup.dump');
  const startDownload = () => {
    const started = downloadInto(
      manifest,
      dumpPath,
      { directory: workDir, freeBytesAtStart },
      { ...deps, signal: downloading.signal },
    );
    // Settled in any case below; until then its rejection is not unhandled.
    started.catch(() => undefined);
    return started;
  };
  let download = deps.lease ? undefined : startDownload();
  try {
    const identity = await assertSafeRestoreTarget(session, deps.target, manifest.source, deps.guard).catch(
      async (error: unknown) => {
        downloading.abort();
        await download?.catch(() => undefined);
        throw error;
      },
    );
    if (deps.lease) {
      await acquireStagingLease(session, deps.lease);
      leased = true;
    }
    download ??= startDownload();
    const downloadSeconds = await download;
    const resetStarted = Date.now();
    await resetDatabase(session, identity.serverVersionNum);
    const resetSeconds = (Date.now() - resetStarted) / 1000;
    const replayed = deps.roles
      ? await replayGlobals(
          { ...deps.target, database: identity.database },
          deps.roles.sql,
          deps.programs,
          identity.serverVersionNum,
        )
      : undefined;
    const restoredTarget = { ...deps.target, database: identity.database };
    const { readBeside } = deps;
    const restored = await runPgRestore(
      manifest,
      dumpPath,
      { ...restoredTarget, serverVersionNum: identity.serverVersionNum },
      {
        ...deps,
        beside: readBeside ? () => readBeside(restoredTarget) : undefined,
        // No --clean: the reset above left nothing of the archive's to drop (what it could not drop,
        // pg_restore could not either), and on an empty database it is one more pass of statements.
        withGrants: replayed !== undefined,
        venue: { name: `the target database ${identity.database}`, refused: replayed?.skipped ?? [] },
      },
    );
    // Owners as a non-superuser can give them, after the restore; then checked against the manifest.
    const roles =
      replayed && deps.roles
        ? await handOverOwnership(
            session,
            manifest,
            deps.roles,
            replayed.skipped,
            `the target database ${identity.database}`,
          )
        : undefined;
    return {
      database: identity.database,
      stagingServerVersion: identity.serverVersion,
      downloadSeconds,
      restoreSeconds: resetSeconds + restored.restoreSeconds,
      benignMessages: restored.benignMessages,
      ...(roles ? { roles } : {}),
      ...(restored.beside ? { digested: restored.beside } : {}),
    };
  } catch (error) {
    // A failed restore leaves staging to whoever comes next; a retry of this one takes it again.
    if (leased && deps.lease) await releaseStagingLease(session, deps.lease.owner).catch(() => undefined);
    if (error instanceof BackupError) throw error;
    throw new RestoreFailedError(`restore failed: ${describeError(error)}`, { cause: error });
  } finally {
    deps.signal?.removeEventListener('abort', stopDownload);
    downloading.abort();
    await download?.catch(() => undefined);
    await session.end().catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  }
}
