import { describe, expect, it } from '@jest/globals';
import { prices } from '../../../../config/prices.ts';
import { estimateMonthlyCost } from '../../../../lib/report/cost.ts';

describe('estimateMonthlyCost', () => {
  it('prices a month of nights item by item from the price table', () => {
    const estimate = estimateMonthlyCost(
      {
        storedBytes: 10e9,
        growthBytesPerDay: 0,
        nightlyDumpBytes: 1024 ** 3,
        dumpSeconds: 10,
        verifySeconds: 60,
      },
      prices,
    );
    expect(Object.fromEntries(estimate.items.map((item) => [item.name, item.usd]))).toEqual({
      'S3 storage': 0.23,
      'S3 requests': 0.03,
      Lambda: 0,
      'CodeBuild (worker)': 0.2,
      'Step Functions': 0.02,
      KMS: 1,
      CloudWatch: 3.9,
      'Secrets Manager': 0.8,
    });
    expect(estimate.totalUsd).toBe(6.18);
    expect(estimate.items.find((item) => item.name === 'CodeBuild (worker)')?.basis).toContain(
      '60 build minutes',
    );
  });

  it('counts half a month of growth into the storage, never a shrinking one', () => {
    const base = { storedBytes: 10e9, nightlyDumpBytes: 0, dumpSeconds: 0, verifySeconds: 0 };
    const storage = (growthBytesPerDay: number) =>
      estimateMonthlyCost({ ...base, growthBytesPerDay }, prices).items.find((i) => i.name === 'S3 storage')
        ?.usd;
    expect(storage(2e9)).toBe(0.92);
    expect(storage(-2e9)).toBe(0.23);
  });
});
