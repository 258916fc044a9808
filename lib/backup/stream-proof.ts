/**
 * The Dump step's content proof from its own stream (`copy-text-murmur3-sum64-v4`, lib/pg/stream-content.ts):
 * the archive pg_dump writes is read beside the upload, every table's COPY rows hashed as they pass, and
 * the manifest's tables and content built from those digests and what the snapshot shows beside them.
 * When the stream cannot prove a table (no data block, a COPY statement this reader cannot parse, an
 * archive it does not know, a digest that fell too far behind pg_dump), the step falls back to the scan
 * of v3/v1 in the same snapshot and says why.
 */
import type { Readable } from 'node:stream';
import { ArchiveUnreadableError, DumpFailedError, describeError } from '../errors.ts';
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

export interface DigestBesideOptions {
  /**
   * How many bytes of archive the digest may hold unread (pg_dump has written them, the digest has not
   * reached them) before it is abandoned; default `maxDigestBehindBytes`. Beyond it the digest settles
   * with an error at once and the step takes the checksums by a scan: never a wait, never more memory.
   */
  maxBehindBytes?: number;
  /** Awaited before each read of the queue: tests slow the digest with it (a digest that falls behind). */
  beforeRead?: () => Promise<void>;
}

/** 32 MiB of archive (about 150 MiB of COPY text at zstd:1): a few seconds of pg_dump's output. */
export const maxDigestBehindBytes = 32 * 1024 * 1024;

/** Bytes the digest is handed at once when it has fallen behind: one wait per batch, not per chunk. */
const batchBytes = 1024 * 1024;

/**
 * What pg_dump has written and the digest not yet read, in batches. The writer is never told to wait:
 * beyond `limit` bytes the queue fails instead (the digest has fallen behind) and drops what it holds.
 */
class ArchiveQueue implements AsyncIterable<Buffer> {
  private readonly full: Buffer[] = [];
  private batch: Buffer | undefined;
  private batchLength = 0;
  private held = 0;
  private ended = false;
  failure: Error | undefined;
  private waiting: ((result: IteratorResult<Buffer>) => void) | undefined;
  private failWaiting: ((error: Error) => void) | undefined;
  private readonly limit: number;

  private readonly beforeRead: (() => Promise<void>) | undefined;

  constructor(limit: number, beforeRead?: () => Promise<void>) {
    this.limit = limit;
    this.beforeRead = beforeRead;
  }

  /** Takes a chunk of pg_dump's output (copied unless the reader waits for it); false once failed. */
  push(chunk: Buffer): boolean {
    if (this.failure || this.ended) return false;
    const waiting = this.waiting;
    if (waiting && this.held === 0) {
      this.waiting = undefined;
      this.failWaiting = undefined;
      waiting({ value: chunk, done: false });
      return true;
    }
    if (this.held + chunk.length > this.limit) {
      this.fail(`the digest of pg_dump's output fell more than ${formatMiB(this.limit)} behind it`);
      return false;
    }
    let at = 0;
    while (at < chunk.length) {
      if (!this.batch) {
        this.batch = Buffer.allocUnsafeSlow(Math.max(batchBytes, chunk.length - at));
        this.batchLength = 0;
      }
      const copied = chunk.copy(this.batch, this.batchLength, at);
      this.batchLength += copied;
      at += copied;
      if (this.batchLength === this.batch.length) this.seal();
    }
    this.held += chunk.length;
    return true;
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Drops what is held; the reader's next read rejects with `reason`. */
  fail(reason: string): void {
    if (this.failure) return;
    const error = new ArchiveUnreadableError(reason);
    this.failure = error;
    this.full.length = 0;
    this.batch = undefined;
    this.held = 0;
    const failWaiting = this.failWaiting;
    this.waiting = undefined;
    this.failWaiting = undefined;
    failWaiting?.(error);
  }

  private seal(): void {
    if (!this.batch || this.batchLength === 0) return;
    this.full.push(this.batch.subarray(0, this.batchLength));
    this.batch = undefined;
    this.batchLength = 0;
  }

  private take(): IteratorResult<Buffer> | undefined {
    if (this.full.length === 0) this.seal();
    const next = this.full.shift();
    if (next) {
      this.held -= next.length;
      return { value: next, done: false };
    }
    return this.ended ? { value: undefined, done: true } : undefined;
  }

  private wake(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    const next = this.take();
    if (!next) return;
    this.waiting = undefined;
    this.failWaiting = undefined;
    waiting(next);
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: async () => {
        await this.beforeRead?.();
        // A turn of the event loop per batch: queued batches resolve at once, and without it the
        // digest would run through all of them before the upload's sockets and timers got a turn.
        await new Promise((resolve) => setImmediate(resolve));
        return this.read();
      },
      return: () => {
        this.fail('the content digest stopped reading');
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private read(): Promise<IteratorResult<Buffer>> {
    if (this.failure) return Promise.reject(this.failure);
    const next = this.take();
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }
}

const formatMiB = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`
    : `${Math.round(bytes / 1024)} KiB`;

/**
 * Reads the archive on `stdout` beside its other reader (the upload), never holding it back: it listens
 * to the chunks as they pass and keeps those it has not read yet in a bounded queue (no pipe, so no
 * back-pressure on pg_dump). A digest that falls more than `maxBehindBytes` behind is abandoned and
 * settles at once with the reason, as does one whose reader fails: the step then scans instead.
 */
export function digestBeside(
  stdout: Readable | null | undefined,
  options: DigestBesideOptions = {},
): DigestBeside {
  if (!stdout)
    return { digest: Promise.resolve({ error: 'pg_dump has no output to read' }), abandon: () => {} };
  const queue = new ArchiveQueue(options.maxBehindBytes ?? maxDigestBehindBytes, options.beforeRead);
  let settle: (digest: StreamDigest) => void = () => undefined;
  const settled = new Promise<StreamDigest>((resolve) => {
    settle = resolve;
  });
  const detach = () => {
    stdout.off('data', onData);
    stdout.off('end', onEnd);
    stdout.off('close', onEnd);
    stdout.off('error', onError);
  };
  /** Stops listening and drops what is queued; the digest settles now with `reason`, never later. */
  const letGo = (reason: string) => {
    detach();
    queue.fail(reason);
    settle({ error: reason });
  };
  const onData = (chunk: Buffer) => {
    if (!queue.push(chunk)) letGo(queue.failure?.message ?? 'the content digest stopped reading');
  };
  const onEnd = () => queue.end();
  const onError = (error: unknown) => letGo(`pg_dump's output failed: ${describeError(error)}`);
  stdout.on('data', onData);
  stdout.once('end', onEnd);
  stdout.once('close', onEnd);
  stdout.once('error', onError);
  digestArchive(queue).then(
    (digest) => {
      detach();
      settle(digest);
    },
    (error: unknown) => letGo(describeError(error)),
  );
  return {
    digest: settled,
    abandon: () => letGo('the dump failed; its content digest was abandoned'),
  };
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
