/**
 * What the drill steps receive. The execution input comes from outside (EventBridge, console, CLI) and
 * is checked strictly. A drill restores onto a scratch server of its own, so no input names a database
 * it could touch.
 */
import { z } from 'zod';
import { proofLevels } from '../backup/manifest.ts';
import { databaseNameSchema, databaseTargetSchema, executionIdField } from '../steps/input.ts';
import { isBackupId } from '../storage/keys.ts';

const backupId = z.string().refine(isBackupId, 'must look like 20260102T030405Z-a1b2c3');
/** One sanity check as run in a drill: recorded in the step output and in the evidence. */
export const sanityResultSchema = z.object({
  name: z.string(),
  sql: z.string(),
  expectation: z.string(),
  value: z.number().nullable(),
  passed: z.boolean(),
  error: z.string().optional(),
});

export const drillInputSchema = z.strictObject({
  trigger: z.enum(['schedule', 'manual', 'cli']).default('manual'),
  /** A backup id, or "latest" (the default): the newest verified backup. */
  backupId: z.union([z.literal('latest'), backupId]).default('latest'),
  /** Which database's backups (a stage with several); absent: the connection URL's, at the top level. */
  database: databaseNameSchema.optional(),
  reason: z
    .string()
    .max(500)
    .refine((text) => ![...text].some((c) => c.charCodeAt(0) < 0x20), 'must be one line')
    .optional(),
});
export type DrillInput = z.infer<typeof drillInputSchema>;

export const selectEventSchema = z.strictObject({
  execution: z.unknown(),
  executionId: z.string().optional(),
  startedAt: z.iso.datetime({ offset: true }).optional(),
});

export const selectedSchema = z.object({
  drillId: backupId,
  backupId,
  backupCreatedAt: z.iso.datetime(),
  startedAt: z.iso.datetime(),
  trigger: z.string(),
  reason: z.string().optional(),
  venue: z.enum(['lambda', 'worker']).optional(),
  /** The database drilled and its vault; absent in drills from before several databases. */
  target: databaseTargetSchema.optional(),
});

export const drillRestoreEventSchema = z.strictObject({
  backupId,
  target: databaseTargetSchema.optional(),
  executionId: executionIdField,
});

/** The night's roles a drill replayed (its `globals/` record) and how owners and grants compared. */
export const drillRolesSchema = z.object({
  globalsId: z.string(),
  ownership: z.enum(['match', 'not recorded']),
});

/** RestoreAndCheck's output: where and how fast it restored, and every check's result as data. */
export const restoredSchema = z.object({
  target: z.enum(['scratch', 'staging']),
  serverVersion: z.string(),
  /** initdb and start of the fresh server: a disaster starts without one. */
  serverStartSeconds: z.number().nonnegative().default(0),
  downloadSeconds: z.number(),
  restoreSeconds: z.number(),
  benignMessages: z.array(z.string()),
  /** Scratch only, where the night's roles were kept: replayed first, then owners and grants checked. */
  roles: drillRolesSchema.optional(),
  compare: z.object({
    status: z.enum(['match', 'mismatch']),
    proof: z.enum(proofLevels),
    tablesCompared: z.number(),
    rowsCompared: z.number(),
    tables: z.array(
      z.object({ schema: z.string(), table: z.string(), expected: z.number(), actual: z.number() }),
    ),
    missing: z.array(z.string()),
    extra: z.array(z.string()),
    content: z.array(z.string()),
    compareSeconds: z.number(),
  }),
  sanity: z.object({
    checks: z.array(sanityResultSchema),
    sanitySeconds: z.number(),
  }),
});

export const evidenceEventSchema = z.strictObject({
  executionId: z.string().optional(),
  selected: selectedSchema,
  checksum: z.object({
    status: z.string(),
    archiveEntries: z.number().optional(),
    seconds: z.number().nonnegative().optional(),
  }),
  restored: restoredSchema,
});
export type EvidenceEvent = z.infer<typeof evidenceEventSchema>;

/** Notify runs only after a passed drill; its input is RecordEvidence's output. */
export const drillNotifyEventSchema = z.strictObject({
  backupId,
  target: databaseTargetSchema.optional(),
  executionId: executionIdField,
  evidence: z.object({
    drillId: z.string(),
    evidenceKey: z.string(),
    observedRpoHours: z.number(),
    observedRtoSeconds: z.number(),
    targetRtoHours: z.number(),
  }),
});
