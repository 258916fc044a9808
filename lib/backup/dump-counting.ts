/**
 * The Dump step's counting phase: beside pg_dump, a second session in the very snapshot pg_dump reads
 * counts every table's rows and, for the `checksums` proof, measures the content: by a scan of its own
 * (v1-v3), or by what the stream proof needs beside the dump's stream (v4, lib/backup/stream-proof.ts).
 * Once the dump is complete, `proveTables` turns the measure into the manifest's tables and content.
 */
import { BackupError, describeError, SnapshotError } from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import { type ContentAlgorithm, contentSettings } from '../pg/content.ts';
import { measureInSnapshot, type SnapshotMeasure } from '../pg/row-counts.ts';
import { openSession, type Session } from '../pg/session.ts';
import { type BesideStream, measureBesideStream } from '../pg/stream-content.ts';
import type { ChecksumSource, Manifest, ProofLevel } from './manifest.ts';
import { proofFromStream, type StreamDigest, streamableCompression } from './stream-proof.ts';

/** What the counting session measured: for the stream proof, or by a scan of its own. */
export type Measured = { kind: 'stream'; measure: BesideStream } | { kind: 'scan'; measure: SnapshotMeasure };

export interface CountingOptions {
  snapshotId: string;
  lockWaitSeconds: number;
  proof: ProofLevel;
  /** The algorithm of checksums taken by a scan. */
  scanAlgorithm: ContentAlgorithm;
  /** Whether the checksums come from the dump's stream (`wantsStreamProof`). */
  streamed: boolean;
  /** The benchmark's "without counts": nothing is measured. */
  withoutRowCounts: boolean;
}

export interface Counting {
  /** Settles once the measure is taken; a rejection is awaited by the caller, never left unhandled. */
  measured: Promise<Measured>;
  /** A scan of every table's content in the same snapshot: the stream's fallback. */
  scan(): Promise<SnapshotMeasure>;
  /** Seconds from the start of counting to the end of its last measure. */
  seconds(): number;
}

/**
 * v4 (CHECKSUM_SOURCE=stream, the default): the rows are hashed from the dump stream; production is
 * not scanned again. A chosen `contentAlgorithm` or an lz4 dump means a scan.
 */
export function wantsStreamProof(options: {
  proof: ProofLevel;
  withoutRowCounts: boolean;
  checksumSource?: ChecksumSource | undefined;
  contentAlgorithm?: ContentAlgorithm | undefined;
  compression: string;
}): boolean {
  return (
    options.proof === 'checksums' &&
    !options.withoutRowCounts &&
    options.checksumSource === 'stream' &&
    options.contentAlgorithm === undefined &&
    streamableCompression(options.compression)
  );
}

/** Starts measuring in the snapshot on a session of its own; the dump runs meanwhile. */
export function startCounting(connection: PgConnection, options: CountingOptions): Counting {
  const started = Date.now();
  let seconds = 0;
  const inSnapshot = async <T>(measure: (counter: Session) => Promise<T>): Promise<T> => {
    const counter = await openSession(connection);
    try {
      const result = await measure(counter);
      seconds = (Date.now() - started) / 1000;
      return result;
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw new SnapshotError(`counting rows in snapshot failed: ${describeError(error)}`, {
        cause: error,
      });
    } finally {
      await counter.end().catch(() => undefined);
    }
  };
  const scanInSnapshot = (content: ContentAlgorithm | undefined) =>
    inSnapshot((counter) =>
      measureInSnapshot(counter, options.snapshotId, {
        lockWaitSeconds: options.lockWaitSeconds,
        tablesLockedByExporter: true,
        ...(content ? { content } : {}),
      }),
    );
  const measured: Promise<Measured> = options.withoutRowCounts
    ? Promise.resolve({ kind: 'scan', measure: { tables: [] } })
    : options.streamed
      ? inSnapshot((counter) => measureBesideStream(counter, options.snapshotId, options.scanAlgorithm)).then(
          (measure) => ({ kind: 'stream', measure }),
        )
      : scanInSnapshot(options.proof === 'checksums' ? options.scanAlgorithm : undefined).then((measure) => ({
          kind: 'scan',
          measure,
        }));
  // Counting runs beside the dump; a rejection is awaited later, never left unhandled.
  measured.catch(() => undefined);
  return { measured, scan: () => scanInSnapshot(options.scanAlgorithm), seconds: () => seconds };
}

/** The manifest's tables and content (without the sequences, read with the snapshot). */
export interface TableProof {
  tables: Manifest['tables'];
  content?: Omit<NonNullable<Manifest['content']>, 'sequences'> | undefined;
  /** Why the stream could not prove the content: a scan in the same snapshot did instead. */
  fallback?: string;
}

/**
 * After a complete dump: the measure, with the stream's digest for the stream proof. The stream could
 * not be read (a table without its data block, an archive this reader does not know): the same snapshot
 * is still held, so the checksums are taken by a scan instead.
 */
export async function proveTables(
  counting: Counting,
  digest: Promise<StreamDigest> | undefined,
): Promise<TableProof> {
  const measured = await counting.measured;
  if (measured.kind === 'scan') return scanProof(measured.measure);
  const proven = digest ? proofFromStream(measured.measure, await digest) : undefined;
  if (proven?.content) return { tables: proven.tables, content: proven.content };
  const scanned = scanProof(await counting.scan());
  return proven ? { ...scanned, fallback: proven.reason } : scanned;
}

function scanProof(measure: SnapshotMeasure): TableProof {
  const content = measure.content;
  return {
    tables: measure.tables,
    content: content && {
      algorithm: content.algorithm,
      settings: { ...contentSettings },
      largeObjects: content.largeObjects,
    },
  };
}
