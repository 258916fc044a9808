/**
 * Use case: prove a backup restorable and complete. Restore it where the stage says (a scratch server
 * this call starts and removes, or the standing staging database), count every table of the manifest
 * there, and return the comparison as data. The Verify step of the backup and the drill's
 * RestoreAndCheck step both call this; the drill adds its sanity checks through `checks`, which run on
 * the restored database before the server goes away.
 *
 * Before any restore work on a scratch server: its major is production's or the nearest newer one, it
 * offers every extension the manifest lists, and there is room for the dump, the data and WAL.
 */
import type { Manifest } from '../backup/manifest.ts';
import {
  BackupError,
  describeError,
  ExtensionMissingError,
  RestoreFailedError,
  ScratchDiskFullError,
  ScratchServerError,
} from '../errors.ts';
import { type PgConnection, withDatabase } from '../pg/connection.ts';
import { availableServerBundles, type ServerBundle, serverForSource } from '../pg/server-bundle.ts';
import { type Session, withSession } from '../pg/session.ts';
import type { RestoredDigests } from '../pg/stream-content.ts';
import type { ProgressLog } from '../progress.ts';
import type { Runtime } from '../runtime.ts';
import {
  type CompareResult,
  compareBesideIndexes,
  compareRowCounts,
  digestRestoredBeside,
} from '../verify/compare.ts';
import {
  type RestoreDependencies,
  type RestoreResult,
  restoreToScratch,
  restoreToStaging,
} from '../verify/restore.ts';
import { globalsFor, type RolesOutcome } from '../verify/roles.ts';
import {
  type ScratchServer,
  scratchDatabaseName,
  scratchSpaceFor,
  startScratchServer,
} from '../verify/scratch-server.ts';
import { confirmStagingLease, type LeaseOwner, releaseStagingLease } from '../verify/staging-lease.ts';

export interface VerifyOutcome<Checks = undefined> {
  backupId: string;
  /** Where the backup was restored: a scratch server of ours, or the standing staging database. */
  target: 'scratch' | 'staging';
  serverVersion: string;
  /** Scratch only: initdb and start, then fast shutdown and removal of every file. */
  serverStartSeconds?: number;
  serverStopSeconds?: number;
  downloadSeconds: number;
  restoreSeconds: number;
  compareSeconds: number;
  benignMessages: string[];
  compare: CompareResult;
  checks: Checks;
  /** Scratch only, where the night's roles were kept: replayed, and owners and grants checked. */
  roles?: RolesOutcome;
}

export interface VerifyOptions<Checks> {
  signal?: AbortSignal | undefined;
  /** Staging mode only: the staging lease's owner (the backup id and the execution). */
  lease?: LeaseOwner | undefined;
  /** More checks on the restored database (the drill's sanity checks); their result is returned. */
  checks?: (session: Session) => Promise<Checks>;
  /** Reads free space (tests simulate a full disk). */
  freeBytes?: (path: string) => Promise<number>;
  /** Compare content too, where the manifest recorded checksums (lib/verify/compare.ts). */
  content?: boolean;
  /** Where the download's and the restore's progress goes (lib/progress.ts). */
  log?: ProgressLog | undefined;
}

/** Which config option adds an extension to the scratch server (the Debian package behind it). */
const extensionOptions: Record<string, string> = {
  vector: 'pgvector',
  postgis: 'postgis',
  postgis_raster: 'postgis',
  postgis_topology: 'postgis',
  postgis_sfcgal: 'postgis',
  postgis_tiger_geocoder: 'postgis',
  address_standardizer: 'postgis',
  address_standardizer_data_us: 'postgis',
};

/** Every extension of the manifest must be on offer, or the restore would fail half-way. */
export function assertExtensionsAvailable(
  manifest: Pick<Manifest, 'extensions'>,
  bundle: ServerBundle,
): void {
  const offered = new Set(bundle.availableExtensions);
  const missing = (manifest.extensions ?? []).filter((extension) => !offered.has(extension.name));
  if (missing.length === 0) return;
  const options = missing.map(({ name }) => extensionOptions[name]);
  const unavailable = missing.filter((_, i) => options[i] === undefined).map((e) => e.name);
  const wanted = [...new Set([...bundle.extensions, ...options.filter((o) => o !== undefined)])].sort();
  const hints = [
    ...(unavailable.length > 0
      ? [
          `no package of the scratch server provides ${unavailable.join(', ')}; verify this database on a staging database instead (\`verification: { target: staging }\`)`,
        ]
      : []),
    ...(wanted.length > bundle.extensions.length
      ? [
          `add \`verification: { extensions: [${wanted.join(', ')}] }\` to config/<stage>.yml (locally SCRATCH_EXTENSIONS=${wanted.join(',')})`,
        ]
      : []),
  ];
  throw new ExtensionMissingError(
    `the backup uses ${missing.map((e) => `extension ${e.name} ${e.version}`).join(', ')}, which the scratch server (PostgreSQL ${bundle.version}) does not offer. ${hints.join('; ')}`,
    { details: { missing: missing.map((e) => e.name), server: bundle.version } },
  );
}

/**
 * With content compared, the v4 digests are read while pg_restore builds indexes and constraints, on
 * as many sessions as it has (lib/verify/compare.ts, `digestRestoredBeside`): the comparison then
 * needs no second reading of the tables.
 */
function readBesideFor(
  manifest: Manifest,
  options: Pick<VerifyOptions<unknown>, 'content'>,
  settings: Pick<Runtime['settings'], 'RESTORE_JOBS' | 'COMPARE_BESIDE_INDEXES'>,
): RestoreDependencies['readBeside'] {
  if (options.content !== true) return undefined;
  if (!compareBesideIndexes(settings.COMPARE_BESIDE_INDEXES, settings.RESTORE_JOBS)) return undefined;
  return (restored) => digestRestoredBeside(restored, manifest, settings.RESTORE_JOBS);
}

async function compareIn<Checks>(
  session: Session,
  manifest: Manifest,
  options: Pick<VerifyOptions<Checks>, 'checks' | 'content'>,
  /** The restored database and pg_restore's -j: the content scan takes as many sessions. */
  parallel: { connection: PgConnection; jobs: number },
  /** What the restore read beside its post-data section (`readBesideFor`). */
  digested: RestoredDigests | undefined,
): Promise<{ compare: CompareResult; compareSeconds: number; checks: Checks }> {
  const { checks } = options;
  const started = Date.now();
  const compare = await compareRowCounts(session, manifest, {
    content: options.content ?? false,
    parallel,
    digested,
  });
  const compareSeconds = (Date.now() - started) / 1000;
  return { compare, compareSeconds, checks: (checks ? await checks(session) : undefined) as Checks };
}

/**
 * Debian's server reads time zones from the host's /usr/share/zoneinfo (its build's system tzdata). On
 * a host without it (some minimal images) the server still starts, but a restore that names a zone (a
 * CHECK constraint, an index expression, a materialized view with `AT TIME ZONE 'Europe/Berlin'`)
 * fails. That is this machine's fault, not the backup's: say so, by name.
 */
async function withoutTimeZoneDatabase(
  server: ScratchServer,
  error: unknown,
): Promise<ScratchServerError | undefined> {
  const zone = /time zone "([^"]+)" not recognized/.exec(describeError(error))?.[1];
  if (zone === undefined) return undefined;
  // An empty directory lists no zones; a missing or unreadable one fails to list.
  const zones = await withSession(server.connection, (session) =>
    session.query<{ zones: string }>('SELECT count(*) AS zones FROM pg_timezone_names'),
  ).then(
    (result) => Number(result.rows[0]?.zones),
    (listing: unknown) => (/could not open directory/.test(describeError(listing)) ? 0 : undefined),
  );
  if (zones !== 0) return undefined;
  return new ScratchServerError(
    `the scratch server cannot resolve time zone "${zone}": this machine has no time zone database (/usr/share/zoneinfo, the tzdata package), which PostgreSQL reads. The backup is not at fault; verify it where tzdata is installed (the worker, or a host with tzdata)`,
    { cause: error, details: { zone } },
  );
}

async function verifyOnScratch<Checks>(
  runtime: Pick<Runtime, 'store' | 'programs' | 'settings'>,
  manifest: Manifest,
  options: VerifyOptions<Checks>,
): Promise<VerifyOutcome<Checks>> {
  const { settings } = runtime;
  const bundles = await availableServerBundles({
    serverDir: settings.PG_SERVER_DIR,
    extensions: settings.SCRATCH_EXTENSIONS,
  });
  const bundle = serverForSource(manifest.source.serverVersionNum, bundles);
  assertExtensionsAvailable(manifest, bundle);
  const startedAt = Date.now();
  const server = await startScratchServer({
    bundle,
    workDir: settings.WORK_DIR,
    requiredBytes: scratchSpaceFor(manifest.dump.bytes, manifest.source.databaseSizeBytes),
    jobs: settings.RESTORE_JOBS,
    signal: options.signal,
    ...(options.freeBytes ? { freeBytes: options.freeBytes } : {}),
  });
  const serverStartSeconds = (Date.now() - startedAt) / 1000;
  // The roles of the backup's night, where the nightly run kept them (the server's, so the top level).
  const roles = await globalsFor(runtime.store.forScope(undefined), new Date(manifest.createdAt));
  let outcome: VerifyOutcome<Checks> | undefined;
  try {
    const database = scratchDatabaseName();
    let restored: RestoreResult;
    let compared: Awaited<ReturnType<typeof compareIn<Checks>>>;
    try {
      restored = await restoreToScratch(manifest, server, database, {
        store: runtime.store,
        programs: runtime.programs,
        jobs: settings.RESTORE_JOBS,
        signal: options.signal,
        log: options.log,
        roles,
        readBeside: readBesideFor(manifest, options, settings),
      });
      const restoredDatabase = withDatabase(server.connection, database);
      compared = await withSession(restoredDatabase, (session) =>
        compareIn(
          session,
          manifest,
          options,
          { connection: restoredDatabase, jobs: settings.RESTORE_JOBS },
          restored.digested,
        ),
      );
    } catch (error) {
      // A restore error is about the backup only while the server is up; a dead server is the cause,
      // unless the disk it died of is (a PANIC on a full disk can end the server).
      if (error instanceof ScratchDiskFullError) throw error;
      if (server.alive()) throw (await withoutTimeZoneDatabase(server, error)) ?? error;
      throw new ScratchServerError(
        `the scratch server (PostgreSQL ${server.version}) died during the verification: ${server.logTail(6).join(' | ') || 'no log output'}`,
        { cause: error, details: { log: server.logTail(20), during: describeError(error) } },
      );
    }
    outcome = {
      backupId: manifest.backupId,
      target: 'scratch',
      serverVersion: server.version,
      serverStartSeconds,
      downloadSeconds: restored.downloadSeconds,
      restoreSeconds: restored.restoreSeconds,
      benignMessages: restored.benignMessages,
      ...(restored.roles ? { roles: restored.roles } : {}),
      ...compared,
    };
  } finally {
    const stopStarted = Date.now();
    await server.stop();
    if (outcome) outcome.serverStopSeconds = (Date.now() - stopStarted) / 1000;
  }
  return outcome;
}

async function verifyOnStaging<Checks>(
  runtime: Pick<Runtime, 'store' | 'programs' | 'settings' | 'stagingConnection' | 'productionConnection'>,
  manifest: Manifest,
  options: VerifyOptions<Checks>,
): Promise<VerifyOutcome<Checks>> {
  const target = await runtime.stagingConnection();
  const restored = await restoreToStaging(manifest, {
    store: runtime.store,
    target,
    programs: runtime.programs,
    jobs: runtime.settings.RESTORE_JOBS,
    workDir: runtime.settings.WORK_DIR,
    signal: options.signal,
    lease: options.lease,
    log: options.log,
    guard: { production: runtime.productionConnection },
    readBeside: readBesideFor(manifest, options, runtime.settings),
  });
  const compared = await withSession(target, async (session) => {
    // Staging must still hold this backup's restore: no other execution took the lease meanwhile.
    if (options.lease) await confirmStagingLease(session, options.lease);
    const result = await compareIn(
      session,
      manifest,
      options,
      { connection: { ...target, database: restored.database }, jobs: runtime.settings.RESTORE_JOBS },
      restored.digested,
    );
    // The verdict is in: staging is free for the next execution. On a failure before this point the
    // lease stays until it expires, and a retry of this execution takes it again.
    if (options.lease) await releaseStagingLease(session, options.lease.owner);
    return result;
  });
  return {
    backupId: manifest.backupId,
    target: 'staging',
    serverVersion: restored.stagingServerVersion,
    downloadSeconds: restored.downloadSeconds,
    restoreSeconds: restored.restoreSeconds,
    benignMessages: restored.benignMessages,
    ...compared,
  };
}

export async function verifyBackup<Checks = undefined>(
  runtime: Pick<Runtime, 'store' | 'programs' | 'settings' | 'stagingConnection' | 'productionConnection'>,
  manifest: Manifest,
  options: VerifyOptions<Checks> & { target?: 'scratch' | 'staging' } = {},
): Promise<VerifyOutcome<Checks>> {
  const target = options.target ?? runtime.settings.VERIFY_TARGET;
  try {
    return target === 'scratch'
      ? await verifyOnScratch(runtime, manifest, options)
      : await verifyOnStaging(runtime, manifest, options);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    const message = `verification on ${target === 'scratch' ? 'the scratch server' : 'staging'} failed: ${describeError(error)}`;
    throw target === 'scratch'
      ? new ScratchServerError(message, { cause: error })
      : new RestoreFailedError(message, { cause: error });
  }
}
