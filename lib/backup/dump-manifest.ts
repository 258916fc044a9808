/**
 * The Dump step's last phase: the manifest beside the dump, from what the earlier phases found. Pure:
 * the same facts give the same manifest (test/unit/lib/backup/dump-manifest.test.ts).
 */
import type { PgBundle } from '../pg/client.ts';
import type { PgConnection } from '../pg/connection.ts';
import type { ServerIdentity } from '../pg/session.ts';
import type { TableProof } from './dump-counting.ts';
import type { LockedSnapshot } from './dump-snapshot.ts';
import type { Manifest } from './manifest.ts';

export interface DumpFacts {
  backupId: string;
  request: { trigger: Manifest['trigger']; reason?: string | undefined; compression: string };
  connection: Pick<PgConnection, 'host' | 'port'>;
  identity: ServerIdentity;
  bundle: Pick<PgBundle, 'version' | 'major'>;
  dump: Manifest['dump'];
  snapshot: Omit<LockedSnapshot, 'rewriteRetries'>;
  startedAt: Date;
  finishedAt: Date;
  dumpSeconds: number;
  countSeconds: number;
  proof: Omit<TableProof, 'fallback'>;
  warnings: string[];
}

export function buildManifest(facts: DumpFacts): Manifest {
  const { identity, snapshot, proof } = facts;
  return {
    manifestVersion: 1,
    backupId: facts.backupId,
    createdAt: facts.startedAt.toISOString(),
    trigger: facts.request.trigger,
    ...(facts.request.reason ? { reason: facts.request.reason } : {}),
    source: {
      host: facts.connection.host,
      port: facts.connection.port,
      database: identity.database,
      serverVersion: identity.serverVersion,
      serverVersionNum: identity.serverVersionNum,
      systemIdentifier: identity.systemIdentifier,
      databaseSizeBytes: identity.databaseSizeBytes,
    },
    client: { program: 'pg_dump', version: facts.bundle.version, bundleMajor: facts.bundle.major },
    format: 'custom',
    compression: facts.request.compression,
    dump: facts.dump,
    snapshotId: snapshot.snapshotId,
    timings: {
      startedAt: facts.startedAt.toISOString(),
      finishedAt: facts.finishedAt.toISOString(),
      dumpSeconds: facts.dumpSeconds,
      countSeconds: facts.countSeconds,
    },
    tables: proof.tables,
    ...(proof.content ? { content: { ...proof.content, sequences: snapshot.sequences } } : {}),
    extensions: snapshot.extensions,
    ownership: snapshot.ownership,
    warnings: facts.warnings,
  };
}
