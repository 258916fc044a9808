/**
 * One execution at a time on the staging database. RestoreToStaging takes a lease before it resets
 * staging and CompareRowCounts gives it back once its verdict is in, so a second execution can never
 * reset or restore over a restore that is still being compared.
 *
 * An advisory lock cannot do this: restore and compare are separate Lambda invocations with separate
 * connections. The lease is one row in the staging database itself, so it is exactly as wide as what
 * it protects (two staging databases on one server do not block each other), needs no privilege the
 * restore does not already need, and lives where the restore's guard has already been passed: it is
 * only ever written after `assertSafeRestoreTarget`, never on production.
 *
 * The row lives in the schema `verified_pg_backups_lease`, which the staging reset skips and the
 * comparison ignores (the name is reserved: a production schema of that name is not supported).
 * The owner is the backup id: unique per execution and the same across retries of its steps, so a
 * retried restore takes its own lease again. A holder that dies without releasing (a Lambda killed
 * at its timeout, a compare that failed after all retries) blocks staging until the lease expires.
 * Expiry is the database's clock, never the Lambda's.
 */
import { StagingBusyError } from '../errors.ts';
import { quoteIdentifier, type Session } from '../pg/session.ts';

export const leaseSchema = 'verified_pg_backups_lease';
const leaseTable = `${quoteIdentifier(leaseSchema)}.${quoteIdentifier('staging_lease')}`;

/**
 * How long a lease lives without being renewed. Each holder step renews it when it starts and runs at
 * most one Lambda timeout (900 s), and the next holder step starts within a retry interval, so a live
 * holder never sees its lease expire; a dead one blocks staging for half an hour at most.
 */
export const stagingLeaseSeconds = 1800;

// Serializes creating the schema and taking the lease within one database (advisory locks are
// per database). The key is arbitrary but fixed: hashtext('verified_pg_backups_lease').
const setupLockKey = 'verified_pg_backups_lease';

export interface LeaseOwner {
  /** The backup id: the same for every retry of one execution's steps. */
  owner: string;
  /** The execution that holds it, for the operator reading a StagingBusyError. */
  executionId?: string | undefined;
  seconds?: number;
}

export interface Lease {
  owner: string;
  executionId: string | null;
  acquiredAt: string;
  expiresAt: string;
}

interface LeaseRow {
  owner: string;
  execution_id: string | null;
  acquired_at: Date;
  expires_at: Date;
}

const toLease = (row: LeaseRow): Lease => ({
  owner: row.owner,
  executionId: row.execution_id,
  acquiredAt: row.acquired_at.toISOString(),
  expiresAt: row.expires_at.toISOString(),
});

function busy(holder: Lease | undefined, wanted: string, what: string): StagingBusyError {
  const who = holder
    ? `held by backup ${holder.owner}${holder.executionId ? ` (execution ${holder.executionId})` : ''} since ${holder.acquiredAt}, until ${holder.expiresAt} at the latest`
    : 'not held by anyone';
  return new StagingBusyError(`${what} for backup ${wanted}: the staging database is ${who}`, {
    details: { holder: holder ?? null },
  });
}

async function inTransaction<T>(session: Session, work: () => Promise<T>): Promise<T> {
  await session.query('BEGIN');
  try {
    const result = await work();
    await session.query('COMMIT');
    return result;
  } catch (error) {
    await session.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Takes the lease for `owner`, or renews it when `owner` already holds it. A live lease of another
 * owner fails with StagingBusyError before anything in staging is touched; an expired one is taken over.
 */
export async function acquireStagingLease(session: Session, request: LeaseOwner): Promise<Lease> {
  const seconds = request.seconds ?? stagingLeaseSeconds;
  return inTransaction(session, async () => {
    await session.query('SELECT pg_advisory_xact_lock(hashtext($1))', [setupLockKey]);
    await session.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(leaseSchema)}`);
    await session.query(
      `CREATE TABLE IF NOT EXISTS ${leaseTable} (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         owner text NOT NULL,
         execution_id text,
         acquired_at timestamptz NOT NULL,
         expires_at timestamptz NOT NULL)`,
    );
    const { rows } = await session.query<LeaseRow>(
      `INSERT INTO ${leaseTable} AS lease (owner, execution_id, acquired_at, expires_at)
       VALUES ($1, $2, now(), now() + make_interval(secs => $3))
       ON CONFLICT (singleton) DO UPDATE
          SET owner = excluded.owner,
              execution_id = excluded.execution_id,
              acquired_at = CASE WHEN lease.owner = excluded.owner THEN lease.acquired_at ELSE now() END,
              expires_at = excluded.expires_at
        WHERE lease.owner = excluded.owner OR lease.expires_at <= now()
       RETURNING owner, execution_id, acquired_at, expires_at`,
      [request.owner, request.executionId ?? null, seconds],
    );
    const taken = rows[0];
    if (taken) return toLease(taken);
    const holder = await session.query<LeaseRow>(
      `SELECT owner, execution_id, acquired_at, expires_at FROM ${leaseTable}`,
    );
    const row = holder.rows[0];
    throw busy(row && toLease(row), request.owner, 'cannot restore into staging');
  });
}

/**
 * Renews the lease `owner` must still hold. Fails with StagingBusyError when it is gone or another
 * execution took it over after it expired: staging may then no longer hold this backup's restore.
 */
export async function confirmStagingLease(session: Session, request: LeaseOwner): Promise<Lease> {
  const seconds = request.seconds ?? stagingLeaseSeconds;
  const exists = await leaseTableExists(session);
  const { rows } = exists
    ? await session.query<LeaseRow>(
        `UPDATE ${leaseTable} SET expires_at = now() + make_interval(secs => $2)
          WHERE owner = $1
        RETURNING owner, execution_id, acquired_at, expires_at`,
        [request.owner, seconds],
      )
    : { rows: [] };
  const renewed = rows[0];
  if (renewed) return toLease(renewed);
  const holder = exists ? await readStagingLease(session) : undefined;
  throw busy(holder, request.owner, 'staging lease lost before the comparison');
}

/** Gives the lease back if `owner` holds it; never touches another owner's lease. */
export async function releaseStagingLease(session: Session, owner: string): Promise<boolean> {
  if (!(await leaseTableExists(session))) return false;
  const { rowCount } = await session.query(`DELETE FROM ${leaseTable} WHERE owner = $1`, [owner]);
  return (rowCount ?? 0) > 0;
}

/** The current lease, live or expired, if any. */
export async function readStagingLease(session: Session): Promise<Lease | undefined> {
  if (!(await leaseTableExists(session))) return undefined;
  const { rows } = await session.query<LeaseRow>(
    `SELECT owner, execution_id, acquired_at, expires_at FROM ${leaseTable}`,
  );
  const row = rows[0];
  return row && toLease(row);
}

async function leaseTableExists(session: Session): Promise<boolean> {
  const { rows } = await session.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
    leaseTable,
  ]);
  return rows[0]?.found === true;
}
