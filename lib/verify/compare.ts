/**
 * The CompareRowCounts step: count every table of the manifest in staging and list the differences.
 * The result is data; the caller turns a mismatch into RowCountMismatchError once it is recorded.
 */
import type { Manifest } from '../backup/manifest.ts';
import { countRows, listTables } from '../pg/row-counts.ts';
import type { Session } from '../pg/session.ts';
import { leaseSchema } from './staging-lease.ts';

export interface TableDifference {
  schema: string;
  table: string;
  expected: number;
  actual: number;
}

export interface CompareResult {
  status: 'match' | 'mismatch';
  tablesCompared: number;
  rowsCompared: number;
  /** Tables whose counts differ (matching tables are not listed: 1,000 tables must fit a step output). */
  tables: TableDifference[];
  missing: string[];
  extra: string[];
}

const qualified = (t: { schema: string; table: string }) => `${t.schema}.${t.table}`;

export async function compareRowCounts(session: Session, manifest: Manifest): Promise<CompareResult> {
  // The staging lease is ours, not the backup's: it is never a difference.
  const present = (await listTables(session)).filter((t) => t.schema !== leaseSchema);
  const presentNames = new Set(present.map(qualified));
  const expectedNames = new Set(manifest.tables.map(qualified));
  const missing = manifest.tables.filter((t) => !presentNames.has(qualified(t)));
  const extra = present.filter((t) => !expectedNames.has(qualified(t))).map(qualified);
  const comparable = manifest.tables.filter((t) => presentNames.has(qualified(t)));
  const actual = await countRows(session, comparable);
  const actualByName = new Map(actual.map((t) => [qualified(t), t.rows]));

  const tables: TableDifference[] = [];
  for (const expected of comparable) {
    const rows = actualByName.get(qualified(expected)) ?? -1;
    if (rows !== expected.rows) {
      tables.push({ schema: expected.schema, table: expected.table, expected: expected.rows, actual: rows });
    }
  }
  const status = tables.length === 0 && missing.length === 0 && extra.length === 0 ? 'match' : 'mismatch';
  return {
    status,
    tablesCompared: comparable.length,
    rowsCompared: actual.reduce((sum, t) => sum + t.rows, 0),
    tables: tables.slice(0, 100),
    missing: missing.map(qualified).slice(0, 100),
    extra: extra.slice(0, 100),
  };
}
