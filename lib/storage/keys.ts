/**
 * The bucket layout. A backup id starts with its UTC creation time, so ids sort by time and the
 * date folder of a promoted backup is derived from the id alone.
 *
 *   incoming/<id>.dump, incoming/<id>.manifest.json      written by Dump, unverified (1-day lifecycle)
 *   backups/<yyyy>/<mm>/<dd>/<id>.dump                     promoted by Upload
 *   backups/<yyyy>/<mm>/<dd>/<id>.manifest.json           what the dump contains (row counts, SHA-256)
 *   backups/<yyyy>/<mm>/<dd>/<id>.verification.json       written only once restore + counts matched
 *   backups/<yyyy>/<mm>/<dd>/<id>.checks.json             the last result of each later check (drill, verify)
 *   backups/vault.json                                     which database (and server) the vault belongs to
 */
import { createHash, randomBytes } from 'node:crypto';
import { InputValidationError } from '../errors.ts';

const backupIdPattern = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[0-9a-f]{6}$/;

/**
 * `<yyyymmdd>T<hhmmss>Z-<6 hex>`. With an owner (the Step Functions execution), the first four hex
 * digits are that owner's tag and the last two are random, so a retried Dump can recognise the
 * uploads its own earlier attempts left behind without touching a concurrent execution's.
 */
export function newBackupId(now: Date, owner?: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  const suffix = owner
    ? `${ownerTag(owner)}${randomBytes(1).toString('hex')}`
    : randomBytes(3).toString('hex');
  return `${stamp}-${suffix}`;
}

export function ownerTag(owner: string): string {
  return createHash('sha256').update(owner).digest('hex').slice(0, 4);
}

/** Whether `backupId` was made by newBackupId(_, owner) (or, 1 in 65,536, by chance). */
export function backupIdOwnedBy(backupId: string, owner: string): boolean {
  return isBackupId(backupId) && backupId.slice(-6, -2) === ownerTag(owner);
}

/** The instant an id's digits name, or undefined when they name none (month 13, 30 February, 24:00). */
function instantOf(value: string): Date | undefined {
  const [, year, month, day, hour, minute, second] = backupIdPattern.exec(value) ?? [];
  if (year === undefined) return undefined;
  const iso = `${year}-${month}-${day}T${hour}:${minute}:${second}`;
  const instant = new Date(`${iso}Z`);
  // Date rolls an impossible day over into the next month; the round trip says whether it did.
  return !Number.isNaN(instant.getTime()) && instant.toISOString().startsWith(iso) ? instant : undefined;
}

export function isBackupId(value: string): boolean {
  return instantOf(value) !== undefined;
}

function invalidBackupId(field: string): InputValidationError {
  return new InputValidationError(`${field} must look like 20260102T030405Z-a1b2c3`, { details: { field } });
}

export function assertBackupId(value: string, field = 'backupId'): string {
  if (!isBackupId(value)) throw invalidBackupId(field);
  return value;
}

export function backupIdTime(backupId: string): Date {
  const instant = instantOf(backupId);
  if (!instant) throw invalidBackupId('backupId');
  return instant;
}

function datedPrefix(backupId: string): string {
  const [year, month, day] = backupIdTime(backupId).toISOString().slice(0, 10).split('-');
  return `backups/${year}/${month}/${day}/${backupId}`;
}

export const keys = {
  incomingDump: (backupId: string) => `incoming/${assertBackupId(backupId)}.dump`,
  incomingManifest: (backupId: string) => `incoming/${assertBackupId(backupId)}.manifest.json`,
  dump: (backupId: string) => `${datedPrefix(backupId)}.dump`,
  manifest: (backupId: string) => `${datedPrefix(backupId)}.manifest.json`,
  verification: (backupId: string) => `${datedPrefix(backupId)}.verification.json`,
  checks: (backupId: string) => `${datedPrefix(backupId)}.checks.json`,
  /** Every object of one backup starts with this (a listing of one backup's objects). */
  backupPrefix: (backupId: string) => `${datedPrefix(backupId)}.`,
  vault: 'backups/vault.json',
};

export const backupsPrefix = 'backups/';

/** The backup id and kind of a key under backups/, or undefined for anything else. */
export type BackupObjectKind = 'dump' | 'manifest' | 'verification' | 'checks';

const kindOfSuffix: Record<string, BackupObjectKind> = {
  dump: 'dump',
  'manifest.json': 'manifest',
  'verification.json': 'verification',
  'checks.json': 'checks',
};

export function parseBackupKey(key: string): { backupId: string; kind: BackupObjectKind } | undefined {
  const match =
    /^backups\/\d{4}\/\d{2}\/\d{2}\/([^/]+)\.(dump|manifest\.json|verification\.json|checks\.json)$/.exec(
      key,
    );
  const kind = match?.[2] === undefined ? undefined : kindOfSuffix[match[2]];
  if (!match?.[1] || !kind || !isBackupId(match[1])) return undefined;
  // A key in another date's folder than its id's contradicts itself.
  if (key !== keys[kind](match[1])) return undefined;
  return { backupId: match[1], kind };
}
