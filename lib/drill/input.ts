/**
 * What the drill steps receive and answer (their contracts, lib/lambda/step.ts): each step's input
 * composes the outputs of the steps before it. The execution input comes from outside (EventBridge,
 * console, CLI) and is checked strictly. A drill restores onto a scratch server of its own, so no input names a database
 * it could touch.
 */
import { z } from 'zod';
import { proofLevels } from '../backup/manifest.ts';
import { backupIdSchema, databaseNameSchema, reasonSchema, triggerSchema } from '../schemas.ts';
import { checksumOutputSchema } from '../steps/checksum.ts';
import { databaseTargetSchema, executionIdField } from '../steps/input.ts';

const backupId = backupIdSchema;
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
  trigger: triggerSchema.default('manual'),
  /** A backup id, or "latest" (the default): the newest verified backup. */
  backupId: z.union([z.literal('latest'), backupId]).default('latest'),
  /** Which database's backups (a stage with several); absent: the connection URL's, at the top level. */
  database: databaseNameSchema.optional(),
  reason: reasonSchema.optional(),
});
export type DrillInput = z.infer<typeof drillInputSchema>;

export const selectEventSchema = z.strictObject({
  execution: z.unknown(),
  executionId: z.string().optional(),
  startedAt: z.iso.datetime({ offset: true }).optional(),
});

/** SelectBackup's output: which backup the drill restores, and the drill's own id and clock. */
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

/** RecordEvidence gets the three answers before it: SelectBackup's, Checksum's and RestoreAndCheck's. */
export const evidenceEventSchema = z.strictObject({
  executionId: z.string().optional(),
  selected: selectedSchema,
  // The figures the evidence uses; those from before the pass was timed or listed have fewer.
  checksum: checksumOutputSchema
    .pick({ status: true, archiveEntries: true, seconds: true })
    .partial({ archiveEntries: true, seconds: true }),
  restored: restoredSchema,
});
export type EvidenceEvent = z.infer<typeof evidenceEventSchema>;

/** RecordEvidence's output: the verdict, where the evidence went, and the figures of the summary. */
export const recordedEvidenceSchema = z.object({
  drillId: z.string(),
  passed: z.boolean(),
  evidenceKey: z.string(),
  markdownKey: z.string(),
  observedRpoHours: z.number(),
  observedRtoSeconds: z.number(),
  targetRtoHours: z.number(),
  /** The step whose checks failed the drill, for the alert ("none" when it passed). */
  failedStep: z.string(),
  cause: z.string(),
});

/** Notify runs only after a passed drill; its input is RecordEvidence's output. */
export const drillNotifyEventSchema = z.strictObject({
  backupId,
  target: databaseTargetSchema.optional(),
  executionId: executionIdField,
  evidence: recordedEvidenceSchema.pick({
    drillId: true,
    evidenceKey: true,
    observedRpoHours: true,
    observedRtoSeconds: true,
    targetRtoHours: true,
  }),
});
