/**
 * The pure half of content checksums v2: which kind of hash a column type gets, the SQL of a row's
 * hash, and how a restored table's columns are told apart from the recorded ones. The hashes themselves
 * are checked on real servers (test/integration/content-checksums.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { columnHashOf, planDifferences, rowHashExpression } from '../../../../lib/pg/row-hash.ts';

describe('columnHashOf()', () => {
  it('hashes by value only the built-in types whose hash tells every stored value apart', () => {
    expect([20, 1184, 2950, 17].map((oid) => columnHashOf(oid))).toEqual([
      'value',
      'value',
      'value',
      'value',
    ]);
    expect([1700, 701].map((oid) => columnHashOf(oid))).toEqual(['numeric', 'float8']);
  });

  it('under v3, hashes int8, time, timestamp and timestamptz whole by their binary form, not folded to 32 bits', () => {
    expect([20, 1083, 1114, 1184, 23, 1082, 2950].map((oid) => columnHashOf(oid, false, true))).toEqual([
      'binary',
      'binary',
      'binary',
      'binary',
      'value',
      'value',
      'value',
    ]);
    expect(columnHashOf(1700, false, true)).toBe('numeric');
  });

  it('casts other built-in types to text, but takes char(n), domains and user types by their output', () => {
    // text, varchar, jsonb, float4, interval, timetz, int4[]: built in, their cast is their output.
    expect([25, 1043, 3802, 700, 1186, 1266, 1007].map((oid) => columnHashOf(oid))).toEqual(
      Array(7).fill('text'),
    );
    // char(n) (its cast drops trailing spaces), a built-in domain, an enum or extension type.
    expect([columnHashOf(1042), columnHashOf(13_000, true), columnHashOf(16_384)]).toEqual([
      'record',
      'record',
      'record',
    ]);
  });
});

describe('rowHashExpression()', () => {
  it('quotes every column, hashes text in UTF-8 under "C", and gathers output-form columns into one record', () => {
    const sql = rowHashExpression(
      [
        ['a"b', 'text'],
        ['e', 'record'],
        ['n', 'numeric'],
        ['t', 'value'],
        ['x', 'record'],
      ],
      true,
    );
    expect(sql).toBe(
      'pg_catalog.hash_record_extended(ROW((t."a""b")::pg_catalog.text COLLATE "C", pg_catalog.numeric_send(t."n"), t."t", (ROW(t."e", t."x"))::pg_catalog.text COLLATE "C"), 0)',
    );
  });

  it('converts text to UTF-8 on a server of another encoding, and makes every float NaN one NaN', () => {
    const sql = rowHashExpression(
      [
        ['f', 'float8'],
        ['s', 'text'],
      ],
      false,
    );
    expect(sql).toContain(
      `CASE WHEN t."f" = 'NaN'::pg_catalog.float8 THEN 'NaN'::pg_catalog.float8 ELSE t."f" END`,
    );
    expect(sql).toContain(`pg_catalog.convert_to((t."s")::pg_catalog.text, 'UTF8')`);
  });

  it('gathers the 64-bit columns of v3 into one record sent in binary', () => {
    const sql = rowHashExpression(
      [
        ['at', 'binary'],
        ['id', 'binary'],
        ['n', 'value'],
      ],
      true,
    );
    expect(sql).toBe(
      'pg_catalog.hash_record_extended(ROW(t."n", pg_catalog.record_send(ROW(t."at", t."id"))), 0)',
    );
  });

  it('hashes a table without columns as zero: its count is all there is', () => {
    expect(rowHashExpression([], true)).toBe('0::pg_catalog.int8');
  });
});

describe('planDifferences()', () => {
  it('names the first five and counts the rest, so a step output stays small whatever the table', () => {
    const recorded = Array.from({ length: 300 }, (_, i): [string, 'value'] => [`c${i}`, 'value']);
    expect(planDifferences(recorded, [])).toEqual([
      'column "c0" missing',
      'column "c1" missing',
      'column "c2" missing',
      'column "c3" missing',
      'column "c4" missing',
      'and 295 more columns',
    ]);
  });

  it('names missing, added and retyped columns, and nothing when only the order differed', () => {
    expect(
      planDifferences(
        [
          ['a', 'value'],
          ['b', 'numeric'],
          ['c', 'text'],
        ],
        [
          ['b', 'text'],
          ['c', 'text'],
          ['d', 'value'],
        ],
      ),
    ).toEqual(['column "a" missing', 'column "b" is of another type', 'column "d" not in the backup']);
    expect(
      planDifferences(
        [
          ['a', 'value'],
          ['b', 'text'],
        ],
        [
          ['b', 'text'],
          ['a', 'value'],
        ],
      ),
    ).toEqual([]);
  });
});
