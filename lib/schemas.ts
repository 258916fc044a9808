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

/** A backup's id: its UTC start time and a tag (lib/storage/keys.ts). */
export const backupIdSchema = z.string().refine(isBackupId, 'must look like 20260102T030405Z-a1b2c3');
