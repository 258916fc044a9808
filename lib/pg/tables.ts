/** A table as the manifest names it, how it is shown, and the batching every per-table query uses. */
import { quoteIdentifier } from './session.ts';

export type TableName = { schema: string; table: string };

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
