/**
 * Content checksums: proof that the restored rows are the same rows, not only as many.
 *
 * Per table, one scan: the row count and the exact sum (as numeric) of a signed 64-bit hash of each
 * row. A sum, not a xor: two equal rows of a table without a key add up instead of cancelling out; the
 * order of the rows does not matter. All of it runs inside PostgreSQL: Node only reads one number per
 * table. Three row hashes exist, and the manifest names the one its checksums were taken with:
 *
 * - `row-hash-sum64-v3` (PostgreSQL 14 and later): each column hashed by its stored value where that
 *   value is exactly what a restore must reproduce, by its text form otherwise, and the row's hash
 *   mixed by a non-linear finisher before the sum; 64-bit values (int8, time, timestamp,
 *   timestamptz) hashed whole, not folded to 32 bits (lib/pg/row-hash.ts).
 * - `row-hash-sum64-v2` (manifests written before v3): the same row hash without the finisher. Its sum
 *   depends only on each column's multiset of values, so it cannot see values moved between rows; its
 *   manifests are still compared, and the proof says it is the weak one (`proofLabel`).
 * - `row-md5-sum64-v1` (PostgreSQL 13 or older, and every manifest written before v2): the first 64
 *   bits of the md5 of the row's text form in UTF-8, `md5(convert_to(ROW(t.*)::text, 'UTF8'))`.
 *
 * The text form of a value depends on session settings (time zone, date and interval style, float
 * digits, bytea format, search_path for reg* types, the money locale), so both sides pin them
 * (`pinContentSettings`), and on the server encoding, so text is hashed as UTF-8 whatever the
 * database's encoding is. `ROW(t.*)` rather than `t`: a column named like the alias would win over it.
 *
 * Large objects: their count and the same sum over md5(oid ':' md5(data)). Sequences are not data of
 * the snapshot (nextval is not transactional): their values are read when the snapshot is taken, before
 * pg_dump starts, and a restored sequence must not be behind them.
 */

import {
  type ColumnPlan,
  columnPlans,
  finishedRowHash,
  ownRows,
  rowHashExpression,
  subqueryRowHash,
} from './row-hash.ts';
import { quoteLiteral, type Session } from './session.ts';
import { dumpedRelationsFilter, inBatches, qualified, type TableName, tableKey } from './tables.ts';

/** Names each checksum's definition in the manifest, so two definitions are never compared. */
export const contentAlgorithms = ['row-md5-sum64-v1', 'row-hash-sum64-v2', 'row-hash-sum64-v3'] as const;
export type ContentAlgorithm = (typeof contentAlgorithms)[number];

/** The algorithms that hash a row by its columns' stored values and record each table's column plan. */
export const columnPlanAlgorithms: readonly string[] = ['row-hash-sum64-v2', 'row-hash-sum64-v3'];

/** v2 and v3 need `hash_record_extended`, new in PostgreSQL 14. */
const rowHashSince = 140000;

/** The algorithm a new dump records on a server of `serverVersionNum`. */
export function contentAlgorithmFor(serverVersionNum: number): ContentAlgorithm {
  return serverVersionNum >= rowHashSince ? 'row-hash-sum64-v3' : 'row-md5-sum64-v1';
}

/**
 * The algorithm of a manifest's checksums (a string read from storage) if a server of
 * `serverVersionNum` can take them: undefined for an algorithm we do not know (a later one is never
 * compared across) or v2/v3 on a server older than 14.
 */
export function takeableAlgorithm(algorithm: string, serverVersionNum: number): ContentAlgorithm | undefined {
  if (algorithm === 'row-md5-sum64-v1') return algorithm;
  if (
    (algorithm === 'row-hash-sum64-v2' || algorithm === 'row-hash-sum64-v3') &&
    serverVersionNum >= rowHashSince
  )
    return algorithm;
  return undefined;
}

/** The proof of a v2 manifest's checksums, which cannot see values moved between rows. */
export const weakChecksumsLabel = 'checksums-v2 (weak: cannot see values moved between rows)';

/**
 * How a proof by checksums of `algorithm` is named where people read it (the verification record,
 * status): each version with what it cannot see. v2 cannot see values moved between rows.
 */
export function checksumsProofLabel(algorithm: string | undefined): string {
  if (algorithm === 'row-hash-sum64-v2') return weakChecksumsLabel;
  if (algorithm === 'row-hash-sum64-v3') return 'checksums-v3';
  if (algorithm === 'copy-text-murmur3-sum64-v4') return 'checksums-v4';
  if (algorithm === 'row-md5-sum64-v1') return 'checksums-v1';
  return 'checksums';
}

/** The session settings that make every value's text form the same on both servers. */
export const contentSettings: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  bytea_output: 'hex',
  search_path: 'pg_catalog',
  lc_monetary: 'C',
};

/** Pins `contentSettings` for the current transaction (SET LOCAL) or, outside one, for the session. */
export async function pinContentSettings(session: Session, scope: 'LOCAL' | 'SESSION'): Promise<void> {
  for (const [name, value] of Object.entries(contentSettings)) {
    await session.query(`SET ${scope} ${name} = ${quoteLiteral(value)}`);
  }
}

export interface TableContent extends TableName {
  rows: number;
  /** The exact sum of the rows' 64-bit hashes, as a decimal string. */
  checksum: string;
  /** v2 and v3: how each column was hashed. */
  columns?: ColumnPlan;
}

/**
 * The row's hash over its text in UTF-8. A UTF-8 database (nearly every managed one) already holds
 * that text: converting it again would cost a tenth of the checksum's time for the same bytes.
 */
const rowHashOfUtf8Text = "('x' || substr(md5(ROW(t.*)::text), 1, 16))::bit(64)::bigint";
const rowHashConvertedToUtf8 =
  "('x' || substr(md5(convert_to(ROW(t.*)::text, 'UTF8')), 1, 16))::bit(64)::bigint";

/**
 * Count and checksum of every table in `tables` under `algorithm`, on `session` as it is (snapshot,
 * pinned settings). Under v2 and v3, a table that has no plan in the catalog (it vanished) is left
 * out, like one whose count cannot be taken.
 */
export async function tableContent(
  session: Session,
  tables: readonly TableName[],
  algorithm: ContentAlgorithm,
): Promise<TableContent[]> {
  const encoding = await session.query<{ server_encoding: string }>('SHOW server_encoding');
  const utf8Server = encoding.rows[0]?.server_encoding === 'UTF8';
  const plans = columnPlanAlgorithms.includes(algorithm)
    ? await columnPlans(session, algorithm === 'row-hash-sum64-v3')
    : undefined;
  const planOf = (table: TableName) => plans?.get(tableKey(table)) ?? [];
  const hashOf = (table: TableName) =>
    plans
      ? rowHashExpression(planOf(table), utf8Server)
      : utf8Server
        ? rowHashOfUtf8Text
        : rowHashConvertedToUtf8;
  // The ordinal maps rows back to their tables.
  const sumOf = (table: TableName, i: number) =>
    algorithm === 'row-hash-sum64-v3'
      ? // OFFSET 0 keeps the subquery a subquery: pulled up, its hash would be computed twice per row.
        `SELECT ${i}::int AS i, count(*)::text AS n, coalesce(sum(${finishedRowHash(subqueryRowHash)}), 0)::text AS s FROM (SELECT ${hashOf(table)} AS h FROM ${ownRows(table)} OFFSET 0) AS r`
      : `SELECT ${i}::int AS i, count(*)::text AS n, coalesce(sum(${hashOf(table)}), 0)::text AS s FROM ${ownRows(table)}`;
  const result: TableContent[] = [];
  for (const batch of inBatches(tables)) {
    const sql = batch.map(sumOf).join(' UNION ALL ');
    const { rows } = await session.query<{ i: number; n: string; s: string }>(sql);
    for (const row of rows) {
      const table = batch[row.i];
      if (!table) continue;
      result.push({
        schema: table.schema,
        table: table.table,
        rows: Number(row.n),
        checksum: row.s,
        ...(plans ? { columns: planOf(table) } : {}),
      });
    }
  }
  return result;
}

export interface LargeObjectContent {
  count: number;
  checksum: string;
}

/** Every large object's oid and data, summed as the tables' rows are. */
export async function largeObjectContent(session: Session): Promise<LargeObjectContent> {
  const { rows } = await session.query<{ n: string; s: string }>(
    `SELECT count(*)::text AS n,
            coalesce(sum(('x' || substr(md5(oid::text || ':' || md5(lo_get(oid))), 1, 16))::bit(64)::bigint), 0)::text AS s
       FROM pg_catalog.pg_largeobject_metadata`,
  );
  return { count: Number(rows[0]?.n ?? 0), checksum: rows[0]?.s ?? '0' };
}

export interface SequenceValue {
  schema: string;
  name: string;
  /** The last value handed out (text: bigint); null when nextval was never called. */
  lastValue: string | null;
  /** Negative for a descending sequence. */
  increment: string;
}

/**
 * The sequences pg_dump sets, with their current values: not those of an extension (pg_dump leaves
 * them alone) nor the system's. `pg_sequences.last_value` is null for a sequence never used (or one the
 * role may not read, which pg_dump could not dump either).
 */
export async function sequenceValues(session: Session): Promise<SequenceValue[]> {
  const { rows } = await session.query<SequenceValue>(
    `SELECT s.schemaname AS schema, s.sequencename AS name, s.last_value::text AS "lastValue",
            s.increment_by::text AS increment
       FROM pg_catalog.pg_sequences s
       JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
      WHERE ${dumpedRelationsFilter}
      ORDER BY 1, 2`,
  );
  return rows;
}

/**
 * Sequences of the manifest that are missing from the restored database or behind the value they had
 * when the snapshot was taken (read before pg_dump started, so pg_dump's own, later read is never
 * behind it unless someone set the sequence back in between).
 */
export async function sequencesBehind(
  session: Session,
  recorded: readonly SequenceValue[],
): Promise<string[]> {
  const restored = new Map(
    (await sequenceValues(session)).map((s) => [JSON.stringify([s.schema, s.name]), s]),
  );
  const problems: string[] = [];
  for (const sequence of recorded) {
    const name = qualified({ schema: sequence.schema, table: sequence.name });
    const now = restored.get(JSON.stringify([sequence.schema, sequence.name]));
    if (!now) {
      problems.push(`sequence ${name}: missing`);
      continue;
    }
    if (sequence.lastValue === null) continue;
    const descending = sequence.increment.startsWith('-');
    const behind =
      now.lastValue === null ||
      (descending
        ? BigInt(now.lastValue) > BigInt(sequence.lastValue)
        : BigInt(now.lastValue) < BigInt(sequence.lastValue));
    if (behind) {
      problems.push(`sequence ${name}: at ${now.lastValue ?? 'its start'}, behind ${sequence.lastValue}`);
    }
  }
  return problems;
}
