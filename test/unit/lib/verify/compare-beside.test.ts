/**
 * When a restore reads its v4 digests beside pg_restore's post-data section (COMPARE_BESIDE_INDEXES):
 * `auto` only with a CPU beyond pg_restore's jobs, since on 2 CPUs with -j2 the bench measured it
 * slower (docs/performance.md); `on` and `off` as said.
 */
import { describe, expect, it } from '@jest/globals';
import { readRuntimeSettings } from '../../../../lib/config.ts';
import { compareBesideIndexes } from '../../../../lib/verify/compare.ts';

describe('compareBesideIndexes', () => {
  it('reads beside the indexes under auto only when a CPU is left beyond the jobs', () => {
    expect(compareBesideIndexes('auto', 2, 2)).toBe(false);
    expect(compareBesideIndexes('auto', 1, 2)).toBe(true);
    expect(compareBesideIndexes('auto', 4, 8)).toBe(true);
    expect(compareBesideIndexes('auto', 8, 4)).toBe(false);
  });

  it('does as told under on and off, whatever the CPUs', () => {
    expect(compareBesideIndexes('on', 2, 2)).toBe(true);
    expect(compareBesideIndexes('off', 1, 8)).toBe(false);
  });

  it('reads the setting as auto by default and refuses another word', () => {
    const base = { BACKUP_BUCKET: 'verified-backups', AWS_REGION: 'us-east-1' };
    expect(readRuntimeSettings(base).COMPARE_BESIDE_INDEXES).toBe('auto');
    expect(readRuntimeSettings({ ...base, COMPARE_BESIDE_INDEXES: 'on' }).COMPARE_BESIDE_INDEXES).toBe('on');
    expect(() => readRuntimeSettings({ ...base, COMPARE_BESIDE_INDEXES: 'yes' })).toThrow(
      /COMPARE_BESIDE_INDEXES/,
    );
  });
});
