/**
 * Table locks taken inside a snapshot transaction, and what they cannot prevent on their own.
 *
 * TRUNCATE and the ALTER TABLE forms that rewrite a table are not MVCC-safe: they give the table a new
 * file (relfilenode) whose rows an older snapshot cannot see. A rewrite that commits after a snapshot
 * was taken and before the table is locked therefore makes that snapshot read the table empty (or
 * without the rows the rewrite wrote), and pg_dump, the counts and the checksums all agree on it.
 * Locking afterwards stops later rewrites only; `tablesRewrittenSinceSnapshot` finds the earlier ones.
 */
import { describeError, TableLockedError, TablePrivilegeError } from '../errors.ts';
import { describeLockHolders } from './lock-holders.ts';
import { quoteIdentifier, quoteLiteral, type Session } from './session.ts';
import { dumpedRelationsFilter, inBatches, type TableName } from './tables.ts';

/** SQLSTATE lock_not_available: lock_timeout expired. */
const lockNotAvailable = '55P03';
/** SQLSTATE insufficient_privilege. */
const insufficientPrivilege = '42501';

/**
 * Locks `tables` in ACCESS SHARE mode (as pg_dump locks them) in the session's open transaction,
 * waiting at most `lockWaitSeconds` for a conflicting lock: then TableLockedError names the holder.
 * `who` starts the error messages ("counting rows", "the dump").
 */
export async function lockTablesForRead(
  session: Session,
  tables: readonly TableName[],
  lockWaitSeconds: number,
  who: string,
): Promise<void> {
  await session.query(`SET LOCAL lock_timeout = ${quoteLiteral(`${lockWaitSeconds}s`)}`);
  try {
    for (const batch of inBatches(tables)) {
      const names = batch.map((t) => `ONLY ${quoteIdentifier(t.schema)}.${quoteIdentifier(t.table)}`);
      await session.query(`LOCK TABLE ${names.join(', ')} IN ACCESS SHARE MODE`);
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== lockNotAvailable && code !== insufficientPrivilege) throw error;
    // The transaction is aborted: the lock holders are read after it ends.
    await session.query('ROLLBACK').catch(() => undefined);
    if (code === insufficientPrivilege) {
      throw new TablePrivilegeError(`${who} may not lock a table it must read: ${describeError(error)}`, {
        cause: error,
      });
    }
    throw new TableLockedError(
      `${who} waited ${lockWaitSeconds} s for a table lock and gave up: ${await describeLockHolders(session)}`,
      { cause: error, details: { lockWaitSeconds } },
    );
  }
  await session.query('SET LOCAL lock_timeout = 0');
}

/**
 * In a REPEATABLE READ transaction that holds ACCESS SHARE locks on the dumped tables: the tables whose
 * file differs between the snapshot's pg_class row and the current one (`pg_relation_filenode` reads the
 * catalog as of now, which the lock made current). Each was rewritten after the snapshot was taken, so
 * the snapshot would read its new file. VACUUM FULL and CLUSTER keep rows visible to older snapshots but
 * change the file too: a harmless false alarm that a retry settles.
 */
export async function tablesRewrittenSinceSnapshot(session: Session): Promise<string[]> {
  const { rows } = await session.query<{ table: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS table
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r'
       AND ${dumpedRelationsFilter}
       AND c.relfilenode IS DISTINCT FROM pg_catalog.pg_relation_filenode(c.oid)
     ORDER BY 1`);
  return rows.map((row) => row.table);
}
