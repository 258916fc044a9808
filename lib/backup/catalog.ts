/**
 * What is in the vault. "Latest" always means the newest *verified* backup, decided from the keys of
 * manifests and verification records across every page of the listing, never from listing order.
 */
import { BackupNotFoundError } from '../errors.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { assertBackupId, backupIdTime, backupsPrefix, keys, parseBackupKey } from '../storage/keys.ts';
import { type Manifest, parseManifest, parseVerification, type Verification } from './manifest.ts';

export interface CatalogEntry {
  backupId: string;
  createdAt: Date;
  dumpBytes: number | undefined;
  hasManifest: boolean;
  verified: boolean;
}

export async function listBackups(store: BackupStore): Promise<CatalogEntry[]> {
  const entries = new Map<string, CatalogEntry>();
  for (const object of await store.list(backupsPrefix)) {
    const parsed = parseBackupKey(object.key);
    if (!parsed) continue;
    const entry = entries.get(parsed.backupId) ?? {
      backupId: parsed.backupId,
      createdAt: backupIdTime(parsed.backupId),
      dumpBytes: undefined,
      hasManifest: false,
      verified: false,
    };
    if (parsed.kind === 'dump') entry.dumpBytes = object.bytes;
    if (parsed.kind === 'manifest') entry.hasManifest = true;
    if (parsed.kind === 'verification') entry.verified = true;
    entries.set(parsed.backupId, entry);
  }
  return [...entries.values()]
    .filter((e) => e.dumpBytes !== undefined && e.hasManifest)
    .sort((a, b) => b.backupId.localeCompare(a.backupId));
}

export async function newestVerifiedBackup(store: BackupStore): Promise<CatalogEntry | undefined> {
  return (await listBackups(store)).find((entry) => entry.verified);
}

/** Resolves `latest` (newest verified) or a literal backup id that exists in the vault. */
export async function resolveBackupId(store: BackupStore, idOrLatest: string): Promise<string> {
  if (idOrLatest === 'latest') {
    const newest = await newestVerifiedBackup(store);
    if (!newest) throw new BackupNotFoundError('there is no verified backup yet');
    return newest.backupId;
  }
  const backupId = assertBackupId(idOrLatest, 'backup id');
  if (!(await store.exists(keys.manifest(backupId)))) {
    throw new BackupNotFoundError(`backup ${backupId} has no manifest in the vault`);
  }
  return backupId;
}

export async function readManifest(store: BackupStore, backupId: string): Promise<Manifest> {
  const key = keys.manifest(backupId);
  const manifest = parseManifest(await store.getText(key), key);
  if (manifest.backupId !== backupId) {
    throw new BackupNotFoundError(`${key} describes backup ${manifest.backupId}, not ${backupId}`);
  }
  return manifest;
}

export async function readVerification(
  store: BackupStore,
  backupId: string,
): Promise<Verification | undefined> {
  const key = keys.verification(backupId);
  try {
    return parseVerification(await store.getText(key), key);
  } catch (error) {
    if (error instanceof BackupNotFoundError) return undefined;
    throw error;
  }
}
