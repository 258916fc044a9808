/**
 * The Dump step's content proof from its own stream (`copy-text-murmur3-sum64-v4`, lib/pg/stream-content.ts):
 * the archive pg_dump writes is read beside the upload, every table's COPY rows hashed as they pass, and
 * the manifest's tables and content built from those digests and what the snapshot shows beside them.
 * When the stream cannot prove a table (no data block, a COPY statement this reader cannot parse, an
 * archive it does not know), the step falls back to the scan of v3/v1 in the same snapshot and says why.
 */
import { PassThrough, type Readable } from 'node:stream';
import { DumpFailedError, describeError } from '../errors.ts';
import type { ArchiveHeader } from '../pg/archive-stream.ts';
import {
  type ArchiveTableDigest,
  type BesideStream,
  digestArchive,
  streamContentAlgorithm,
} from '../pg/stream-content.ts';
import { qualified, tableKey } from '../pg/tables.ts';
import type { Manifest } from './manifest.ts';

/** lz4 blocks need a decompressor Node does not have: such dumps are proven by a scan. */
export function streamableCompression(compression: string): boolean {
  return /^(none|gzip|zstd)(:|$)/.test(compression) || /^\d$/.test(compression);
}

export type StreamDigest =
  | { header: ArchiveHeader; tables: Map<string, ArchiveTableDigest> }
  | { error: string };

/** The archive being read beside the upload: its digest, and a way to stop reading it. */
export interface DigestBeside {
  digest: Promise<StreamDigest>;
  /** The dump failed: stop reading (the digest then settles with an error), so pg_dump's output drains. */
  abandon(): void;
}

/**
 * Reads the archive on `stdout` beside its other reader (the upload), at the slower one's pace. A
 * failure of the reader never stops the dump: it lets go of the stream and reports why.
 */
export function digestBeside(stdout: Readable | null | undefined): DigestBeside {
  if (!stdout)
    return { digest: Promise.resolve({ error: 'pg_dump has no output to read' }), abandon: () => {} };
  const tee = new PassThrough({ highWaterMark: 1024 * 1024 });
  stdout.pipe(tee);
  const letGo = () => {
    stdout.unpipe(tee);
    tee.destroy();
  };
  const digest = digestArchive(tee).catch((error: unknown) => {
    letGo();
    return { error: describeError(error) };
  });
  return { digest, abandon: letGo };
}

export type StreamProof =
  | { tables: Manifest['tables']; content: Omit<NonNullable<Manifest['content']>, 'sequences'> }
  | { content?: undefined; reason: string };

/**
 * The manifest's tables and content from the stream's digests and the snapshot's measure. A table the
 * snapshot lists with no digest is a reason to fall back; a table whose rows pg_dump wrote differ in
 * number from those the snapshot's scan counted is a broken dump (DumpFailedError).
 */
export function proofFromStream(measured: BesideStream, digest: StreamDigest): StreamProof {
  if ('error' in digest) return { reason: digest.error };
  const scanned = new Map(measured.scanned.map((table) => [tableKey(table), table]));
  const tables: Manifest['tables'] = [];
  for (const name of measured.tables) {
    const streamed = digest.tables.get(tableKey(name));
    if (!streamed) return { reason: `${qualified(name)} has no data block in the archive` };
    if (!streamed.copyColumns)
      return { reason: `pg_dump's copy statement for ${qualified(name)} could not be read` };
    const types = measured.columnTypes.get(tableKey(name));
    const copyColumns = streamed.copyColumns.map((column) => [column, types?.get(column)] as const);
    const untyped = copyColumns.find(([, type]) => type === undefined);
    if (untyped)
      return { reason: `column ${untyped[0]} of ${qualified(name)} is not in the snapshot's catalog` };
    const scan = scanned.get(tableKey(name));
    if (scan && scan.rows !== streamed.rows) {
      throw new DumpFailedError(
        `pg_dump wrote ${streamed.rows} rows of ${qualified(name)}, but its snapshot holds ${scan.rows}`,
        { details: { table: qualified(name), dumped: streamed.rows, snapshot: scan.rows } },
      );
    }
    tables.push({
      schema: name.schema,
      table: name.table,
      rows: streamed.rows,
      checksum: streamed.checksum,
      copyColumns: copyColumns.map(([column, type]) => [column, type ?? '']),
      ...(scan ? { scanChecksum: scan.checksum, ...(scan.columns ? { columns: scan.columns } : {}) } : {}),
    });
  }
  return {
    tables,
    content: {
      algorithm: streamContentAlgorithm,
      scanAlgorithm: measured.scanAlgorithm,
      settings: { ...measured.settings, client_encoding: digest.header.encoding },
      largeObjects: measured.largeObjects,
    },
  };
}
