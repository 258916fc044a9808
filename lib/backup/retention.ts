/**
 * Which backups may go. The bucket's lifecycle rule expires only objects under backups/ that carry the
 * tag `expirable=true`, and only this pass sets it, so age alone never deletes a backup: sixty nights
 * of failures leave the last verified backup where it is, listed and restorable.
 *
 * A backup is kept, whatever its age, when it is:
 * - the newest verified backup, or newer than it (nothing is marked while nothing newer is verified);
 * - one of the newest `keepLastVerified` verified backups;
 * - younger than `dailyDays` (every backup, verified or not: today's behaviour of the 30-day window);
 * - the newest verified backup of its ISO week, for the last `weeklyWeeks` weeks;
 * - the newest verified backup of its month, for the last `monthlyMonths` months.
 * Everything else (old unverified dumps, verified ones the ladder lets go) is marked expirable.
 * "Verified" is the catalog's one definition (lib/backup/catalog.ts): a backup whose later check failed
 * is not, and a damaged one is not even listed. The nights' globals/ follow the backups they serve
 * (planGlobalsRetention, below).
 */

import { backupIdTime } from '../storage/keys.ts';
import { type CatalogEntry, newestVerifiedOf } from './catalog.ts';
import { nightGlobalsId } from './globals.ts';

export interface RetentionPolicy {
  keepLastVerified: number;
  dailyDays: number;
  weeklyWeeks: number;
  monthlyMonths: number;
}

export const defaultRetentionPolicy: RetentionPolicy = {
  keepLastVerified: 7,
  dailyDays: 30,
  weeklyWeeks: 8,
  monthlyMonths: 12,
};

export interface RetentionDecision {
  backupId: string;
  createdAt: Date;
  verified: boolean;
  keep: boolean;
  /** Why it is kept (every rule that keeps it), or why it may go. */
  reasons: string[];
}

const dayMs = 86_400_000;

/** `2026-W05`: the ISO week (UTC) a moment falls in. */
export function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / dayMs + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const monthOf = (date: Date) => date.toISOString().slice(0, 7);

/** Months between the start of `from`'s month and `to`'s (0 for the same month). */
function monthsBetween(from: Date, to: Date): number {
  return (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth();
}

export function planRetention(
  entries: readonly Pick<CatalogEntry, 'backupId' | 'createdAt' | 'verified'>[],
  now: Date,
  policy: RetentionPolicy = defaultRetentionPolicy,
): RetentionDecision[] {
  const newestFirst = [...entries].sort((a, b) => b.backupId.localeCompare(a.backupId));
  const verified = newestFirst.filter((entry) => entry.verified);
  // The catalog's one reading of "the newest verified backup" (status, drills and the alarm share it).
  const newestVerified = newestVerifiedOf(newestFirst);
  const lastN = new Set(verified.slice(0, policy.keepLastVerified).map((entry) => entry.backupId));
  const weekly = new Map<string, string>();
  const monthly = new Map<string, string>();
  for (const entry of verified) {
    const week = isoWeek(entry.createdAt);
    if (!weekly.has(week)) weekly.set(week, entry.backupId);
    const month = monthOf(entry.createdAt);
    if (!monthly.has(month)) monthly.set(month, entry.backupId);
  }

  return newestFirst.map((entry) => {
    const reasons: string[] = [];
    const ageDays = (now.getTime() - entry.createdAt.getTime()) / dayMs;
    if (!newestVerified) reasons.push('no backup is verified yet');
    else if (entry.backupId === newestVerified.backupId) reasons.push('the newest verified backup');
    else if (entry.backupId > newestVerified.backupId) reasons.push('newer than the newest verified backup');
    if (lastN.has(entry.backupId) && entry.backupId !== newestVerified?.backupId) {
      reasons.push(`one of the newest ${policy.keepLastVerified} verified`);
    }
    if (ageDays < policy.dailyDays) reasons.push(`younger than ${policy.dailyDays} days`);
    const week = isoWeek(entry.createdAt);
    if (weekly.get(week) === entry.backupId && ageDays < policy.weeklyWeeks * 7) {
      reasons.push(`the newest verified of week ${week}`);
    }
    const month = monthOf(entry.createdAt);
    if (monthly.get(month) === entry.backupId && monthsBetween(entry.createdAt, now) < policy.monthlyMonths) {
      reasons.push(`the newest verified of ${month}`);
    }
    const keep = reasons.length > 0;
    if (!keep) {
      reasons.push(
        entry.verified
          ? `verified, but older than every rule keeps (${Math.floor(ageDays)} days)`
          : `never verified, ${Math.floor(ageDays)} days old`,
      );
    }
    return { backupId: entry.backupId, createdAt: entry.createdAt, verified: entry.verified, keep, reasons };
  });
}

/** A globals/ record (one night's roles) and whether it stays. */
export interface GlobalsDecision {
  id: string;
  keep: boolean;
  reasons: string[];
}

/**
 * Which globals/ records may go. They have no lifecycle of their own: the retention pass marks them
 * like backups, after every vault's pass, from the backups those passes keep (in every vault: one
 * night's roles serve every database of the server). A record is kept when it is
 * - the newest one;
 * - the night's globals of a kept backup: the one a restore with roles would replay for it
 *   (lib/backup/globals.ts, nightGlobalsId), so that choice never changes when the rest go;
 * - named by a kept backup's verification record (what its verification replayed);
 * - younger than `dailyDays`, like every backup: a night whose backups are not promoted yet keeps its
 *   roles, and with Object Lock nothing the lock still holds is marked (`dailyDays >= retentionDays`).
 * Everything else is marked expirable.
 */
export function planGlobalsRetention(
  ids: readonly string[],
  kept: readonly Pick<CatalogEntry, 'backupId' | 'createdAt' | 'globalsId'>[],
  now: Date,
  dailyDays: number,
): GlobalsDecision[] {
  const newestFirst = [...new Set(ids)].sort().reverse();
  const needs = new Map<string, string[]>();
  const need = (id: string | undefined, why: string) => {
    if (id !== undefined) needs.set(id, [...(needs.get(id) ?? []), why]);
  };
  for (const backup of kept) {
    need(nightGlobalsId(newestFirst, backup.createdAt), `the roles of kept backup ${backup.backupId}`);
    need(backup.globalsId, `replayed by the verification of kept backup ${backup.backupId}`);
  }
  return newestFirst.map((id, index) => {
    const ageDays = (now.getTime() - backupIdTime(id).getTime()) / dayMs;
    const reasons = [
      ...(index === 0 ? ['the newest globals'] : []),
      ...(ageDays < dailyDays ? [`younger than ${dailyDays} days`] : []),
      ...(needs.get(id) ?? []),
    ];
    const keep = reasons.length > 0;
    return {
      id,
      keep,
      reasons: keep ? reasons : [`no kept backup needs it (${Math.floor(ageDays)} days old)`],
    };
  });
}
