import { describe, expect, it } from '@jest/globals';
import type { CatalogEntry } from '../../../../lib/backup/catalog.ts';
import { isoWeek, planRetention } from '../../../../lib/backup/retention.ts';
import { newBackupId } from '../../../../lib/storage/keys.ts';

const now = new Date('2026-12-01T12:00:00Z');
const day = 86_400_000;

/** A nightly backup `daysAgo` days before `now`, at 02:00 UTC. */
function night(
  daysAgo: number,
  verified: boolean,
): Pick<CatalogEntry, 'backupId' | 'createdAt' | 'dumpBytes' | 'hasManifest' | 'verified'> {
  const createdAt = new Date(Date.UTC(2026, 11, 1, 2, 0, 0) - daysAgo * day);
  return { backupId: newBackupId(createdAt), createdAt, dumpBytes: 100, hasManifest: true, verified };
}

const kept = (decisions: ReturnType<typeof planRetention>) => decisions.filter((d) => d.keep);
const expirable = (decisions: ReturnType<typeof planRetention>) => decisions.filter((d) => !d.keep);

describe('planRetention', () => {
  it('keeps the last verified backup through 60 nights of failures, and every failed night after it', () => {
    const lastGood = night(61, true);
    const failedNights = Array.from({ length: 60 }, (_, i) => night(60 - i, false));

    const decisions = planRetention([lastGood, ...failedNights], now);

    expect(expirable(decisions)).toEqual([]);
    expect(decisions.find((d) => d.backupId === lastGood.backupId)?.reasons).toContain(
      'the newest verified backup',
    );
    expect(decisions.find((d) => d.backupId === failedNights[0]?.backupId)?.reasons).toContain(
      'newer than the newest verified backup',
    );
  });

  it('marks nothing at all while no backup is verified', () => {
    const decisions = planRetention([night(400, false), night(200, false)], now);
    expect(expirable(decisions)).toEqual([]);
    expect(decisions[0]?.reasons).toEqual(['no backup is verified yet']);
  });

  it('lets a healthy year go down to the ladder: 30 daily, 8 weekly, 12 monthly', () => {
    const year = Array.from({ length: 365 }, (_, i) => night(i, true));

    const decisions = planRetention(year, now);
    const keep = kept(decisions);

    // Every night of the last 30 days.
    for (let i = 0; i < 30; i++) expect(keep.map((d) => d.backupId)).toContain(year[i]?.backupId);
    // Beyond them: one per ISO week within 8 weeks, one per month within 12 months, nothing else.
    const older = keep.filter((d) => now.getTime() - d.createdAt.getTime() >= 30 * day);
    const weeks = new Set(older.map((d) => isoWeek(d.createdAt)));
    const months = new Set(older.map((d) => d.createdAt.toISOString().slice(0, 7)));
    expect(older.length).toBeLessThanOrEqual(weeks.size + months.size);
    expect(months.size).toBeLessThanOrEqual(12);
    for (const decision of older) {
      expect(decision.reasons.some((r) => /^the newest verified of (week )?\d{4}-/.test(r))).toBe(true);
    }
    // The oldest months are gone: nothing of the earliest month past the 12-month window is kept.
    expect(keep.some((d) => d.createdAt.toISOString().startsWith('2025-12'))).toBe(false);
    expect(expirable(decisions).length).toBe(365 - keep.length);
    expect(expirable(decisions).length).toBeGreaterThan(300);
  });

  it('keeps the newest verified backups whatever their age, and lets old unverified dumps go', () => {
    const oldVerified = Array.from({ length: 10 }, (_, i) => night(100 + i * 40, true));
    const oldFailed = night(150, false);
    const decisions = planRetention([...oldVerified, oldFailed], now, {
      keepLastVerified: 3,
      dailyDays: 30,
      weeklyWeeks: 0,
      monthlyMonths: 0,
    });
    expect(kept(decisions).map((d) => d.backupId)).toEqual(oldVerified.slice(0, 3).map((e) => e.backupId));
    expect(decisions.find((d) => d.backupId === oldFailed.backupId)).toMatchObject({
      keep: false,
      reasons: ['never verified, 150 days old'],
    });
  });

  it('names ISO weeks the way the calendar does across a year boundary', () => {
    expect(isoWeek(new Date('2026-01-01T00:00:00Z'))).toBe('2026-W01');
    expect(isoWeek(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53');
    expect(isoWeek(new Date('2024-12-30T00:00:00Z'))).toBe('2025-W01');
  });
});
