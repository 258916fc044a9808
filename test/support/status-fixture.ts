/**
 * Backups and executions as the pipeline and the runner leave them, written straight into a bucket so
 * the status report and the status page can be tested at any age and for any number of nights.
 */
import type { Manifest, Verification } from '../../lib/backup/manifest.ts';
import type { ExecutionSummary } from '../../lib/report/executions.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { keys } from '../../lib/storage/keys.ts';

const hour = 3_600_000;

function idAt(time: Date, suffix: string): string {
  return `${time
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')}-${suffix}`;
}

/** A schema-valid manifest of a dump of `bytes` bytes (the catalog trusts contents, not keys). */
export function exampleManifest(
  backupId: string,
  createdAt: Date,
  bytes: number,
  options: { dumpSeconds?: number; databaseBytes?: number; database?: string } = {},
): Manifest {
  return {
    manifestVersion: 1,
    backupId,
    createdAt: createdAt.toISOString(),
    trigger: 'schedule',
    source: {
      host: 'db.example',
      port: 5432,
      database: options.database ?? 'shop',
      serverVersion: '17.4',
      serverVersionNum: 170004,
      systemIdentifier: null,
      databaseSizeBytes: options.databaseBytes ?? bytes * 5,
    },
    client: { program: 'pg_dump', version: '17.4', bundleMajor: 17 },
    format: 'custom',
    compression: 'zstd:3',
    dump: { bytes, sha256: 'a'.repeat(64), partSizeBytes: 8 * 1024 * 1024 },
    snapshotId: '00000003-1',
    timings: {
      startedAt: createdAt.toISOString(),
      finishedAt: createdAt.toISOString(),
      dumpSeconds: options.dumpSeconds ?? 12.5,
      countSeconds: 1,
    },
    tables: [{ schema: 'public', table: 'orders', rows: 10 }],
    warnings: [],
  };
}

/** A verification record that proves `manifest` (version 1: counts, staging). */
export function exampleVerification(manifest: Manifest, restoreSeconds = 42): Verification {
  return {
    verificationVersion: 1,
    backupId: manifest.backupId,
    verifiedAt: manifest.createdAt,
    sha256: manifest.dump.sha256,
    bytes: manifest.dump.bytes,
    restoreSeconds,
    tablesCompared: 1,
    rowsCompared: 10,
    stagingServerVersion: '17.4',
    benignRestoreMessages: [],
  };
}

/** A promoted backup as the pipeline leaves it: dump + manifest, and a verification record if verified. */
export async function putBackup(
  store: BackupStore,
  options: {
    now: Date;
    hoursAgo: number;
    bytes: number;
    verified: boolean;
    dumpSeconds?: number;
    restoreSeconds?: number;
    databaseBytes?: number;
    /** The database the manifest names (the fixture's default: shop). */
    database?: string;
  },
): Promise<string> {
  const { now, hoursAgo, bytes, verified } = options;
  const createdAt = new Date(now.getTime() - hoursAgo * hour);
  const backupId = idAt(createdAt, (100000 + hoursAgo).toString(16).slice(-6).padStart(6, '0'));
  const manifest = exampleManifest(backupId, createdAt, bytes, {
    ...(options.dumpSeconds === undefined ? {} : { dumpSeconds: options.dumpSeconds }),
    ...(options.databaseBytes === undefined ? {} : { databaseBytes: options.databaseBytes }),
    ...(options.database === undefined ? {} : { database: options.database }),
  });
  await store.putObject(keys.dump(backupId), 'x'.repeat(bytes), 'application/octet-stream');
  await store.putJson(keys.manifest(backupId), manifest);
  if (verified) {
    const verification = exampleVerification(manifest, options.restoreSeconds ?? 42);
    await store.putJson(keys.verification(backupId), verification);
  }
  return backupId;
}

export function execution(options: {
  now: Date;
  hoursAgo: number;
  status: 'SUCCEEDED' | 'FAILED';
  error?: string;
  cause?: string;
  /** Which state machine ran (backup when absent): restore, drill, nightly... */
  stateMachine?: string;
  /** How long the run took, in minutes (none when absent: it stopped as it started). */
  minutes?: number;
}): ExecutionSummary {
  const { now, hoursAgo, status, error } = options;
  const stateMachine = options.stateMachine ?? 'backup';
  const startedAt = new Date(now.getTime() - hoursAgo * hour).toISOString();
  const stoppedAt = new Date(now.getTime() - hoursAgo * hour + (options.minutes ?? 0) * 60_000).toISOString();
  return {
    executionArn: `arn:aws:states:local:000000000000:execution:${stateMachine}:${hoursAgo}`,
    stateMachine,
    startedAt,
    stoppedAt,
    status,
    input: { trigger: 'schedule' },
    states: [],
    ...(error
      ? {
          error: {
            name: error,
            cause: JSON.stringify({ errorType: error, errorMessage: options.cause ?? 'staging refused' }),
          },
        }
      : {}),
  };
}
