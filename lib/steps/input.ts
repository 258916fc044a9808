/**
 * Schemas of what each step receives. The execution input comes from outside (console, CLI,
 * EventBridge) and is checked strictly: an unknown field or a wrong type fails the first step with an
 * InputValidationError naming the field, before anything touches a database or the bucket.
 */
import { z } from 'zod';
import { proofLevels } from '../backup/manifest.ts';
import { InputValidationError } from '../errors.ts';
import { backupIdSchema, compressionSchema } from '../schemas.ts';
import { isBackupId } from '../storage/keys.ts';

/** A PostgreSQL database name: 1-63 bytes. */
export const databaseNameSchema = z
  .string()
  .min(1)
  .refine((name) => Buffer.byteLength(name) <= 63, 'must be at most 63 bytes (a PostgreSQL name)');

/** Which database a step works on; set by Plan and passed to every later step (lib/backup/databases.ts). */
export const databaseTargetSchema = z.strictObject({
  database: databaseNameSchema,
  scope: databaseNameSchema.nullable(),
});

export const executionInputSchema = z.strictObject({
  trigger: z.enum(['schedule', 'manual', 'cli']).default('manual'),
  /** One database of the production server; absent: the one the connection URL names. */
  database: databaseNameSchema.optional(),
  reason: z
    .string()
    .max(500)
    .refine(
      (text) => ![...text].some((c) => c.charCodeAt(0) < 0x20),
      'must be one line without control characters',
    )
    .optional(),
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

/** Notify runs only after Verify matched; anything else here is a wiring fault. */
export const notifyEventSchema = z.strictObject({
  backupId: backupIdSchema,
  target: databaseTargetSchema.optional(),
  executionId: executionIdField,
  dump: z.unknown(),
  checksum: z.unknown(),
  verify: z.object({
    target: z.enum(['scratch', 'staging']),
    serverVersion: z.string(),
    downloadSeconds: z.number(),
    restoreSeconds: z.number(),
    compareSeconds: z.number(),
    benignMessages: z.array(z.string()),
    roles: z.object({ globalsId: z.string(), ownership: z.enum(['match', 'not recorded']) }).optional(),
    compare: z.object({
      status: z.literal('match'),
      /** Absent in the output of a Verify deployed before content checksums: it compared counts. */
      proof: z.enum(proofLevels).default('counts'),
      tablesCompared: z.number(),
      rowsCompared: z.number(),
    }),
  }),
});

export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
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
