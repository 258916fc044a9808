/**
 * The pure half of content checksums v2: which kind of hash a column type gets, the SQL of a row's
 * hash, and how a restored table's columns are told apart from the recorded ones. The hashes themselves
 * are checked on real servers (test/integration/content-checksums.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { columnHashOf, planDifferences, rowHashExpression } from '../../../../lib/pg/row-hash.ts';

describe('columnHashOf()', () => {
  it('hashes by value only the built-in types whose hash tells every stored value apart', () => {
    expect([20, 1184, 2950, 17].map(columnHashOf)).toEqual(['value', 'value', 'value', 'value']);
    expect([25, 1043, 19].map(columnHashOf)).toEqual(['bytes', 'bytes', 'bytes']);
    expect([1700, 701].map(columnHashOf)).toEqual(['numeric', 'float8']);
    // float4, jsonb, interval, timetz, a user type (enum, domain): their text form.
    expect([700, 3802, 1186, 1266, 16_384].map(columnHashOf)).toEqual([
      'text',
      'text',
      'text',
      'text',
      'text',
    ]);
  });
});

describe('rowHashExpression()', () => {
  it('quotes every column, hashes text in UTF-8 under "C", and gathers text-form columns into one record', () => {
    const sql = rowHashExpression(
      [
        ['a"b', 'bytes'],
        ['j', 'text'],
        ['n', 'numeric'],
        ['t', 'value'],
        ['x', 'text'],
      ],
      true,
    );
    expect(sql).toBe(
      'pg_catalog.hash_record_extended(ROW((t."a""b")::pg_catalog.text COLLATE "C", pg_catalog.numeric_send(t."n"), t."t", (ROW(t."j", t."x"))::pg_catalog.text COLLATE "C"), 0)',
    );
  });

  it('converts text to UTF-8 on a server of another encoding, and makes every float NaN one NaN', () => {
    const sql = rowHashExpression(
      [
        ['f', 'float8'],
        ['s', 'bytes'],
      ],
      false,
    );
    expect(sql).toContain(
      `CASE WHEN t."f" = 'NaN'::pg_catalog.float8 THEN 'NaN'::pg_catalog.float8 ELSE t."f" END`,
    );
    expect(sql).toContain(`pg_catalog.convert_to((t."s")::pg_catalog.text, 'UTF8')`);
  });

  it('hashes a table without columns as zero: its count is all there is', () => {
    expect(rowHashExpression([], true)).toBe('0::pg_catalog.int8');
  });
});

describe('planDifferences()', () => {
  it('names missing, added and retyped columns, and nothing when only the order differed', () => {
    expect(
      planDifferences(
        [
          ['a', 'value'],
          ['b', 'numeric'],
          ['c', 'bytes'],
        ],
        [
          ['b', 'text'],
          ['c', 'bytes'],
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
