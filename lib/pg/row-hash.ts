/**
 * The row hash of content checksums v2 and v3: PostgreSQL's own 64-bit hash of a row built from each
 * column's stored value, `hash_record_extended(ROW(...), 0)` (PostgreSQL 14 and later), instead of the
 * md5 of the row's text form. Turning every value into text was most of v1's cost; on the benchmark's
 * tables this hash is 2.6 times cheaper (docs/performance.md, "Content checksums").
 *
 * **Why v3.** `hash_record_extended` combines its column hashes linearly (rowtypes.c:
 * `result = (result << 5) - result + column_hash`, modulo 2^64), so modulo 2^64 a table's sum of row
 * hashes depends only on each column's multiset of values, not on which values share a row; the exact
 * sum differs only by how many row hashes wrapped. Values moved between rows (a column's values of two
 * rows swapped, a column rotated, two keys swapped, a stored generated column recomputed into a
 * permutation of itself) are therefore invisible to `row-hash-sum64-v2` whenever the wraps agree.
 * `row-hash-sum64-v3` passes each row's hash h through a non-linear finisher before the sum:
 * `hashint8extended(h, h)` (hashfunc.c). Its value argument is folded to 32 bits (`lo ^ hi`, so that
 * hashint8 agrees with hashint4), but its seed enters the Jenkins state whole (`a += seed >> 32;
 * b += (uint32) seed; mix(a, b, c)`) before `final()`, and the result is the 64 bits of `b` and `c`:
 * with h as the seed too, all 64 bits of h go through a full mix (h = 0 skips the mix and is one fixed
 * value like any other). `finishedRowHash` applies it to a column of a subquery, so h is computed once.
 *
 * Detection, reasoned: a row that differs in one column has another h whenever that column's two
 * hashes differ (each is multiplied by a power of 31, odd, so invertible modulo 2^64), and rows that
 * differ in several columns share an h only by a 64-bit coincidence. A changed multiset of h then leaves the exact sum of the
 * mixed values unchanged only by a coincidence of about 2^-64 per table. Measured by
 * test/integration/corruptions.test.ts: of 2,000 random permutations of one column of 2-20 rows (about
 * 1,920 of which moved a value), v3 missed none in four runs and v2 missed 33-35%; every case of its
 * table is caught on PostgreSQL 15 and 18.
 *
 * **64-bit values whole (v3).** int8, timestamp, timestamptz and time hash their 64 bits folded to 32
 * (`lo ^ hi`: hashint8extended's value argument, which their hash functions are), so under v2 two such
 * values whose halves xor alike (1 and 4,294,967,296) hash alike and a change from one to the other is
 * invisible. v3 hashes these columns by their binary send form instead (`binary` below).
 *
 * A type's hash function hashes what its equality compares, and equality is not always identity:
 * numeric 1.50 equals 1.5, float -0 equals 0, a nondeterministic collation ignores case, an enum is
 * hashed by its OID (which a restore changes). So a column is hashed by value only where that value is
 * exactly what a restore must reproduce; everything else keeps its text form:
 *
 * - `value`: integers, bool, "char", oid, date, time, timestamp, timestamptz, uuid and bytea: hashed as
 *   stored (a timestamptz as its microseconds, whatever the time zone). Under v3, int8, time, timestamp
 *   and timestamptz are `binary` instead.
 * - `binary` (v3 only): int8, time, timestamp and timestamptz, whose hash functions fold 64 bits to 32:
 *   together as one record's binary send form (`record_send(ROW(...))`: each value's 8 bytes, NULL as
 *   length -1, the built-in type's OID; a timestamptz as its microseconds, whatever the time zone).
 * - `numeric`: its binary send form (sign, weight, display scale, digits): 1.50 and 1.5 differ, NaN and
 *   the infinities differ from each other.
 * - `float8`: its IEEE bits, -0 kept, every NaN made the one NaN a restore writes.
 * - `text`: every other built-in type (text, varchar, jsonb, float4, interval, arrays of built-in
 *   types...): its text form, cast on its own (cheaper than a record's text, which quotes it) under the
 *   pinned settings of lib/pg/content.ts, and hashed as UTF-8 bytes under the "C" collation, so a
 *   column's own collation (nondeterministic or not) never decides the hash. A built-in type's cast to
 *   text is its output function (inet's also shows the netmask); char(n)'s drops trailing spaces, so
 *   char(n) is not here.
 * - `record`: char(n), domains and every type not built in (enums, composites, extension types): their
 *   text form by their output functions, together as one record's (`ROW(...)::text`). A cast would
 *   apply the base type's cast (char(n)'s) or one a type's owner created.
 *
 * Columns are taken by name in code-unit order, not by position: an inheritance child or a partition
 * restored with its columns in another order holds the same rows. Each side derives the plan from its
 * own catalog; a plan that differs from the recorded one is a difference in itself (a column missing,
 * added or of another kind of type), reported as such.
 */
import { type QuotedSql, quoteIdentifier, type Session } from './session.ts';
import { dumpedRelationsFilter, type TableName, tableKey } from './tables.ts';

export const columnHashes = ['value', 'numeric', 'float8', 'text', 'record', 'binary'] as const;
export type ColumnHash = (typeof columnHashes)[number];

/** How each column of a table is hashed, by column name in code-unit order. */
export type ColumnPlan = [name: string, hash: ColumnHash][];

/** Built-in type OIDs never change between releases: PostgreSQL assigns them in its source. */
const hashByTypeOid: ReadonlyMap<number, ColumnHash> = new Map([
  [16, 'value'], // bool
  [17, 'value'], // bytea
  [18, 'value'], // "char"
  [20, 'value'], // int8
  [21, 'value'], // int2
  [23, 'value'], // int4
  [26, 'value'], // oid
  [1082, 'value'], // date
  [1083, 'value'], // time
  [1114, 'value'], // timestamp
  [1184, 'value'], // timestamptz
  [2950, 'value'], // uuid
  [1700, 'numeric'],
  [701, 'float8'],
]);

/** int8, time, timestamp, timestamptz: their hash functions fold the 64-bit value to 32 bits. */
const foldedTo32Bits: ReadonlySet<number> = new Set([20, 1083, 1114, 1184]);

/** Objects initdb creates have OIDs below this; every type a user or an extension creates, above. */
const firstNormalObjectId = 16_384;
const bpchar = 1042;

/**
 * How a column of type `typeOid` is hashed; `domain`: the type is a domain (pg_type.typtype 'd');
 * `whole64`: 64-bit values hashed whole (v3), not folded (v2).
 */
export function columnHashOf(typeOid: number, domain = false, whole64 = false): ColumnHash {
  if (whole64 && foldedTo32Bits.has(typeOid)) return 'binary';
  const hash = hashByTypeOid.get(typeOid);
  if (hash) return hash;
  return domain || typeOid === bpchar || typeOid >= firstNormalObjectId ? 'record' : 'text';
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The plan of every table pg_dump writes, from the catalog the session sees (in a dump's snapshot, the
 * snapshot's columns). One query for all tables, keyed by `tableKey`. `whole64`: v3's plan.
 */
export async function columnPlans(session: Session, whole64 = false): Promise<Map<string, ColumnPlan>> {
  const { rows } = await session.query<{
    schema: string;
    table: string;
    column: string;
    type: number;
    domain: boolean;
  }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, a.atttypid::int AS type,
            ty.typtype = 'd' AS domain
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        AND ${dumpedRelationsFilter}`,
  );
  const plans = new Map<string, ColumnPlan>();
  for (const row of rows) {
    const plan = plans.get(tableKey(row)) ?? [];
    plan.push([row.column, columnHashOf(row.type, row.domain, whole64)]);
    plans.set(tableKey(row), plan);
  }
  for (const plan of plans.values()) plan.sort((a, b) => byCodeUnits(a[0], b[0]));
  return plans;
}

/**
 * The SQL expression of one row's hash for `plan`, over the alias `t`. `utf8Server`: the session's
 * server encoding is UTF-8, so its text already is the bytes to hash; otherwise they are converted.
 */
export function rowHashExpression(plan: ColumnPlan, utf8Server: boolean): QuotedSql {
  const column = (name: string) => `t.${quoteIdentifier(name)}`;
  const asBytes = (text: string) =>
    utf8Server
      ? `(${text})::pg_catalog.text COLLATE "C"`
      : `pg_catalog.convert_to((${text})::pg_catalog.text, 'UTF8')`;
  const parts: string[] = [];
  const recordColumns: string[] = [];
  const binaryColumns: string[] = [];
  for (const [name, hash] of plan) {
    if (hash === 'value') parts.push(column(name));
    else if (hash === 'numeric') parts.push(`pg_catalog.numeric_send(${column(name)})`);
    else if (hash === 'float8')
      parts.push(
        `pg_catalog.float8send(CASE WHEN ${column(name)} = 'NaN'::pg_catalog.float8 THEN 'NaN'::pg_catalog.float8 ELSE ${column(name)} END)`,
      );
    else if (hash === 'text') parts.push(asBytes(column(name)));
    else if (hash === 'binary') binaryColumns.push(column(name));
    else recordColumns.push(column(name));
  }
  if (recordColumns.length > 0) parts.push(asBytes(`ROW(${recordColumns.join(', ')})`));
  if (binaryColumns.length > 0) parts.push(`pg_catalog.record_send(ROW(${binaryColumns.join(', ')}))`);
  // Every part above is a quoted column name inside constant text.
  return (
    parts.length === 0 ? '0::pg_catalog.int8' : `pg_catalog.hash_record_extended(ROW(${parts.join(', ')}), 0)`
  ) as QuotedSql;
}

/** The row hash's column in the subquery that `finishedRowHash` sums over (`... AS h FROM ... ) AS r`). */
export const subqueryRowHash = 'r.h' as QuotedSql;

/**
 * A table's own rows, aliased `t` as `rowHashExpression` expects: ONLY, an inheritance parent's own
 * rows, as pg_dump writes them.
 */
export function ownRows(table: TableName): QuotedSql {
  return `ONLY ${quoteIdentifier(table.schema)}.${quoteIdentifier(table.table)} AS t` as QuotedSql;
}

/**
 * v3's finisher over a row hash `h` already computed (a column of a subquery: the argument appears twice
 * and PostgreSQL would compute an expression twice): a full non-linear mix of all 64 bits.
 */
export function finishedRowHash(h: QuotedSql): QuotedSql {
  return `pg_catalog.hashint8extended(${h}, ${h})` as QuotedSql;
}

/**
 * Names what differs between the recorded plan and the restored one, the first `limit` by name and
 * the rest counted (a table may have 1,600 columns; a step's output must stay small); empty when they
 * agree.
 */
export function planDifferences(recorded: ColumnPlan, restored: ColumnPlan, limit = 5): string[] {
  const restoredHash = new Map(restored);
  const recordedNames = new Set(recorded.map(([name]) => name));
  const differences: string[] = [];
  for (const [name, hash] of recorded) {
    const now = restoredHash.get(name);
    if (now === undefined) differences.push(`column ${quoteIdentifier(name)} missing`);
    else if (now !== hash) differences.push(`column ${quoteIdentifier(name)} is of another type`);
  }
  for (const [name] of restored) {
    if (!recordedNames.has(name)) differences.push(`column ${quoteIdentifier(name)} not in the backup`);
  }
  if (differences.length <= limit) return differences;
  const more = differences.length - limit;
  return [...differences.slice(0, limit), `and ${more} more column${more === 1 ? '' : 's'}`];
}
