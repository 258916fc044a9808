/**
 * The CompareRowCounts step: count every table of the manifest in staging and list the differences.
 * The result is data; the caller turns a mismatch into RowCountMismatchError once it is recorded.
 */
import type { Manifest } from '../backup/manifest.ts';
import { RowCountMismatchError } from '../errors.ts';
import { countRows, listTables } from '../pg/row-counts.ts';
import { quoteIdentifier, type Session } from '../pg/session.ts';
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

type TableName = { schema: string; table: string };
/** Identity of a table: `a."b.c"` and `"a.b".c` are different tables with the same dotted spelling. */
const key = (t: TableName) => JSON.stringify([t.schema, t.table]);
/** Readable and unambiguous: a part is quoted only when it holds a dot, a quote or white space. */
const displayPart = (part: string) => (/[."\s]/u.test(part) ? quoteIdentifier(part) : part);
export const qualified = (t: TableName) => `${displayPart(t.schema)}.${displayPart(t.table)}`;

export async function compareRowCounts(session: Session, manifest: Manifest): Promise<CompareResult> {
  // The staging lease is ours, not the backup's: it is never a difference.
  const present = (await listTables(session)).filter((t) => t.schema !== leaseSchema);
  const presentNames = new Set(present.map(key));
  const expectedNames = new Set(manifest.tables.map(key));
  const missing = manifest.tables.filter((t) => !presentNames.has(key(t)));
  const extra = present.filter((t) => !expectedNames.has(key(t))).map(qualified);
  const comparable = manifest.tables.filter((t) => presentNames.has(key(t)));
  const actual = await countRows(session, comparable);
  const actualByName = new Map(actual.map((t) => [key(t), t.rows]));

  const tables: TableDifference[] = [];
  for (const expected of comparable) {
    const rows = actualByName.get(key(expected)) ?? -1;
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

/** The differences as people read them, the first few of each kind. */
export function describeDifferences(result: CompareResult, limit = 5): string[] {
  return [
    ...result.tables.slice(0, limit).map((t) => `${qualified(t)}: expected ${t.expected}, found ${t.actual}`),
    ...result.missing.slice(0, limit).map((name) => `${name}: missing`),
    ...result.extra.slice(0, limit).map((name) => `${name}: not in the backup`),
  ];
}

/** A mismatch becomes RowCountMismatchError with the diff, once the result has been recorded. */
export function assertCountsMatch(result: CompareResult, backupId: string, where: string): void {
  if (result.status === 'match') return;
  throw new RowCountMismatchError(
    `row counts in ${where} differ from the manifest of ${backupId} (${result.tables.length} differ, ${result.missing.length} missing, ${result.extra.length} extra): ${describeDifferences(result).join('; ')}`,
    { details: { ...result } },
  );
}
