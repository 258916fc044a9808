/**
 * The manifest says what a backup contains and how to prove it: the SHA-256 and size of the dump, and
 * the exact row count of every table, counted in the same snapshot pg_dump read. It never holds a
 * secret (no password, no connection string). Versioned: readers reject versions they do not know.
 */
import { z } from 'zod';
import { ManifestInvalidError } from '../errors.ts';
import { checksumsProofLabel, columnPlanAlgorithms, weakChecksumsLabel } from '../pg/content.ts';
import { columnHashes } from '../pg/row-hash.ts';
import { streamContentAlgorithm } from '../pg/stream-content.ts';

/**
 * pg_dump's compression when none is configured. zstd level 1, not 3: on the benchmark's 1 GiB
 * database it writes 2% more bytes (9% more on prose) for 38% less pg_dump CPU, and on Lambda pg_dump
 * and our Node process share one vCPU, so that CPU decides how large a database fits one dump
 * (docs/performance.md, "Change: zstd:1 instead of zstd:3").
 */
export const defaultCompression = 'zstd:1';

export const compressionPattern =
  /^(none|gzip(:[1-9])?|lz4(:([1-9]|1[0-2]))?|zstd(:([1-9]|1[0-9]|2[0-2]))?)$/;

const manifestFields = z.strictObject({
  manifestVersion: z.literal(1),
  backupId: z.string(),
  createdAt: z.iso.datetime(),
  trigger: z.enum(['schedule', 'manual', 'drill', 'cli']),
  reason: z.string().optional(),
  source: z.strictObject({
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    serverVersion: z.string(),
    serverVersionNum: z.number().int(),
    systemIdentifier: z.string().nullable(),
    databaseSizeBytes: z.number().int().nonnegative(),
  }),
  client: z.strictObject({
    program: z.literal('pg_dump'),
    version: z.string(),
    bundleMajor: z.number().int(),
  }),
  format: z.literal('custom'),
  compression: z.string().regex(compressionPattern),
  dump: z.strictObject({
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    partSizeBytes: z.number().int().positive(),
  }),
  snapshotId: z.string(),
  timings: z.strictObject({
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    dumpSeconds: z.number().nonnegative(),
    countSeconds: z.number().nonnegative(),
  }),
  tables: z.array(
    z.strictObject({
      schema: z.string(),
      table: z.string(),
      rows: z.number().int().nonnegative(),
      /** With `content`: the table's content checksum (lib/pg/content.ts), an exact decimal sum. */
      checksum: z
        .string()
        .regex(/^-?\d{1,40}$/)
        .optional(),
      /**
       * With content checksums v2 or v3 (or a v4 manifest's scan): how each column was hashed, by name
       * (lib/pg/row-hash.ts).
       */
      columns: z.array(z.tuple([z.string(), z.enum(columnHashes)])).optional(),
      /**
       * v4: the columns of pg_dump's COPY with their types, in its order (the restored side is copied out
       * the same way, and a column missing, added or of another type is named).
       */
      copyColumns: z.array(z.tuple([z.string(), z.string()])).optional(),
      /** v4, a table with a generated column: its checksum by a scan under `content.scanAlgorithm`. */
      scanChecksum: z
        .string()
        .regex(/^-?\d{1,40}$/)
        .optional(),
    }),
  ),
  /**
   * Present when the dump recorded content checksums (proof level `checksums`): how they were taken,
   * so a verification computes them the same way, or not at all under another algorithm.
   */
  content: z
    .strictObject({
      algorithm: z.string(),
      /** v4: the scan's algorithm for what the stream cannot show (generated columns). */
      scanAlgorithm: z.string().optional(),
      settings: z.record(z.string(), z.string()),
      largeObjects: z.strictObject({
        count: z.number().int().nonnegative(),
        checksum: z.string().regex(/^-?\d{1,40}$/),
      }),
      /** Read when the snapshot was taken, before pg_dump started: a restored one is never behind. */
      sequences: z.array(
        z.strictObject({
          schema: z.string(),
          name: z.string(),
          lastValue: z
            .string()
            .regex(/^-?\d{1,20}$/)
            .nullable(),
          increment: z.string().regex(/^-?\d{1,20}$/),
        }),
      ),
    })
    .optional(),
  /**
   * The extensions installed in the database when it was dumped (same snapshot): a restore needs each
   * on the target server. Absent in manifests written before they were recorded.
   */
  extensions: z
    .array(z.strictObject({ name: z.string(), version: z.string(), schema: z.string() }))
    .optional(),
  /**
   * Owners and grants of every schema and relation pg_dump writes, in the dump's snapshot
   * (lib/pg/ownership.ts): what a restore with roles must reproduce. Absent in older manifests.
   */
  ownership: z
    .array(
      z.strictObject({
        kind: z.string(),
        schema: z.string(),
        name: z.string(),
        owner: z.string(),
        acl: z.string().nullable(),
      }),
    )
    .optional(),
  warnings: z.array(z.string()),
});

export const manifestSchema = manifestFields.superRefine((manifest, context) => {
  const algorithm = manifest.content?.algorithm;
  // v4: every checksum is over pg_dump's COPY columns, which the restored side must copy out alike; a
  // table's scan checksum (a generated column) is only comparable with the plan it was taken under.
  if (algorithm === streamContentAlgorithm) {
    const scanNeedsPlan = columnPlanAlgorithms.includes(manifest.content?.scanAlgorithm ?? '');
    manifest.tables.forEach((t, index) => {
      if (t.checksum !== undefined && t.copyColumns === undefined)
        context.addIssue({
          code: 'custom',
          path: ['tables', index, 'copyColumns'],
          message: `a ${algorithm} checksum needs the COPY columns it was taken over`,
        });
      if (t.scanChecksum !== undefined && scanNeedsPlan && t.columns === undefined)
        context.addIssue({
          code: 'custom',
          path: ['tables', index, 'columns'],
          message: 'a scan checksum needs the column plan it was taken under',
        });
    });
    return;
  }
  // A v2 or v3 checksum is only comparable with the plan it was taken under.
  if (algorithm !== 'row-hash-sum64-v2' && algorithm !== 'row-hash-sum64-v3') return;
  const index = manifest.tables.findIndex((t) => t.checksum !== undefined && t.columns === undefined);
  if (index >= 0) {
    context.addIssue({
      code: 'custom',
      path: ['tables', index, 'columns'],
      message: `a ${algorithm} checksum needs the column plan it was taken under`,
    });
  }
});

export type Manifest = z.infer<typeof manifestSchema>;

/**
 * Parses a JSON record read from the store against its schema. `where` names the object and `what`
 * the kind of record in the error; a field that fails is named, its value never echoed.
 */
export function parseStoredRecord<T>(schema: z.ZodType<T>, text: string, where: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ManifestInvalidError(`${where} is not valid JSON`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.join('.') || '(root)';
    throw new ManifestInvalidError(`${where} is not a valid ${what}: ${field}: ${issue?.message}`, {
      details: { field },
    });
  }
  return result.data;
}

/** What a verification of this backup can prove: content only where the dump recorded checksums. */
export function manifestProof(manifest: Manifest): ProofLevel {
  return manifest.content ? 'checksums' : 'counts';
}

export function parseManifest(text: string, where: string): Manifest {
  return parseStoredRecord(manifestSchema, text, where, 'manifest');
}

const verificationV1Schema = z.strictObject({
  verificationVersion: z.literal(1),
  backupId: z.string(),
  verifiedAt: z.iso.datetime(),
  sha256: z.string(),
  bytes: z.number().int(),
  restoreSeconds: z.number(),
  tablesCompared: z.number().int(),
  rowsCompared: z.number().int(),
  stagingServerVersion: z.string(),
  benignRestoreMessages: z.array(z.string()),
  executionId: z.string().optional(),
});

/** How much a verification proved: every table's row count, or also every table's content. */
export const proofLevels = ['counts', 'checksums'] as const;
export type ProofLevel = (typeof proofLevels)[number];

/** Where content checksums come from: the dump's own stream (read once) or a scan of the snapshot. */
export const checksumSources = ['stream', 'scan'] as const;
export type ChecksumSource = (typeof checksumSources)[number];

/**
 * Verification evidence written beside the manifest once a restore matched it. Version 2 says where the
 * backup was restored (a scratch server of ours, or staging) and what the comparison proved; version 1
 * records (staging only, counts only) stay readable.
 */
const verificationV2Schema = z.strictObject({
  verificationVersion: z.literal(2),
  backupId: z.string(),
  verifiedAt: z.iso.datetime(),
  sha256: z.string(),
  bytes: z.number().int(),
  /** Production's version (the manifest's), next to the restore target's: absent in older records. */
  sourceServerVersion: z.string().optional(),
  restoreTarget: z.strictObject({ kind: z.enum(['scratch', 'staging']), serverVersion: z.string() }),
  proof: z.enum(proofLevels),
  /**
   * The proof as people read it, with the checksums' version and what it cannot see
   * (`proofLabelOf`): `counts`, `checksums-v3`, `checksums-v2 (weak: cannot see values moved between
   * rows)`. Absent in records written before it.
   */
  proofLabel: z.string().optional(),
  /**
   * Where the night's roles were kept: they were replayed on the scratch server first, and owners and
   * grants were restored and compared with the manifest's. Absent: restored without owners and grants.
   */
  roles: z.strictObject({ globalsId: z.string(), ownership: z.enum(['match', 'not recorded']) }).optional(),
  downloadSeconds: z.number(),
  restoreSeconds: z.number(),
  compareSeconds: z.number(),
  tablesCompared: z.number().int(),
  rowsCompared: z.number().int(),
  benignRestoreMessages: z.array(z.string()),
  executionId: z.string().optional(),
});

export const verificationSchema = z.union([verificationV1Schema, verificationV2Schema]);
export type Verification = z.infer<typeof verificationSchema>;
export type CurrentVerification = z.infer<typeof verificationV2Schema>;

/** What a verification record proved; version 1 records compared counts only. */
export function proofOf(verification: Verification): ProofLevel {
  return verification.verificationVersion === 1 ? 'counts' : verification.proof;
}

/**
 * What a verification of `manifest` with proof `proof` proved, as people read it: the checksums' version
 * and, for v2, that it cannot see values moved between rows.
 */
export function proofLabelOf(proof: ProofLevel, manifest: Pick<Manifest, 'content'> | undefined): string {
  return proof === 'checksums' ? checksumsProofLabel(manifest?.content?.algorithm) : 'counts';
}

/** What a status line adds to "row counts and content checksums": the weakness of a weak proof. */
export function proofWarning(label: string | undefined): string {
  return label === weakChecksumsLabel ? ` (${label})` : '';
}

/** A record's proof label: the one it says, else derived from its manifest (older records). */
export function verificationProofLabel(
  verification: Verification,
  manifest: Pick<Manifest, 'content'> | undefined,
): string {
  if (verification.verificationVersion === 2 && verification.proofLabel) return verification.proofLabel;
  return proofLabelOf(proofOf(verification), manifest);
}

export function parseVerification(text: string, where: string): Verification {
  return parseStoredRecord(verificationSchema, text, where, 'verification record');
}
