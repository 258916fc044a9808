/**
 * The uploads earlier dump attempts left incomplete under incoming/: aborted by the next dump when they
 * are certainly dead.
 */
import type { BackupStore } from '../storage/backup-store.ts';
import { backupIdOwnedBy, backupIdTime, isBackupId } from '../storage/keys.ts';

/** No dump attempt lives longer than one Lambda (15 min); an upload older than this is an orphan. */
export const orphanedUploadAgeMs = 20 * 60_000;

/**
 * An upload whose attempt died while the store was unreachable could not be aborted then. A dump
 * aborts the incomplete uploads under incoming/ that are certainly dead: those of its own execution's
 * earlier attempts (their backup ids carry the execution's tag; a retry starts only after the previous
 * attempt ended) and those older than any Lambda can live. A concurrent execution's upload in progress
 * is left alone. The bucket's lifecycle rule aborts whatever this misses after a day.
 */
export async function abortStaleUploads(
  store: BackupStore,
  ownKey: string,
  owner: string | undefined,
  now: Date,
): Promise<number> {
  const stale = (await store.listIncompleteUploads('incoming/')).filter((upload) => {
    if (upload.key === ownKey) return false;
    const backupId = /^incoming\/([^/]+)\.(?:dump|manifest\.json)$/.exec(upload.key)?.[1];
    if (!backupId || !isBackupId(backupId)) return false;
    const ours = owner !== undefined && backupIdOwnedBy(backupId, owner);
    return ours || now.getTime() - backupIdTime(backupId).getTime() > orphanedUploadAgeMs;
  });
  for (const upload of stale) await store.abortUpload(upload.key, upload.uploadId);
  return stale.length;
}
