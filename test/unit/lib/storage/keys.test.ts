import { describe, expect, it } from '@jest/globals';
import { InputValidationError } from '../../../../lib/errors.ts';
import {
  assertBackupId,
  backupIdOwnedBy,
  backupIdTime,
  isBackupId,
  keys,
  newBackupId,
  parseBackupKey,
} from '../../../../lib/storage/keys.ts';

describe('newBackupId()', () => {
  it('starts with the UTC creation time, so ids sort by time', () => {
    const earlier = newBackupId(new Date('2026-01-02T03:04:05.678Z'));
    const later = newBackupId(new Date('2026-01-02T03:04:06.001Z'));

    expect(earlier).toMatch(/^20260102T030405Z-[0-9a-f]{6}$/);
    expect(isBackupId(earlier)).toBe(true);
    expect([later, earlier].sort()).toEqual([earlier, later]);
    expect(backupIdTime(earlier).toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });
});

describe('isBackupId()', () => {
  it('refuses an id whose time does not exist, as a named input error rather than a RangeError', () => {
    for (const impossible of [
      '20261399T999999Z-abcdef',
      '20260230T120000Z-abcdef',
      '20260101T240000Z-abcdef',
    ]) {
      expect(isBackupId(impossible)).toBe(false);
      expect(() => assertBackupId(impossible)).toThrow(InputValidationError);
      expect(() => keys.dump(impossible)).toThrow(InputValidationError);
    }
    expect(isBackupId('20240229T235959Z-abcdef')).toBe(true);
  });
});

describe('backup ids of an execution', () => {
  it('carry the owner tag, so a retry can tell its own orphans from a concurrent execution', () => {
    const now = new Date('2026-01-02T03:04:05Z');
    const mine = 'arn:aws:states:eu-central-1:123456789012:execution:backup:run-1';
    const theirs = 'arn:aws:states:eu-central-1:123456789012:execution:backup:run-2';
    const ids = Array.from({ length: 20 }, () => newBackupId(now, mine));
    expect(ids.every((id) => isBackupId(id) && backupIdOwnedBy(id, mine))).toBe(true);
    expect(ids.some((id) => backupIdOwnedBy(id, theirs))).toBe(false);
    expect(new Set(ids.map((id) => id.slice(-2))).size).toBeGreaterThan(1); // still random at the end
    expect(backupIdOwnedBy('../incoming/x', mine)).toBe(false);
  });
});

describe('keys', () => {
  const id = '20261231T235959Z-a1b2c3';

  it('puts incoming dumps under incoming/ and promoted ones under the date of the id', () => {
    expect(keys.incomingDump(id)).toBe(`incoming/${id}.dump`);
    expect(keys.incomingManifest(id)).toBe(`incoming/${id}.manifest.json`);
    expect(keys.dump(id)).toBe(`backups/2026/12/31/${id}.dump`);
    expect(keys.manifest(id)).toBe(`backups/2026/12/31/${id}.manifest.json`);
    expect(keys.verification(id)).toBe(`backups/2026/12/31/${id}.verification.json`);
  });

  it('refuses an id that could escape its folder, naming the field', () => {
    expect(() => keys.dump('../../etc/passwd')).toThrow(InputValidationError);
    expect(() => assertBackupId('20261231T235959Z-A1B2C3', 'backup id')).toThrow(/^backup id must look like/);
  });

  it('reads the id and kind back from a promoted key and ignores anything else', () => {
    expect(parseBackupKey(keys.dump(id))).toEqual({ backupId: id, kind: 'dump' });
    expect(parseBackupKey(keys.manifest(id))).toEqual({ backupId: id, kind: 'manifest' });
    expect(parseBackupKey(keys.verification(id))).toEqual({ backupId: id, kind: 'verification' });
    expect(parseBackupKey(keys.incomingDump(id))).toBeUndefined();
    expect(parseBackupKey(`backups/2026/12/31/${id}.dump.tmp`)).toBeUndefined();
    expect(parseBackupKey('backups/2026/12/31/not-an-id.dump')).toBeUndefined();
  });
});
