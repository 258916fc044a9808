/**
 * What is in the vault, judged by contents, never by keys alone. The one definition of "verified" that
 * status, `latest`, retention and drills share:
 *
 *   a backup is verified when its manifest parses and matches its key and its dump's size, its
 *   verification record parses and names the same backup id, SHA-256 and size and a proof the manifest
 *   can give, and no later check of it failed (lib/backup/checks.ts).
 *
 * Anything else is unverified, with the reason. An object that cannot be parsed or contradicts its key
 * (a manifest that is not JSON, an old dump and manifest copied under a newer id, a dump whose size
 * is not its manifest's) is listed as damaged and left out: it never breaks a listing, a report or a
 * retention pass. "Latest" is the newest verified backup, decided across every page of the listing,
 * never from listing order; what it passed by, and why, is said.
 */
import {
  BackupNotFoundError,
  BackupUnverifiedError,
  describeError,
  ManifestInvalidError,
} from '../errors.ts';
import type { BackupStore, StoredObject } from '../storage/backup-store.ts';
import {
  assertBackupId,
  type BackupObjectKind,
  backupIdTime,
  backupsPrefix,
  isBackupId,
  keys,
  parseBackupKey,
} from '../storage/keys.ts';
import { type CheckResult, failedCheck, parseChecks } from './checks.ts';
import {
  type Manifest,
  manifestProof,
  parseManifest,
  parseVerification,
  proofOf,
  type Verification,
} from './manifest.ts';

export type BackupState = 'verified' | 'unverified' | 'check-failed';

export interface CatalogEntry {
  backupId: string;
  createdAt: Date;
  dumpBytes: number | undefined;
  hasManifest: boolean;
  /** The one meaning of "verified": see the top of this file. */
  verified: boolean;
  state: BackupState;
  /** Why it is not verified (or, when verified, what proved it). */
  reason: string;
  /** The later check that failed, when one did. */
  failedCheck?: CheckResult | undefined;
  /** Every object of this backup in the vault (vault keys). */
  objects: string[];
  manifest: Manifest;
  /** The globals/ record (the night's roles) its verification replayed, when it was verified with roles. */
  globalsId?: string | undefined;
}

/** An object that cannot be parsed or contradicts its key: listed, never trusted, never fatal. */
export interface DamagedObject {
  key: string;
  backupId?: string;
  reason: string;
}

export interface Catalog {
  /** Newest first; damaged backups are not among them. */
  backups: CatalogEntry[];
  damaged: DamagedObject[];
}

/** A newer backup that `latest` passed by, and why. */
export interface SkippedBackup {
  backupId: string;
  reason: string;
}

/** Keys under backups/ that are not backups: the vault's own record. */
const vaultKeys = new Set<string>([keys.vault]);

/** Why a verification record does not prove this manifest's backup, or undefined when it does. */
export function verificationProblem(verification: Verification, manifest: Manifest): string | undefined {
  if (verification.backupId !== manifest.backupId) {
    return `its verification record names backup ${verification.backupId}`;
  }
  if (verification.sha256 !== manifest.dump.sha256) {
    return "its verification record's SHA-256 is not the manifest's";
  }
  if (verification.bytes !== manifest.dump.bytes) {
    return `its verification record says ${verification.bytes} bytes, the manifest ${manifest.dump.bytes}`;
  }
  if (proofOf(verification) === 'checksums' && manifestProof(manifest) !== 'checksums') {
    return 'its verification record claims content checksums the manifest never recorded';
  }
  return undefined;
}

async function readOrUndefined(store: BackupStore, key: string): Promise<string | undefined> {
  try {
    return await store.getText(key);
  } catch (error) {
    // Deleted between the listing and the read (a retention pass, a person): as if never listed.
    if (error instanceof BackupNotFoundError) return undefined;
    throw error;
  }
}

type Judged = { entry: CatalogEntry } | { damaged: DamagedObject } | undefined;

async function judge(
  store: BackupStore,
  backupId: string,
  objects: Map<BackupObjectKind, StoredObject>,
): Promise<Judged> {
  const dump = objects.get('dump');
  // Half-promoted (the dump is copied before its manifest is written) or half-expired: not a backup.
  if (!dump || !objects.has('manifest')) return undefined;
  const manifestKey = keys.manifest(backupId);
  const text = await readOrUndefined(store, manifestKey);
  if (text === undefined) return undefined;
  let manifest: Manifest;
  try {
    manifest = parseManifest(text, manifestKey);
  } catch (error) {
    return { damaged: { key: manifestKey, backupId, reason: describeError(error) } };
  }
  if (manifest.backupId !== backupId) {
    return {
      damaged: {
        key: manifestKey,
        backupId,
        reason: `describes backup ${manifest.backupId}, not ${backupId} (copied under another id?)`,
      },
    };
  }
  if (dump.bytes !== manifest.dump.bytes) {
    return {
      damaged: {
        key: keys.dump(backupId),
        backupId,
        reason: `has ${dump.bytes} bytes, its manifest says ${manifest.dump.bytes}`,
      },
    };
  }

  let reason = 'no verification record';
  let verified = false;
  let globalsId: string | undefined;
  if (objects.has('verification')) {
    const key = keys.verification(backupId);
    const record = await readOrUndefined(store, key);
    if (record !== undefined) {
      try {
        const verification = parseVerification(record, key);
        const problem = verificationProblem(verification, manifest);
        verified = problem === undefined;
        reason = problem ?? `verified ${verification.verifiedAt} (${proofOf(verification)})`;
        if ('roles' in verification) globalsId = verification.roles?.globalsId;
      } catch (error) {
        reason = `its verification record is unreadable: ${describeError(error)}`;
      }
    }
  }
  let failed: CheckResult | undefined;
  if (objects.has('checks')) {
    const key = keys.checks(backupId);
    const record = await readOrUndefined(store, key);
    if (record !== undefined) {
      try {
        const checks = parseChecks(record, key);
        failed =
          checks.backupId === backupId
            ? failedCheck(checks)
            : {
                kind: 'verify',
                passed: false,
                checkedAt: manifest.createdAt,
                reason: `${key} names another backup`,
              };
      } catch (error) {
        // Whatever it said, nobody can show the checks passed.
        failed = {
          kind: 'verify',
          passed: false,
          checkedAt: manifest.createdAt,
          reason: `its check record is unreadable: ${describeError(error)}`,
        };
      }
    }
  }
  const state: BackupState = failed ? 'check-failed' : verified ? 'verified' : 'unverified';
  return {
    entry: {
      backupId,
      createdAt: backupIdTime(backupId),
      dumpBytes: dump.bytes,
      hasManifest: true,
      verified: verified && !failed,
      state,
      reason: failed
        ? `its last ${failed.kind} check failed (${failed.checkedAt}): ${failed.reason}`
        : reason,
      failedCheck: failed,
      objects: [...objects.values()].map((object) => object.key).sort(),
      manifest,
      ...(globalsId ? { globalsId } : {}),
    },
  };
}

/** Every backup under `prefix` (the whole vault by default), judged; see the top of this file. */
export async function readCatalog(store: BackupStore, prefix = backupsPrefix): Promise<Catalog> {
  const grouped = new Map<string, Map<BackupObjectKind, StoredObject>>();
  const damaged: DamagedObject[] = [];
  for (const object of await store.list(prefix)) {
    const parsed = parseBackupKey(object.key);
    if (!parsed) {
      if (!vaultKeys.has(object.key)) {
        damaged.push({ key: object.key, reason: 'not a key this tool writes (name or date folder)' });
      }
      continue;
    }
    const objects = grouped.get(parsed.backupId) ?? new Map<BackupObjectKind, StoredObject>();
    objects.set(parsed.kind, object);
    grouped.set(parsed.backupId, objects);
  }
  const backups: CatalogEntry[] = [];
  const ids = [...grouped.keys()];
  // Ten reads at a time: a year of nightly backups is read in seconds without a burst of requests.
  for (let start = 0; start < ids.length; start += 10) {
    const judged = await Promise.all(
      ids.slice(start, start + 10).map((id) => judge(store, id, grouped.get(id) ?? new Map())),
    );
    for (const result of judged) {
      if (result && 'entry' in result) backups.push(result.entry);
      else if (result) damaged.push(result.damaged);
    }
  }
  backups.sort((a, b) => b.backupId.localeCompare(a.backupId));
  damaged.sort((a, b) => b.key.localeCompare(a.key));
  return { backups, damaged };
}

export async function listBackups(store: BackupStore): Promise<CatalogEntry[]> {
  return (await readCatalog(store)).backups;
}

/** The newest verified of `backups`, in any order: the catalog's rule, also for retention's plain entries. */
export function newestVerifiedOf<T extends Pick<CatalogEntry, 'backupId' | 'verified'>>(
  backups: readonly T[],
): T | undefined {
  return backups.filter((b) => b.verified).sort((a, b) => b.backupId.localeCompare(a.backupId))[0];
}

/** The newest verified backup, and the newer ones passed by (unverified, failed a check, damaged). */
export function newestVerifiedIn(catalog: Catalog): {
  entry: CatalogEntry | undefined;
  skipped: SkippedBackup[];
} {
  const entry = newestVerifiedOf(catalog.backups);
  const newer = (backupId: string | undefined) =>
    backupId !== undefined && (entry === undefined || backupId > entry.backupId);
  const skipped = [
    ...catalog.backups
      .filter((b) => !b.verified && newer(b.backupId))
      .map((b) => ({ backupId: b.backupId, reason: b.reason })),
    ...catalog.damaged
      .filter((d) => newer(d.backupId))
      .map((d) => ({ backupId: d.backupId ?? d.key, reason: `damaged: ${d.key} ${d.reason}` })),
  ].sort((a, b) => b.backupId.localeCompare(a.backupId));
  return { entry, skipped };
}

/**
 * How fresh one vault (one database) is: the one reading of "the newest verified backup" that the age
 * alarm's metric, status, the drills and retention share. A stage is as fresh as its stalest vault.
 *
 * The age counts from the newest verified backup; before a vault's first verified backup, from its
 * first backup (its oldest one, damaged or not): a database added tonight is `awaitingFirst`,
 * said to have no verified backup yet but not stale and not a page, until that age passes the RPO, and
 * from then on it is as stale as a database whose backups stopped. Retention keeps every backup of a
 * vault with no verified one, so its first backup, and its age, stay put. An empty vault has no age.
 */
export interface VaultFreshness {
  entry: CatalogEntry | undefined;
  skipped: SkippedBackup[];
  /** Where the age counts from; undefined for a vault with no backup at all. */
  since: Date | undefined;
  /** Hours since `since`, rounded to 0.01; undefined with it. */
  ageHours: number | undefined;
  /** No verified backup yet, and the first backup is not older than the RPO: new, not stale. */
  awaitingFirst: boolean;
}

export function vaultFreshness(catalog: Catalog, now: Date, rpoHours: number): VaultFreshness {
  const { entry, skipped } = newestVerifiedIn(catalog);
  const firstBackup = [
    ...catalog.backups.map((b) => b.backupId),
    ...catalog.damaged.flatMap((d) => d.backupId ?? []),
  ]
    .filter(isBackupId)
    .sort()[0];
  const since = entry ? entry.createdAt : firstBackup !== undefined ? backupIdTime(firstBackup) : undefined;
  const ageHours = since ? Math.round((now.getTime() - since.getTime()) / 36_000) / 100 : undefined;
  return {
    entry,
    skipped,
    since,
    ageHours,
    awaitingFirst: !entry && ageHours !== undefined && ageHours <= rpoHours,
  };
}

/** Words for a vault with no verified backup, for summaries and errors. */
export function noVerifiedBackupText(freshness: { ageHours: number | null | undefined }): string {
  return freshness.ageHours === undefined || freshness.ageHours === null
    ? 'no backup at all'
    : `its first backup is ${freshness.ageHours} h old`;
}

export async function newestVerifiedBackup(store: BackupStore): Promise<CatalogEntry | undefined> {
  return newestVerifiedIn(await readCatalog(store)).entry;
}

/**
 * The manifest of the newest backup, verified or not (what the dump's throughput and the vault's
 * database are read from), reading manifests only: a damaged one is passed by, never fatal.
 */
export async function newestManifest(store: BackupStore): Promise<Manifest | undefined> {
  const complete = new Map<string, Set<BackupObjectKind>>();
  for (const object of await store.list(backupsPrefix)) {
    const parsed = parseBackupKey(object.key);
    if (!parsed) continue;
    complete.set(parsed.backupId, (complete.get(parsed.backupId) ?? new Set()).add(parsed.kind));
  }
  const ids = [...complete.entries()]
    .filter(([, kinds]) => kinds.has('dump') && kinds.has('manifest'))
    .map(([id]) => id)
    .sort()
    .reverse();
  for (const backupId of ids) {
    try {
      return await readManifest(store, backupId);
    } catch (error) {
      if (!(error instanceof ManifestInvalidError || error instanceof BackupNotFoundError)) throw error;
    }
  }
  return undefined;
}

/** One backup of the vault, judged like the whole catalog; undefined when it has no manifest. */
export async function inspectBackup(
  store: BackupStore,
  backupId: string,
): Promise<{ entry: CatalogEntry | undefined; damaged: DamagedObject[] }> {
  const catalog = await readCatalog(store, keys.backupPrefix(assertBackupId(backupId, 'backup id')));
  return { entry: catalog.backups.find((b) => b.backupId === backupId), damaged: catalog.damaged };
}

export interface ResolvedBackup {
  backupId: string;
  /** The backup as the catalog judges it (verified or not, and why). */
  entry: CatalogEntry;
  /** `latest` only: the newer backups it passed by, and why. */
  skipped: SkippedBackup[];
}

/**
 * Resolves `latest` (the newest verified backup) or a literal backup id that exists in the vault,
 * with the catalog's judgement of it. A literal id may name an unverified backup: callers that need a
 * verified one ask `requireVerified`.
 */
export async function resolveBackup(store: BackupStore, idOrLatest: string): Promise<ResolvedBackup> {
  if (idOrLatest === 'latest') {
    const { entry, skipped } = newestVerifiedIn(await readCatalog(store));
    if (!entry) {
      const passed = skipped.length
        ? `; passed by: ${skipped.map((s) => `${s.backupId} (${s.reason})`).join('; ')}`
        : '';
      throw new BackupNotFoundError(`there is no verified backup yet${passed}`.slice(0, 2000));
    }
    return { backupId: entry.backupId, entry, skipped };
  }
  const backupId = assertBackupId(idOrLatest, 'backup id');
  const { entry, damaged } = await inspectBackup(store, backupId);
  if (!entry) {
    const why = damaged[0] ? `: ${damaged[0].key} ${damaged[0].reason}` : ' has no manifest in the vault';
    throw new BackupNotFoundError(`backup ${backupId}${why}`);
  }
  return { backupId, entry, skipped: [] };
}

/** Resolves `latest` or a literal backup id; see resolveBackup. */
export async function resolveBackupId(store: BackupStore, idOrLatest: string): Promise<string> {
  return (await resolveBackup(store, idOrLatest)).backupId;
}

/** Refuses an unverified backup unless the caller allows it, saying why it is unverified. */
export function requireVerified(entry: CatalogEntry, allowUnverified: boolean): void {
  if (entry.verified || allowUnverified) return;
  throw new BackupUnverifiedError(
    `backup ${entry.backupId} is not verified: ${entry.reason}. Restore it anyway with --allow-unverified`,
    { details: { backupId: entry.backupId, state: entry.state } },
  );
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
