/**
 * The one error catalog. An error's `name` is the contract with the state machines: ASL Retry/Catch
 * match on it, alerts print it and the runbook documents what to do for each. Keep names stable.
 *
 * `transient` marks the faults worth retrying (network, a store briefly unavailable); everything else
 * is a verdict that retrying cannot change. Messages must never contain a secret: use
 * `redactConnectionString` for anything that came from a connection string.
 */

export interface BackupErrorOptions {
  cause?: unknown;
  /** Structured, secret-free details that travel with the error into the alert. */
  details?: Record<string, unknown>;
}

export abstract class BackupError extends Error {
  abstract readonly transient: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options: BackupErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details;
  }
}

/** Execution input, CLI flags or config that does not match its schema. Names the field. */
export class InputValidationError extends BackupError {
  override readonly name = 'InputValidationError';
  readonly transient = false;
}

/** Deployment or environment configuration missing or invalid (a variable, a config file). */
export class ConfigurationError extends BackupError {
  override readonly name = 'ConfigurationError';
  readonly transient = false;
}

/**
 * The database could not be reached (refused, DNS, timeout, a connection cut off). Worth a retry. TLS
 * verdicts have names of their own (DatabaseTlsRequiredError and its siblings below).
 */
export class DatabaseUnreachableError extends BackupError {
  override readonly name = 'DatabaseUnreachableError';
  readonly transient = true;
}

/** The database refused our credentials or privileges. Retrying will not help. */
export class DatabaseAuthError extends BackupError {
  override readonly name = 'DatabaseAuthError';
  readonly transient = false;
}

/**
 * The server has no database of that name (SQLSTATE 3D000): a typo in the stage's database list, or a
 * database dropped since. In a stage with several databases only that database's run fails.
 */
export class DatabaseNotFoundError extends BackupError {
  override readonly name = 'DatabaseNotFoundError';
  readonly transient = false;
}

/**
 * The server accepts only encrypted connections (pg_hba `hostssl`) and this one had no TLS, because the
 * connection string says sslmode=disable. PostgreSQL reports it as an authorization failure (SQLSTATE
 * 28000, "no encryption"), but the password is not at fault: the sslmode is.
 */
export class DatabaseTlsRequiredError extends BackupError {
  override readonly name = 'DatabaseTlsRequiredError';
  readonly transient = false;
}

/**
 * The connection requires TLS (sslmode=require or stricter; a connection string without sslmode does,
 * to any non-local host) and the server does not offer it.
 */
export class DatabaseTlsUnavailableError extends BackupError {
  override readonly name = 'DatabaseTlsUnavailableError';
  readonly transient = false;
}

/**
 * With sslmode=verify-ca or verify-full the server's certificate did not verify: no trusted CA signed
 * it (sslrootcert, else the pg-client bundle's CA list), it expired, or it does not name the host.
 */
export class DatabaseCertificateError extends BackupError {
  override readonly name = 'DatabaseCertificateError';
  readonly transient = false;
}

/** No bundled client can talk to this server (pg_dump refuses servers newer than itself). */
export class PgClientVersionError extends BackupError {
  override readonly name = 'PgClientVersionError';
  readonly transient = false;
}

/** The pg-client bundle is missing or incomplete where it was expected. */
export class PgClientMissingError extends BackupError {
  override readonly name = 'PgClientMissingError';
  readonly transient = false;
}

/** Building the pg-client bundle failed (download, checksum, extraction). */
export class PgClientBuildError extends BackupError {
  override readonly name = 'PgClientBuildError';
  readonly transient = false;
}

/** pg_dump exited non-zero or its connection died mid-dump. Retrying dumps again from scratch. */
export class DumpFailedError extends BackupError {
  override readonly name = 'DumpFailedError';
  readonly transient = true;
}

/**
 * Another session held a table lock that conflicts with reading it (ACCESS EXCLUSIVE: ALTER TABLE,
 * VACUUM FULL, TRUNCATE, an explicit LOCK) for longer than the dump's lock wait. Transient: the backup
 * retries; the message names the table and the holding session, never its query text.
 */
export class TableLockedError extends BackupError {
  override readonly name = 'TableLockedError';
  readonly transient = true;
}

/** Exporting the snapshot or counting rows in it failed. */
export class SnapshotError extends BackupError {
  override readonly name = 'SnapshotError';
  readonly transient = true;
}

/**
 * A table was rewritten (TRUNCATE, an ALTER TABLE that rewrites it, VACUUM FULL, CLUSTER) between the
 * moment the dump's snapshot was taken and the moment its tables were locked, at every attempt the dump
 * made. Rewrites are not MVCC-safe: the old snapshot would read the new file, so a truncated table would
 * be dumped, counted and "verified" empty. The tables are named.
 */
export class TableRewrittenDuringDumpError extends BackupError {
  override readonly name = 'TableRewrittenDuringDumpError';
  readonly transient = false;
}

/**
 * The backup role may not read a table or sequence pg_dump must read (no SELECT, or only a column-level
 * grant, or no USAGE on its schema). The tables and the GRANT to run are named.
 */
export class TablePrivilegeError extends BackupError {
  override readonly name = 'TablePrivilegeError';
  readonly transient = false;
}

/**
 * Row-level security applies to the backup role on a table (FORCE ROW LEVEL SECURITY, or RLS on a table
 * it neither owns nor inherits the owner's role of, without BYPASSRLS): pg_dump runs with row_security=off and fails rather than dump
 * only the rows a policy shows. The tables are named.
 */
export class TableRowSecurityError extends BackupError {
  override readonly name = 'TableRowSecurityError';
  readonly transient = false;
}

/** The object store failed or was unreachable (5xx, timeout, connection reset). */
export class StorageUnavailableError extends BackupError {
  override readonly name = 'StorageUnavailableError';
  readonly transient = true;
}

/** An object the pipeline needs is not in the store (a backup id that does not exist). */
export class BackupNotFoundError extends BackupError {
  override readonly name = 'BackupNotFoundError';
  readonly transient = false;
}

/** A manifest is missing fields, is not JSON, or has an unknown version. */
export class ManifestInvalidError extends BackupError {
  override readonly name = 'ManifestInvalidError';
  readonly transient = false;
}

/** The stored object's SHA-256 or size differs from the manifest: the backup is corrupt. */
export class ChecksumMismatchError extends BackupError {
  override readonly name = 'ChecksumMismatchError';
  readonly transient = false;
}

/**
 * `pg_restore --list` could not read the archive, or the stream reader of the content proof could not
 * (lib/pg/archive-stream.ts; the Dump step then falls back to a scan and never raises it).
 */
export class ArchiveUnreadableError extends BackupError {
  override readonly name = 'ArchiveUnreadableError';
  readonly transient = false;
}

/**
 * A backup of one database would land in the vault of another: the vault's record (or, in a bucket
 * written before vaults recorded their database, its newest manifest) names another database or another
 * server. The message says which, and what to configure.
 */
export class VaultDatabaseMismatchError extends BackupError {
  override readonly name = 'VaultDatabaseMismatchError';
  readonly transient = false;
}

/**
 * A restore was asked for a backup that is not verified (no valid verification record, or a later
 * check failed). The message says why; `--allow-unverified` restores it anyway.
 */
export class BackupUnverifiedError extends BackupError {
  override readonly name = 'BackupUnverifiedError';
  readonly transient = false;
}

/** The restore target is the production server, or has not opted in to being overwritten. */
export class ProductionTargetError extends BackupError {
  override readonly name = 'ProductionTargetError';
  readonly transient = false;
}

/** pg_restore reported errors that are not on the known-benign list. */
export class RestoreFailedError extends BackupError {
  override readonly name = 'RestoreFailedError';
  readonly transient = false;
}

/** Another execution holds the staging lock; running both would interleave restores. */
export class StagingBusyError extends BackupError {
  override readonly name = 'StagingBusyError';
  readonly transient = true;
}

/**
 * The backup uses an extension the scratch server does not offer (pgvector, PostGIS, ...). Raised before
 * any restore work; the message names the extension and the config line that adds it.
 */
export class ExtensionMissingError extends BackupError {
  override readonly name = 'ExtensionMissingError';
  readonly transient = false;
}

/** Too little free disk where the dump and the scratch server's data would go (checked before initdb). */
export class InsufficientSpaceError extends BackupError {
  override readonly name = 'InsufficientSpaceError';
  readonly transient = false;
}

/**
 * The disk of the verifying step filled up after the space check before initdb had passed: the restore
 * (a table, an index, WAL) or the dump's download grew into it. `details` carries the sizes: the free
 * bytes at the start, the database's size from the manifest, the dump's size and what the check asked.
 */
export class ScratchDiskFullError extends BackupError {
  override readonly name = 'ScratchDiskFullError';
  readonly transient = false;
}

/**
 * The scratch server could not be created or started, or died while the backup was restored into it.
 * The message carries the last lines of the server's log (which never hold a secret: it is ours).
 */
export class ScratchServerError extends BackupError {
  override readonly name = 'ScratchServerError';
  readonly transient = false;
}

/** No scratch server of the backup's PostgreSQL major or a newer one is available to restore into. */
export class ScratchServerVersionError extends BackupError {
  override readonly name = 'ScratchServerVersionError';
  readonly transient = false;
}

/** Row counts in staging differ from the manifest. The diff is in `details`. */
export class RowCountMismatchError extends BackupError {
  override readonly name = 'RowCountMismatchError';
  readonly transient = false;
}

/**
 * Every row count matched, but the content checksums of the restored copy did not (tables, large
 * objects or sequences; named in the message and `details`, never their values).
 */
export class ContentMismatchError extends BackupError {
  override readonly name = 'ContentMismatchError';
  readonly transient = false;
}

/** A step gave up just before Lambda's own timeout, after cleaning up. */
export class StepTimeoutError extends BackupError {
  override readonly name = 'StepTimeoutError';
  readonly transient = false;
}

/** Publishing a notification failed (SNS, Slack). */
export class NotificationError extends BackupError {
  override readonly name = 'NotificationError';
  readonly transient = true;
}

/**
 * A restore drill restored the backup but its checks failed: row counts differ from the manifest, a
 * sanity check's result missed its expectation, or the observed RTO exceeded the target. The evidence
 * (with every result) is recorded before this is raised.
 */
export class DrillCheckFailedError extends BackupError {
  override readonly name = 'DrillCheckFailedError';
  readonly transient = false;
}

/**
 * The database provider's own backup state could not be read (Render API refused, failed or answered
 * in an unexpected shape), or it reports that its point-in-time recovery is not available. Raised by
 * the status function outside any state machine: its next scheduled run is the retry.
 */
export class ProviderBackupError extends BackupError {
  override readonly name = 'ProviderBackupError';
  readonly transient = false;
}

/**
 * Render's point-in-time recovery window is shorter than the plan needs (`render.minRecoveryDays`,
 * default 7): a Hobby workspace keeps 3 days, Professional and higher 7, and a database (or a plan
 * upgrade) younger than the window has not filled it yet. Our own verified backups are unaffected; the
 * second line covers fewer days than promised. Alerted once when it starts, not on every status run.
 */
export class ProviderRecoveryWindowError extends BackupError {
  override readonly name = 'ProviderRecoveryWindowError';
  readonly transient = false;
}

/**
 * Render's newest logical export is older than `render.maxExportAgeHours`, or there is none (Render
 * keeps exports 7 days). Alerted once when it starts, not on every status run.
 */
export class ProviderExportStaleError extends BackupError {
  override readonly name = 'ProviderExportStaleError';
  readonly transient = false;
}

/**
 * Render's newest export failed the second-line drill (`backupctl drill --render`): its signed link was
 * refused (expired), it is not a gzip'd tar of a PostgreSQL directory-format archive, it is truncated,
 * it restored with errors, or its tables or row counts differ from our nearest verified backup beyond
 * the stated drift. Our own line's status is unaffected; the cause says which.
 */
export class ProviderDrillFailedError extends BackupError {
  override readonly name = 'ProviderDrillFailedError';
  readonly transient = false;
}

/**
 * A step ran on the long-running worker (CodeBuild) and the build ended without a result record:
 * killed, out of memory, stopped at its timeout, or it could not start. The cause names the build, its
 * status and phase; nothing it did is marked verified.
 */
export class WorkerFailedError extends BackupError {
  override readonly name = 'WorkerFailedError';
  readonly transient = false;
}

/** The worker's result record exists but is not one (truncated, another schema): never a success. */
export class WorkerResultInvalidError extends BackupError {
  override readonly name = 'WorkerResultInvalidError';
  readonly transient = false;
}

/**
 * A step answered outside its own contract (lib/lambda/step.ts): the state machine would hand the next
 * step a shape it does not take. Checked where outputs are checked (local runs, tests): a fault of our
 * code, never of the data.
 */
export class StepContractError extends BackupError {
  override readonly name = 'StepContractError';
  readonly transient = false;
}

/**
 * After a restore with roles, owners or grants in the target differ from those the manifest recorded
 * in the dump's snapshot (a role the target refused to create, a grant it refused): the restore is not
 * the production setup. The cause names the objects, never data.
 */
export class OwnershipMismatchError extends BackupError {
  override readonly name = 'OwnershipMismatchError';
  readonly transient = false;
}

/**
 * The production database carries the restore-target opt-in (its comment is the marker): a restore that
 * reaches it by any alias could overwrite it. The Dump step refuses until its owner removes it
 * (`COMMENT ON DATABASE <db> IS NULL`; the runbook's switch-over does it as its own step).
 */
export class ProductionOptedInError extends BackupError {
  override readonly name = 'ProductionOptedInError';
  readonly transient = false;
}

/**
 * Another local run (`backupctl backup|check|restore|demo --local`) holds the same state directory and
 * its servers; the message names its pid. Wait for it, or give this run another BACKUP_LOCAL_STATE_DIR.
 */
export class LocalStateBusyError extends BackupError {
  override readonly name = 'LocalStateBusyError';
  readonly transient = false;
}

export const errorCatalog = {
  InputValidationError,
  ConfigurationError,
  DatabaseUnreachableError,
  DatabaseAuthError,
  DatabaseNotFoundError,
  DatabaseTlsRequiredError,
  DatabaseTlsUnavailableError,
  DatabaseCertificateError,
  PgClientVersionError,
  PgClientMissingError,
  PgClientBuildError,
  DumpFailedError,
  TableLockedError,
  SnapshotError,
  TableRewrittenDuringDumpError,
  TablePrivilegeError,
  TableRowSecurityError,
  StorageUnavailableError,
  BackupNotFoundError,
  ManifestInvalidError,
  ChecksumMismatchError,
  ArchiveUnreadableError,
  ProductionTargetError,
  RestoreFailedError,
  StagingBusyError,
  ExtensionMissingError,
  InsufficientSpaceError,
  ScratchDiskFullError,
  ScratchServerError,
  ScratchServerVersionError,
  RowCountMismatchError,
  ContentMismatchError,
  StepTimeoutError,
  NotificationError,
  DrillCheckFailedError,
  ProviderBackupError,
  ProviderRecoveryWindowError,
  ProviderExportStaleError,
  ProviderDrillFailedError,
  WorkerFailedError,
  WorkerResultInvalidError,
  StepContractError,
  OwnershipMismatchError,
  ProductionOptedInError,
  LocalStateBusyError,
  VaultDatabaseMismatchError,
  BackupUnverifiedError,
} as const;

export type ErrorName = keyof typeof errorCatalog;

/** Errors that say the backup itself failed verification (not that something was unreachable). */
export const verificationErrorNames: readonly string[] = [
  'ChecksumMismatchError',
  'ArchiveUnreadableError',
  'RowCountMismatchError',
  'ContentMismatchError',
  'DrillCheckFailedError',
  'OwnershipMismatchError',
] satisfies ErrorName[];

export const transientErrorNames: readonly ErrorName[] = (Object.keys(errorCatalog) as ErrorName[]).filter(
  (name) => new errorCatalog[name]('probe').transient,
);

/** Replaces the password (and any `password=` parameter) in a connection string with `***`. */
export function redactConnectionString(text: string): string {
  return text
    .replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@')
    .replace(/(password\s*=\s*)('[^']*'|[^\s&]+)/gi, '$1***');
}

/** A secret-free one-line description of any thrown value, for causes and logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return redactConnectionString(`${error.name}: ${error.message}`);
  return redactConnectionString(String(error));
}
