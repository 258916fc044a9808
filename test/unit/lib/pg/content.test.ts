/**
 * Which checksum algorithm a dump records, and whether a server can take a manifest's: a manifest is
 * read from the bucket, so its algorithm is any string; one we do not know, or v2 on a server without
 * hash_record_extended (before PostgreSQL 14), is never compared (the proof falls back to counts).
 */
import { describe, expect, it } from '@jest/globals';
import { contentAlgorithmFor, takeableAlgorithm } from '../../../../lib/pg/content.ts';

describe('contentAlgorithmFor()', () => {
  it('records v2 from PostgreSQL 14 on, v1 before', () => {
    expect(contentAlgorithmFor(140000)).toBe('row-hash-sum64-v2');
    expect(contentAlgorithmFor(180001)).toBe('row-hash-sum64-v2');
    expect(contentAlgorithmFor(130016)).toBe('row-md5-sum64-v1');
  });
});

describe('takeableAlgorithm()', () => {
  it('takes v1 anywhere and v2 from PostgreSQL 14 on', () => {
    expect(takeableAlgorithm('row-md5-sum64-v1', 120000)).toBe('row-md5-sum64-v1');
    expect(takeableAlgorithm('row-hash-sum64-v2', 140000)).toBe('row-hash-sum64-v2');
    expect(takeableAlgorithm('row-hash-sum64-v2', 130016)).toBeUndefined();
  });

  it('never takes an algorithm it does not know', () => {
    expect(takeableAlgorithm('row-hash-sum64-v3', 180000)).toBeUndefined();
    expect(takeableAlgorithm('', 180000)).toBeUndefined();
  });
});
