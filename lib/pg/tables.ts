/** A table as the manifest names it, how it is shown, and the batching every per-table query uses. */
import { quoteIdentifier } from './session.ts';

export type TableName = { schema: string; table: string };

/** Identity of a table as a map key: `a."b.c"` and `"a.b".c` are different tables with the same dotted spelling. */
export const tableKey = (t: TableName) => JSON.stringify([t.schema, t.table]);

/** Readable and unambiguous: a part is quoted only when it holds a dot, a quote or white space. */
const displayPart = (part: string) => (/[."\s]/u.test(part) ? quoteIdentifier(part) : part);
export const qualified = (t: TableName) => `${displayPart(t.schema)}.${displayPart(t.table)}`;

const batchSize = 50;

/** Tables in groups of `batchSize`: one statement per group instead of one per table. */
export function inBatches<T>(items: readonly T[]): T[][] {
  const batches: T[][] = [];
  for (let start = 0; start < items.length; start += batchSize)
    batches.push(items.slice(start, start + batchSize));
  return batches;
}

/**
 * The relations of `pg_class c` (joined to `pg_namespace n`) whose data pg_dump writes: outside the
 * system schemas, and not members of an extension. The counts, the sequences of the content checksums
 * and the check command all read this set.
 */
export const dumpedRelationsFilter = `n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_toast%'
     AND n.nspname NOT LIKE 'pg\\_temp\\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;
