/**
 * Exact row counts of every table whose rows pg_dump writes: ordinary tables and partitions (leaf
 * relations, so a partitioned table's rows are not counted twice), unlogged tables included, in every
 * schema but the system ones, excluding tables that belong to an extension (pg_dump skips their data).
 */
import {
  type ContentAlgorithm,
  type LargeObjectContent,
  largeObjectContent,
  pinContentSettings,
  tableContent,
} from './content.ts';
import type { ColumnPlan } from './row-hash.ts';
import { quoteIdentifier, quoteLiteral, type Session } from './session.ts';
import { lockTablesForRead } from './table-locks.ts';
import { dumpedRelationsFilter, inBatches, type TableName } from './tables.ts';

export interface TableRowCount {
  schema: string;
  table: string;
  rows: number;
}

const listTablesSql = `
  SELECT n.nspname AS schema, c.relname AS table
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r'
     AND ${dumpedRelationsFilter}
   ORDER BY 1, 2`;

export async function listTables(session: Session): Promise<TableName[]> {
  const { rows } = await session.query<TableName>(listTablesSql);
  return rows;
}

/** Counts `tables` on `session` in whatever transaction/snapshot the session is in. */
export async function countRows(session: Session, tables: readonly TableName[]): Promise<TableRowCount[]> {
  const counts: TableRowCount[] = [];
  for (const batch of inBatches(tables)) {
    // Identifiers are quoted, never interpolated raw; the ordinal maps each count back to its table.
    // ONLY: an inheritance parent's own rows, as pg_dump writes them (its children are counted apart).
    const sql = batch
      .map(
        (t, i) =>
          `SELECT ${i}::int AS i, count(*)::text AS n FROM ONLY ${quoteIdentifier(t.schema)}.${quoteIdentifier(t.table)}`,
      )
      .join(' UNION ALL ');
    const { rows } = await session.query<{ i: number; n: string }>(sql);
    for (const row of rows) {
      const table = batch[row.i];
      if (table) counts.push({ schema: table.schema, table: table.table, rows: Number(row.n) });
    }
  }
  return counts;
}

/** How long the dump waits for a table lock before it gives up with TableLockedError (pg_dump too). */
export const defaultLockWaitSeconds = 120;

/**
 * Opens a REPEATABLE READ transaction on `session` that sees exactly `snapshotId` (exported by
 * another session that must stay open until this call returns), then lists and counts the tables.
 *
 * The tables are locked first (ACCESS SHARE, as pg_dump locks them), waiting at most
 * `lockWaitSeconds`: a table held by an ALTER TABLE or VACUUM FULL fails fast with TableLockedError
 * instead of stalling until the Lambda timeout. Locking here does not make the snapshot safe from a
 * rewrite that committed before the lock (lib/pg/table-locks.ts): the Dump step checks for those while
 * the session that exported the snapshot holds the same locks, before pg_dump starts.
 */
export async function countRowsInSnapshot(
  session: Session,
  snapshotId: string,
  options: { lockWaitSeconds?: number } = {},
): Promise<TableRowCount[]> {
  return (await measureInSnapshot(session, snapshotId, options)).tables;
}

export interface SnapshotMeasure {
  /** Every table's count; with `content`, also its checksum (lib/pg/content.ts) and column plan. */
  tables: (TableRowCount & { checksum?: string; columns?: ColumnPlan })[];
  /** With `content`: the algorithm of the checksums and the large objects' checksum. */
  content?: { algorithm: ContentAlgorithm; largeObjects: LargeObjectContent };
}

/**
 * `countRowsInSnapshot`, and with `content` each table's content checksum under that algorithm in the
 * same scan and the large objects' checksum, under the pinned settings that make values' text forms
 * comparable.
 */
export async function measureInSnapshot(
  session: Session,
  snapshotId: string,
  options: {
    lockWaitSeconds?: number;
    content?: ContentAlgorithm;
    /**
     * The session that exported the snapshot holds ACCESS SHARE on every table until this call has
     * returned (the Dump step): locking again would only add one lock per table to the server's shared
     * lock table (max_locks_per_transaction), and queue behind any ALTER TABLE waiting for that session.
     */
    tablesLockedByExporter?: boolean;
  },
): Promise<SnapshotMeasure> {
  const lockWaitSeconds = options.lockWaitSeconds ?? defaultLockWaitSeconds;
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    await session.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshotId)}`);
    const tables = await listTables(session);
    if (!options.tablesLockedByExporter)
      await lockTablesForRead(session, tables, lockWaitSeconds, 'counting rows');
    if (!options.content) return { tables: await countRows(session, tables) };
    await pinContentSettings(session, 'LOCAL');
    return {
      tables: await tableContent(session, tables, options.content),
      content: { algorithm: options.content, largeObjects: await largeObjectContent(session) },
    };
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}
