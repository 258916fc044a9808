/**
 * Use case: fetch a backup for a restore by hand (`backupctl download`). The dump is re-hashed while it
 * downloads and only gets its name once it matches its manifest, so a file called `<id>.dump` is never
 * a partial or corrupt copy; the manifest is written beside it. Existing files are never overwritten.
 */
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBackup, type SkippedBackup } from '../backup/catalog.ts';
import { InputValidationError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { downloadVerified } from '../verify/restore.ts';

export interface DownloadOutcome {
  backupId: string;
  dumpPath: string;
  manifestPath: string;
  bytes: number;
  sha256: string;
  downloadSeconds: number;
  /** The PostgreSQL major the dump came from: restore into that major or a newer one. */
  sourceServerVersion: string;
  /** `latest` only: the newer backups it passed by (unverified, a failed check, damaged), and why. */
  skipped: SkippedBackup[];
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function downloadBackup(
  runtime: Pick<Runtime, 'store'>,
  idOrLatest: string,
  directory: string,
  options: {
    signal?: AbortSignal;
    /** Bytes downloaded so far and the dump's size, as the download goes. */
    onProgress?: (bytes: number, total: number) => void;
  } = {},
): Promise<DownloadOutcome> {
  const {
    backupId,
    entry: { manifest },
    skipped,
  } = await resolveBackup(runtime.store, idOrLatest);
  await mkdir(directory, { recursive: true });
  const dumpPath = join(directory, `${backupId}.dump`);
  const manifestPath = join(directory, `${backupId}.manifest.json`);
  for (const path of [dumpPath, manifestPath]) {
    if (await exists(path)) {
      throw new InputValidationError(`${path} already exists: move it away or pick another --out directory`);
    }
  }
  const partial = `${dumpPath}.partial`;
  try {
    const total = manifest.dump.bytes;
    const downloadSeconds = await downloadVerified(
      runtime.store,
      manifest,
      partial,
      options.signal,
      options.onProgress && ((bytes) => options.onProgress?.(bytes, total)),
    );
    await rename(partial, dumpPath);
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    return {
      backupId,
      dumpPath,
      manifestPath,
      bytes: manifest.dump.bytes,
      sha256: manifest.dump.sha256,
      downloadSeconds,
      sourceServerVersion: manifest.source.serverVersion,
      skipped,
    };
  } finally {
    await rm(partial, { force: true });
  }
}
