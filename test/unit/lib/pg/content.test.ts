/**
 * Which checksum algorithm a dump records, and whether a server can take a manifest's: a manifest is
 * read from the bucket, so its algorithm is any string; one we do not know, or v2/v3 on a server
 * without hash_record_extended (before PostgreSQL 14), is never compared (the proof falls back to counts).
 */
import { describe, expect, it } from '@jest/globals';
import { checksumsProofLabel, contentAlgorithmFor, takeableAlgorithm } from '../../../../lib/pg/content.ts';

describe('contentAlgorithmFor()', () => {
  it('records v3 from PostgreSQL 14 on, v1 before', () => {
    expect(contentAlgorithmFor(140000)).toBe('row-hash-sum64-v3');
    expect(contentAlgorithmFor(180001)).toBe('row-hash-sum64-v3');
    expect(contentAlgorithmFor(130016)).toBe('row-md5-sum64-v1');
  });
});

describe('takeableAlgorithm()', () => {
  it('takes v1 anywhere and v2 and v3 from PostgreSQL 14 on', () => {
    expect(takeableAlgorithm('row-md5-sum64-v1', 120000)).toBe('row-md5-sum64-v1');
    expect(takeableAlgorithm('row-hash-sum64-v2', 140000)).toBe('row-hash-sum64-v2');
    expect(takeableAlgorithm('row-hash-sum64-v2', 130016)).toBeUndefined();
    expect(takeableAlgorithm('row-hash-sum64-v3', 140000)).toBe('row-hash-sum64-v3');
    expect(takeableAlgorithm('row-hash-sum64-v3', 130016)).toBeUndefined();
  });

  it('never takes an algorithm it does not know', () => {
    expect(takeableAlgorithm('row-hash-sum64-v4', 180000)).toBeUndefined();
    expect(takeableAlgorithm('', 180000)).toBeUndefined();
  });
});

describe('checksumsProofLabel()', () => {
  it('names the version, and says v2 cannot see values moved between rows', () => {
    expect(checksumsProofLabel('row-hash-sum64-v2')).toBe(
      'checksums-v2 (weak: cannot see values moved between rows)',
    );
    expect(checksumsProofLabel('row-hash-sum64-v3')).toBe('checksums-v3');
    expect(checksumsProofLabel('row-md5-sum64-v1')).toBe('checksums-v1');
  });
});
