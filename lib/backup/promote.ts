/**
 * The Upload step: promote a dump from incoming/ into the vault (backups/yyyy/mm/dd/), with its
 * manifest beside it. Safe to retry at any point: every write is a full overwrite of the same key, the
 * incoming objects are removed only after the promoted copy has been checked, and a retry after that
 * finds the promoted copy already in place.
 */
import { BackupNotFoundError, ChecksumMismatchError } from '../errors.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { keys } from '../storage/keys.ts';
import { parseManifest } from './manifest.ts';
import { claimVault } from './vault.ts';

export interface PromoteResult {
  backupId: string;
  dumpKey: string;
  manifestKey: string;
  bytes: number;
}

export async function promoteToVault(
  backupId: string,
  store: BackupStore,
  options: { singleCopyLimit?: number } = {},
): Promise<PromoteResult> {
  const dumpKey = keys.dump(backupId);
  const manifestKey = keys.manifest(backupId);
  const incomingManifestKey = keys.incomingManifest(backupId);

  const incomingPresent = await store.exists(incomingManifestKey);
  const manifestText = incomingPresent
    ? await store.getText(incomingManifestKey)
    : await store.getText(manifestKey);
  const manifest = parseManifest(manifestText, incomingPresent ? incomingManifestKey : manifestKey);
  // One vault, one database: a backup of another database never lands here (lib/backup/vault.ts).
  await claimVault(store, manifest);

  // A retry after the incoming dump was deleted finds the promoted copy already there.
  const incoming = incomingPresent ? await headIfExists(store, keys.incomingDump(backupId)) : undefined;
  if (incoming) {
    // Checked before the copy: a short object must never reach backups/, not even unverified.
    if (incoming.bytes !== manifest.dump.bytes) {
      throw new ChecksumMismatchError(
        `${keys.incomingDump(backupId)} has ${incoming.bytes} bytes, the manifest says ${manifest.dump.bytes}; not promoted`,
        { details: { expectedBytes: manifest.dump.bytes, actualBytes: incoming.bytes } },
      );
    }
    await store.copy(keys.incomingDump(backupId), dumpKey, {
      bytes: manifest.dump.bytes,
      metadata: { 'backup-id': backupId, sha256: manifest.dump.sha256 },
      ...(options.singleCopyLimit === undefined ? {} : { singleCopyLimit: options.singleCopyLimit }),
    });
  }
  const promoted = await store.head(dumpKey);
  if (promoted.bytes !== manifest.dump.bytes) {
    throw new ChecksumMismatchError(
      `promoted ${dumpKey} has ${promoted.bytes} bytes, the manifest says ${manifest.dump.bytes}`,
      { details: { expectedBytes: manifest.dump.bytes, actualBytes: promoted.bytes } },
    );
  }
  await store.setTags(dumpKey, { 'backup-id': backupId, verified: 'false' });
  if (incomingPresent) {
    await store.putJson(manifestKey, manifest);
    await store.delete(keys.incomingDump(backupId));
    await store.delete(incomingManifestKey);
  }
  return { backupId, dumpKey, manifestKey, bytes: manifest.dump.bytes };
}

async function headIfExists(store: BackupStore, key: string): Promise<{ bytes: number } | undefined> {
  try {
    return await store.head(key);
  } catch (error) {
    if (error instanceof BackupNotFoundError) return undefined;
    throw error;
  }
}
