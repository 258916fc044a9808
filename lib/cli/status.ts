/**
 * The recovery-point view: the newest verified backup and its age against the RPO. With no verified
 * backup at all the answer is "not within RPO": silence is a failure, not an absence of news.
 */
import { listBackups } from '../backup/catalog.ts';
import type { BackupStore } from '../storage/backup-store.ts';

export interface BackupStatus {
  rpoHours: number;
  withinRpo: boolean;
  newestVerified: { backupId: string; createdAt: string; ageHours: number; bytes: number } | null;
  unverifiedSinceNewest: number;
  summary: string;
}

export async function backupStatus(
  store: BackupStore,
  options: { rpoHours: number; now: Date },
): Promise<BackupStatus> {
  const backups = await listBackups(store);
  const newest = backups.find((b) => b.verified);
  const unverifiedSinceNewest = backups.filter(
    (b) => !b.verified && (!newest || b.backupId > newest.backupId),
  ).length;
  if (!newest) {
    return {
      rpoHours: options.rpoHours,
      withinRpo: false,
      newestVerified: null,
      unverifiedSinceNewest,
      summary: `NO VERIFIED BACKUP: nothing can be restored with confidence (RPO ${options.rpoHours} h).`,
    };
  }
  const ageHours = (options.now.getTime() - newest.createdAt.getTime()) / 3_600_000;
  const withinRpo = ageHours <= options.rpoHours;
  return {
    rpoHours: options.rpoHours,
    withinRpo,
    newestVerified: {
      backupId: newest.backupId,
      createdAt: newest.createdAt.toISOString(),
      ageHours: Math.round(ageHours * 100) / 100,
      bytes: newest.dumpBytes ?? 0,
    },
    unverifiedSinceNewest,
    summary: `${withinRpo ? 'OK' : 'STALE'}: newest verified backup ${newest.backupId} is ${ageHours.toFixed(1)} h old (RPO ${options.rpoHours} h)${unverifiedSinceNewest ? `; ${unverifiedSinceNewest} newer backup(s) NOT verified` : ''}.`,
  };
}
