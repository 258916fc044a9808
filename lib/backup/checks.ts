/**
 * What later checks found about a backup, beside it: `<id>.checks.json` holds the last result of each
 * kind of check (a drill, `backupctl verify`, the Checksum step). A backup whose last check of any
 * kind failed is no longer "verified" (lib/backup/catalog.ts), whatever its verification record says:
 * status turns red and `latest` passes it by. A later pass of the same kind replaces the failure (the
 * check was repeated and passed); a pass of another kind does not (a readable archive says nothing
 * about content a drill found wrong).
 */
import { z } from 'zod';
import type { BackupStore } from '../storage/backup-store.ts';
import { keys } from '../storage/keys.ts';
import { parseStoredRecord } from './manifest.ts';

export const checkKinds = ['drill', 'verify', 'checksum'] as const;
export type CheckKind = (typeof checkKinds)[number];

const checkSchema = z.strictObject({
  kind: z.enum(checkKinds),
  passed: z.boolean(),
  checkedAt: z.iso.datetime(),
  /** What failed (secret-free), or what passed. */
  reason: z.string(),
  executionId: z.string().optional(),
});
export type CheckResult = z.infer<typeof checkSchema>;

const checksSchema = z.strictObject({
  checksVersion: z.literal(1),
  backupId: z.string(),
  checks: z.array(checkSchema),
});
export type ChecksRecord = z.infer<typeof checksSchema>;

export function parseChecks(text: string, where: string): ChecksRecord {
  return parseStoredRecord(checksSchema, text, where, 'check record');
}

/** The failed check that makes a backup unusable, or undefined when every last check passed. */
export function failedCheck(record: ChecksRecord): CheckResult | undefined {
  return record.checks.find((check) => !check.passed);
}

/**
 * Records one check's result against a backup (read, replace that kind's entry, write). A pass is
 * written only over an earlier record (it may clear a failure of its kind): a backup nobody found fault
 * with needs no object. An unreadable record is replaced: the result this call records is newer.
 * Returns the record, or undefined when nothing needed writing.
 */
export async function recordCheck(
  store: BackupStore,
  backupId: string,
  check: Omit<CheckResult, 'checkedAt'> & { checkedAt?: string },
): Promise<ChecksRecord | undefined> {
  const key = keys.checks(backupId);
  let previous: CheckResult[] = [];
  const exists = await store.exists(key);
  if (!exists && check.passed) return undefined;
  if (exists) {
    try {
      const record = parseChecks(await store.getText(key), key);
      if (record.backupId === backupId) previous = record.checks;
    } catch {
      previous = [];
    }
  }
  const entry: CheckResult = {
    kind: check.kind,
    passed: check.passed,
    checkedAt: check.checkedAt ?? new Date().toISOString(),
    reason: check.reason.slice(0, 2000),
    ...(check.executionId ? { executionId: check.executionId } : {}),
  };
  const record: ChecksRecord = {
    checksVersion: 1,
    backupId,
    checks: [...previous.filter((c) => c.kind !== check.kind), entry],
  };
  await store.putJson(key, record);
  return record;
}
