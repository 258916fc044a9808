/**
 * Schemas of what each step receives. The execution input comes from outside (console, CLI,
 * EventBridge) and is checked strictly: an unknown field or a wrong type fails the first step with an
 * InputValidationError naming the field, before anything touches a database or the bucket.
 */
import { z } from 'zod';
import { InputValidationError } from '../errors.ts';
import {
  backupIdSchema,
  compressionSchema,
  databaseNameSchema,
  reasonSchema,
  triggerSchema,
} from '../schemas.ts';
import { isBackupId } from '../storage/keys.ts';

/** Which database a step works on; set by Plan and passed to every later step (lib/backup/databases.ts). */
export const databaseTargetSchema = z.strictObject({
  database: databaseNameSchema,
  scope: databaseNameSchema.nullable(),
});

export const executionInputSchema = z.strictObject({
  trigger: triggerSchema.default('manual'),
  /** One database of the production server; absent: the one the connection URL names. */
  database: databaseNameSchema.optional(),
  reason: reasonSchema.optional(),
  compression: compressionSchema.optional(),
});
export type ExecutionInput = z.infer<typeof executionInputSchema>;

/**
 * The execution's id ($$.Execution.Id), which every Task state passes: the step handler puts it on
 * each log line (lib/logging.ts logKeysOf), and a few steps also record it.
 */
export const executionIdField = z.string().max(2048).optional();

export const dumpEventSchema = z.strictObject({
  execution: z.unknown(),
  executionId: executionIdField,
  target: databaseTargetSchema.optional(),
});

export const backupIdEventSchema = z.strictObject({
  backupId: backupIdSchema,
  target: databaseTargetSchema.optional(),
  executionId: executionIdField,
});

/** The execution id names the holder of the staging lease in a StagingBusyError. */
export const restoreEventSchema = backupIdEventSchema;

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const keysIssue = issue && 'keys' in issue ? (issue.keys as string[]) : [];
  const field = [...(issue?.path ?? []), ...keysIssue].join('.') || '(root)';
  throw new InputValidationError(`${what}: field "${field}" ${issue?.message ?? 'is invalid'}`, {
    details: { field },
  });
}

/**
 * The restore state machine's input (`backupctl restore --stage`): which backup, and where to, by
 * reference only. The target's URL holds a password, so it never travels in the execution input or
 * history: it is a secret the CLI creates and deletes around the execution.
 */
export const cloudRestoreInputSchema = z.strictObject({
  backupId: z.string().refine((id) => id === 'latest' || isBackupId(id), 'must be "latest" or a backup id'),
  targetSecret: z.string().min(1).max(2048),
  jobs: z.number().int().min(1).max(64).optional(),
  /** Recreate the night's roles (without passwords) first, and keep owners and grants. */
  withRoles: z.boolean().optional(),
  /** Which database's backups (a stage with several); absent: the connection URL's. */
  database: databaseNameSchema.optional(),
  /** The operator's word that the target is not production, for when the servers cannot tell. */
  targetNotProduction: z.boolean().optional(),
  /** Restore a backup that is not verified (lib/backup/catalog.ts says why it is not). */
  allowUnverified: z.boolean().optional(),
  /** Compare row counts only, even where the manifest recorded content checksums. */
  countsOnly: z.boolean().optional(),
  trigger: z.enum(['manual', 'cli']).default('manual'),
  reason: executionInputSchema.shape.reason,
});

export const cloudRestoreEventSchema = z.strictObject({
  execution: z.unknown(),
  executionId: executionIdField,
});
