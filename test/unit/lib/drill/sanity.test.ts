import { describe, expect, it } from '@jest/globals';
import {
  builtInSanityChecks,
  parseSanityChecks,
  type SanityCheck,
  sanityChecksFor,
  sanityChecksProblem,
} from '../../../../lib/drill/sanity.ts';
import { sampleSanityChecks } from '../../../../tools/local/environment.ts';

const forShop: SanityCheck = { name: 'orders', database: 'shop', sql: 'SELECT 1', atLeast: 1 };
const unnamed: SanityCheck = { name: 'recent orders', sql: 'SELECT 1', atLeast: 1 };
const shop = { database: 'shop', urlDatabase: true };
const postgres = { database: 'postgres', urlDatabase: false };
const names = (checks: SanityCheck[]) => checks.map((check) => check.name);

describe('drill sanity checks', () => {
  describe('parseSanityChecks()', () => {
    it('takes an optional database per check and none when unset', () => {
      expect(parseSanityChecks(JSON.stringify([forShop]))).toEqual([forShop]);
      expect(parseSanityChecks(undefined)).toEqual([]);
    });

    it('rejects a database name PostgreSQL could not have, naming the field', () => {
      expect(() => parseSanityChecks(JSON.stringify([{ ...forShop, database: 'x'.repeat(64) }]))).toThrow(
        'DRILL_SANITY_CHECKS[0].database must be at most 63 bytes',
      );
    });
  });

  describe('builtInSanityChecks()', () => {
    it("expects the manifest's table count and says so, an empty database included", () => {
      expect(builtInSanityChecks(0)).toEqual([
        expect.objectContaining({
          name: 'restored database is empty, as its manifest lists no tables',
          equals: 0,
        }),
      ]);
      expect(builtInSanityChecks(1)[0]?.name).toBe('restored database has the 1 table its manifest lists');
      expect(builtInSanityChecks(12)[0]).toMatchObject({
        name: 'restored database has the 12 tables its manifest lists',
        equals: 12,
      });
    });
  });

  describe('sanityChecksFor()', () => {
    it('runs a check only on the database it names; another database gets the built-in check', () => {
      expect(names(sanityChecksFor([forShop], shop, { DATABASES: 'all' }, 3))).toEqual(['orders']);
      expect(sanityChecksFor([forShop], postgres, { DATABASES: 'all' }, 0)).toEqual(builtInSanityChecks(0));
    });

    it("runs a check without database on the stage's one database only", () => {
      expect(names(sanityChecksFor([unnamed], shop, { DATABASES: 'url' }, 3))).toEqual(['recent orders']);
      // A vault the bucket still holds of a database no longer backed up.
      expect(sanityChecksFor([unnamed], postgres, { DATABASES: 'url' }, 0)).toEqual(builtInSanityChecks(0));
      const listed = { DATABASES: ['postgres'] };
      expect(names(sanityChecksFor([unnamed], postgres, listed, 0))).toEqual(['recent orders']);
      expect(sanityChecksFor([unnamed], shop, listed, 3)).toEqual(builtInSanityChecks(3));
    });

    it('refuses a check without database where several are backed up, naming it', () => {
      for (const DATABASES of ['all' as const, ['shop', 'postgres']]) {
        expect(() => sanityChecksFor([forShop, unnamed], shop, { DATABASES }, 3)).toThrow(
          /^DRILL_SANITY_CHECKS\[1\]\.database is missing: sanity check "recent orders" must name the database it checks, as this stage backs up several \((all|shop, postgres)\)$/,
        );
      }
    });

    it('without configured checks runs the built-in one', () => {
      expect(sanityChecksFor([], shop, { DATABASES: 'url' }, 5)).toEqual(builtInSanityChecks(5));
    });
  });

  describe('sanityChecksProblem()', () => {
    it('finds, at package time, a check naming a database the stage does not back up', () => {
      const unused = { field: 'drill.sanityChecks', unused: { excluded: ['postgres'] } };
      expect(sanityChecksProblem([forShop], ['app'], unused)).toEqual({
        field: 'drill.sanityChecks[0].database',
        message:
          'names database "shop", which this stage does not back up (app, excluding postgres): sanity check "orders" would never run',
      });
      expect(sanityChecksProblem([{ ...forShop, database: 'postgres' }], 'all', unused)?.field).toBe(
        'drill.sanityChecks[0].database',
      );
      expect(sanityChecksProblem([forShop], 'all', unused)).toBeUndefined();
      expect(sanityChecksProblem([forShop], 'url', unused)).toBeUndefined();
      // A drill skips it instead: the bucket may still hold that database's vault.
      expect(sanityChecksProblem([forShop], ['app'], { field: 'DRILL_SANITY_CHECKS' })).toBeUndefined();
    });
  });

  it("names the sample shop in the local sample checks, so they never run on another database's drill", () => {
    expect(parseSanityChecks(JSON.stringify(sampleSanityChecks)).map((check) => check.database)).toEqual([
      'shop',
      'shop',
    ]);
    expect(
      sanityChecksFor(
        parseSanityChecks(JSON.stringify(sampleSanityChecks)),
        postgres,
        { DATABASES: 'url' },
        0,
      ),
    ).toEqual(builtInSanityChecks(0));
  });
});
