/**
 * Use case: fetch a backup for a restore by hand (`backupctl download`). The dump is re-hashed while it
 * downloads and only gets its name once it matches its manifest, so a file called `<id>.dump` is never
 * a partial or corrupt copy; the manifest is written beside it. Existing files are never overwritten.
 */
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBackup, type SkippedBackup } from '../backup/catalog.ts';
import { InputValidationError } from '../errors.ts';
import { availablePgBundles, loaderPath, programPath } from '../pg/client.ts';
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
  sourceServerVersionNum: number;
  /**
   * The pg_dump major that wrote the archive: pg_restore must be that major or newer (pg_restore 15
   * refuses a pg_dump 18 archive: `unsupported version (1.16) in file header`), whatever the source.
   */
  archiveClientMajor: number;
  /** This machine's bundled pg_restore that reads it, run through the bundle's loader; absent if none. */
  bundledPgRestore?: { version: string; argv: string[] };
  /** `latest` only: the newer backups it passed by (unverified, a failed check, damaged), and why. */
  skipped: SkippedBackup[];
}

/** The newest bundled client that reads a pg_dump `major` archive, as the argv prefix that runs it. */
async function bundledPgRestore(major: number): Promise<DownloadOutcome['bundledPgRestore']> {
  const bundle = (await availablePgBundles().catch(() => [])).filter((b) => b.major >= major).at(-1);
  if (!bundle) return undefined;
  return {
    version: bundle.version,
    argv: [loaderPath(bundle), '--library-path', join(bundle.dir, 'lib'), programPath(bundle, 'pg_restore')],
  };
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
  // Directories created here are this user's alone; the dump itself is written 0600 (downloadVerified).
  await mkdir(directory, { recursive: true, mode: 0o700 });
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
    const pgRestore = await bundledPgRestore(manifest.client.bundleMajor);
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    return {
      backupId,
      dumpPath,
      manifestPath,
      bytes: manifest.dump.bytes,
      sha256: manifest.dump.sha256,
      downloadSeconds,
      sourceServerVersion: manifest.source.serverVersion,
      sourceServerVersionNum: manifest.source.serverVersionNum,
      archiveClientMajor: manifest.client.bundleMajor,
      ...(pgRestore ? { bundledPgRestore: pgRestore } : {}),
      skipped,
    };
  } finally {
    await rm(partial, { force: true });
  }
}
