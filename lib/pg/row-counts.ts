/**
 * Exact row counts of every table whose rows pg_dump writes: ordinary tables and partitions (leaf
 * relations, so a partitioned table's rows are not counted twice), unlogged tables included, in every
 * schema but the system ones, excluding tables that belong to an extension (pg_dump skips their data).
 */
import { quoteIdentifier, quoteLiteral, type Session } from './session.ts';

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
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_toast%'
     AND n.nspname NOT LIKE 'pg\\_temp\\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
   ORDER BY 1, 2`;

export async function listTables(session: Session): Promise<{ schema: string; table: string }[]> {
  const { rows } = await session.query<{ schema: string; table: string }>(listTablesSql);
  return rows;
}

const batchSize = 50;

/** Counts `tables` on `session` in whatever transaction/snapshot the session is in. */
export async function countRows(
  session: Session,
  tables: readonly { schema: string; table: string }[],
): Promise<TableRowCount[]> {
  const counts: TableRowCount[] = [];
  for (let start = 0; start < tables.length; start += batchSize) {
    const batch = tables.slice(start, start + batchSize);
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

/**
 * Opens a REPEATABLE READ transaction on `session` that sees exactly `snapshotId` (exported by
 * another session that must stay open until this call returns), then lists and counts the tables.
 */
export async function countRowsInSnapshot(session: Session, snapshotId: string): Promise<TableRowCount[]> {
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    await session.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshotId)}`);
    const tables = await listTables(session);
    return await countRows(session, tables);
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}
