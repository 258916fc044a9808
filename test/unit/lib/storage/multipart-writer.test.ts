import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from '@jest/globals';
import { partSizeFor } from '../../../../lib/storage/backup-store.ts';
import {
  MultipartWriter,
  maxPartSize,
  maxParts,
  minPartSize,
  partSizeForPart,
} from '../../../../lib/storage/multipart-writer.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function capacity(base: number): number {
  let total = 0;
  for (let part = 1; part <= maxParts; part++) total += partSizeForPart(base, part);
  return total;
}

describe('partSizeForPart()', () => {
  it('keeps the base size for the first 5,000 parts', () => {
    expect(partSizeForPart(8 * MiB, 1)).toBe(8 * MiB);
    expect(partSizeForPart(8 * MiB, 5_000)).toBe(8 * MiB);
  });

  it('doubles every 1,000 parts after that, up to S3 maximum part size', () => {
    expect(partSizeForPart(8 * MiB, 5_001)).toBe(16 * MiB);
    expect(partSizeForPart(8 * MiB, 6_000)).toBe(16 * MiB);
    expect(partSizeForPart(8 * MiB, 6_001)).toBe(32 * MiB);
    expect(partSizeForPart(8 * MiB, 10_000)).toBe(256 * MiB);
    expect(partSizeForPart(1 * GiB, 10_000)).toBe(maxPartSize);
  });

  it('lets 10,000 parts hold far more than a 15-minute dump can produce, even at the minimum part size', () => {
    expect(capacity(minPartSize)).toBeGreaterThan(300 * GiB);
    expect(capacity(8 * MiB)).toBeGreaterThan(500 * GiB);
  });
});

describe('partSizeFor()', () => {
  it('sizes parts so 10,000 of them hold twice the estimate, never below 8 MiB', () => {
    expect(partSizeFor(0)).toBe(8 * MiB);
    expect(partSizeFor(1 * GiB)).toBe(8 * MiB);
    const estimate = 100 * GiB;
    expect(partSizeFor(estimate) * maxParts).toBeGreaterThanOrEqual(2 * estimate);
  });
});

describe('new MultipartWriter()', () => {
  const client = new S3Client({ region: 'us-east-1' });

  it('refuses parts below S3 minimum of 5 MiB', () => {
    expect(() => new MultipartWriter({ client, bucket: 'b', key: 'k', partSize: minPartSize - 1 })).toThrow(
      /partSize/,
    );
  });

  it('refuses a concurrency that is not a positive integer', () => {
    expect(() => new MultipartWriter({ client, bucket: 'b', key: 'k', concurrency: 0 })).toThrow(
      /concurrency/,
    );
  });
});
