/**
 * Values that several schemas check alike (the execution input, the settings, the stage config): one
 * rule and one message each, so a change of rule changes every place that takes the value.
 */
import { z } from 'zod';
import { compressionPattern } from './backup/manifest.ts';
import { isBackupId } from './storage/keys.ts';

/** pg_dump's --compress: `none`, or a method with an optional level. */
export const compressionSchema = z
  .string()
  .regex(compressionPattern, 'must be none, gzip[:1-9], lz4[:1-12] or zstd[:1-22]');

/** Why a run was started, as the operator wrote it: one line, since it goes into alerts and reports. */
export const reasonSchema = z
  .string()
  .max(500)
  .refine(
    (text) => ![...text].some((c) => c.charCodeAt(0) < 0x20),
    'must be one line without control characters',
  );

/** Who started a run: the schedule, the console (manual) or backupctl. */
export const triggerSchema = z.enum(['schedule', 'manual', 'cli']);

/** PostgreSQL keeps at most 63 bytes of a name (NAMEDATALEN - 1). */
const nameMaxBytes = 63;

/** A PostgreSQL database name: 1-63 bytes. The one rule; each place that takes one says it in its words. */
export function isDatabaseName(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= nameMaxBytes;
}

export const databaseNameSchema = z
  .string()
  .min(1)
  .refine(isDatabaseName, `must be at most ${nameMaxBytes} bytes (a PostgreSQL name)`);

/** A backup's id: its UTC start time and a tag (lib/storage/keys.ts). */
export const backupIdSchema = z.string().refine(isBackupId, 'must look like 20260102T030405Z-a1b2c3');
