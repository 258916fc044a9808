/**
 * A minimal reader of pg_dump's custom format for the stream-proof probe (bench/stream-proof-probe.ts):
 * header, TOC and data blocks, read front to back as from a pipe, written from PostgreSQL's
 * pg_backup_archiver.c (ReadHead, ReadToc) and pg_backup_custom.c (blocks and their chunks). Each
 * table's data is decompressed (zstd, gzip or none), split into COPY text rows and, if asked, every row
 * is hashed and the hashes summed. Bench code: it measures, it proves nothing about a restore.
 */
import { hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type { Transform } from 'node:stream';
import { createInflate, createZstdDecompress } from 'node:zlib';

const MiB = 1024 ** 2;

const version = (major: number, minor: number, rev: number) => (major << 16) | (minor << 8) | rev;
const blockData = 1;
const blockBlobs = 3;
/** pg_compress_algorithm (src/include/common/compression.h). */
const algorithms = ['none', 'gzip', 'lz4', 'zstd'] as const;

/** Reads a file front to back through a 1 MiB window, as a pipe would deliver it. */
class SequentialFile {
  private readonly fd: number;
  private buffer = Buffer.alloc(MiB);
  private start = 0;
  private end = 0;
  private position = 0;
  bytesRead = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Makes `n` bytes available; false at the end of the file. */
  private fill(n: number): boolean {
    if (this.end - this.start >= n) return true;
    if (n > this.buffer.length) {
      const bigger = Buffer.alloc(Math.max(n, this.buffer.length * 2));
      this.buffer.copy(bigger, 0, this.start, this.end);
      this.buffer = bigger;
    } else {
      this.buffer.copy(this.buffer, 0, this.start, this.end);
    }
    this.end -= this.start;
    this.start = 0;
    while (this.end < n) {
      const got = readSync(this.fd, this.buffer, this.end, this.buffer.length - this.end, this.position);
      if (got === 0) return false;
      this.position += got;
      this.bytesRead += got;
      this.end += got;
    }
    return true;
  }

  /** A view of the next `n` bytes, valid until the next read. */
  bytes(n: number): Buffer {
    if (!this.fill(n)) throw new Error('unexpected end of the archive');
    const view = this.buffer.subarray(this.start, this.start + n);
    this.start += n;
    return view;
  }

  byte(): number | undefined {
    if (!this.fill(1)) return undefined;
    return this.buffer[this.start++];
  }
}

interface TocEntry {
  dumpId: number;
  desc: string;
  namespace: string | null;
  tag: string | null;
}

interface Archive {
  version: string;
  compression: (typeof algorithms)[number];
  entries: TocEntry[];
}

class ArchiveReader {
  private intSize = 4;
  private offSize = 8;
  private archiveVersion = 0;
  readonly file: SequentialFile;

  constructor(path: string) {
    this.file = new SequentialFile(path);
  }

  readInt(): number {
    const sign = this.file.byte() ?? 0;
    const bytes = this.file.bytes(this.intSize);
    let value = 0;
    for (let i = this.intSize - 1; i >= 0; i--) value = value * 256 + (bytes[i] ?? 0);
    return sign ? -value : value;
  }

  readStr(): string | null {
    const length = this.readInt();
    if (length < 0) return null;
    return this.file.bytes(length).toString('utf8');
  }

  private readOffset(): void {
    this.file.byte();
    this.file.bytes(this.offSize);
  }

  /** ReadHead and ReadToc. */
  readHeader(): Archive {
    if (this.file.bytes(5).toString('latin1') !== 'PGDMP') throw new Error('not a custom-format archive');
    const [major, minor, rev] = [this.file.byte() ?? 0, this.file.byte() ?? 0, this.file.byte() ?? 0];
    this.archiveVersion = version(major, minor, rev);
    if (this.archiveVersion < version(1, 12, 0))
      throw new Error(`archive version ${major}.${minor} is too old`);
    this.intSize = this.file.byte() ?? 4;
    this.offSize = this.file.byte() ?? 8;
    const format = this.file.byte();
    if (format !== 1) throw new Error(`archive format ${format} is not custom (1)`);
    let compression: Archive['compression'];
    if (this.archiveVersion >= version(1, 15, 0)) {
      compression = algorithms[this.file.byte() ?? 0] ?? 'none';
    } else {
      compression = this.readInt() === 0 ? 'none' : 'gzip';
    }
    for (let i = 0; i < 7; i++) this.readInt(); // the creation time
    this.readStr(); // database name
    this.readStr(); // server version
    this.readStr(); // pg_dump version
    const count = this.readInt();
    const entries: TocEntry[] = [];
    for (let i = 0; i < count; i++) {
      const dumpId = this.readInt();
      this.readInt(); // hadDumper
      this.readStr(); // table oid
      this.readStr(); // oid
      const tag = this.readStr();
      const desc = this.readStr() ?? '';
      this.readInt(); // section
      this.readStr(); // defn
      this.readStr(); // drop statement
      this.readStr(); // copy statement
      const namespace = this.readStr();
      this.readStr(); // tablespace
      if (this.archiveVersion >= version(1, 14, 0)) this.readStr(); // table access method
      if (this.archiveVersion >= version(1, 16, 0)) this.readInt(); // relkind
      this.readStr(); // owner
      this.readStr(); // "false": with oids
      while (this.readStr() !== null); // dependencies
      this.readOffset(); // custom format: data state and position
      entries.push({ dumpId, desc, namespace, tag });
    }
    return { version: `${major}.${minor}.${rev}`, compression, entries };
  }

  /** The next data block's header: its kind and dump id, or undefined at the end of the archive. */
  nextBlock(): { kind: number; dumpId: number } | undefined {
    const kind = this.file.byte();
    if (kind === undefined) return undefined;
    return { kind, dumpId: this.readInt() };
  }

  skipChunks(): void {
    for (let length = this.readInt(); length !== 0; length = this.readInt()) this.file.bytes(length);
  }

  /** The chunks of one compressed stream, up to its zero-length end marker. */
  *chunks(): Generator<Buffer> {
    for (;;) {
      const length = this.readInt();
      if (length === 0) return;
      yield this.file.bytes(length);
    }
  }
}

type RowHasher = (row: Buffer) => void;

/** Splits decompressed COPY text into rows ('\n' ends every row; COPY escapes newlines inside values). */
function rowSplitter(onRow: RowHasher) {
  let carry: Buffer | undefined;
  return {
    push(chunk: Buffer) {
      let from = 0;
      for (let at = chunk.indexOf(10, from); at >= 0; at = chunk.indexOf(10, from)) {
        const piece = chunk.subarray(from, at);
        onRow(carry ? Buffer.concat([carry, piece]) : piece);
        carry = undefined;
        from = at + 1;
      }
      if (from < chunk.length) {
        const rest = chunk.subarray(from);
        carry = carry ? Buffer.concat([carry, rest]) : Buffer.from(rest);
      }
    },
    end() {
      if (carry && carry.length > 0) onRow(carry);
      carry = undefined;
    },
  };
}

/**
 * A running sum of 64-bit row hashes, modulo 2^64, kept as two 32-bit halves (no BigInt per row): the
 * first 8 bytes of a cryptographic hash of the row's COPY text, so the sum is over non-linear values.
 */
class HashSum {
  low = 0;
  high = 0;
  rows = 0;

  add(digest: Buffer): void {
    this.low += digest.readUInt32LE(0);
    this.high += digest.readUInt32LE(4) + Math.floor(this.low / 2 ** 32);
    this.low %= 2 ** 32;
    this.high %= 2 ** 32;
    this.rows++;
  }

  toString(): string {
    return ((BigInt(this.high) << 32n) | BigInt(this.low)).toString(16).padStart(16, '0');
  }
}

export interface ParseResult {
  archiveVersion: string;
  compression: string;
  tables: number;
  rows: number;
  copyBytes: number;
  archiveBytes: number;
  cpuSeconds: number;
  wallSeconds: number;
  sum?: string;
}

async function drain(stream: Transform, chunks: Iterable<Buffer>): Promise<void> {
  const ended = new Promise<void>((resolveEnd, reject) => {
    stream.once('end', resolveEnd);
    stream.once('error', reject);
  });
  for (const chunk of chunks) {
    if (!stream.write(Buffer.from(chunk))) await new Promise((next) => stream.once('drain', next));
  }
  stream.end();
  await ended;
}

/** Reads the archive once: decompresses every table's data and splits its rows, hashing them if asked. */
export async function parseArchive(
  path: string,
  algorithm: 'none' | 'sha256' | 'sha1' | 'md5',
  /** Told every row of every table, as COPY text without its newline (a view: copy it to keep it). */
  onRow?: (table: string, row: Buffer) => void,
): Promise<ParseResult> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const reader = new ArchiveReader(path);
  try {
    const archive = reader.readHeader();
    const byId = new Map(archive.entries.map((entry) => [entry.dumpId, entry]));
    const sums = new Map<number, HashSum>();
    let rows = 0;
    let copyBytes = 0;
    for (let block = reader.nextBlock(); block; block = reader.nextBlock()) {
      if (block.kind === blockBlobs) {
        // Large objects: skipped (their own checksum is another matter), but their chunks must be read.
        for (let oid = reader.readInt(); oid !== 0; oid = reader.readInt()) reader.skipChunks();
        continue;
      }
      if (block.kind !== blockData) throw new Error(`unknown block type ${block.kind}`);
      const entry = byId.get(block.dumpId);
      const isTable = entry?.desc === 'TABLE DATA';
      const tableName = `${entry?.namespace ?? ''}.${entry?.tag ?? ''}`;
      const sum = new HashSum();
      if (isTable) sums.set(block.dumpId, sum);
      let copyEnded = false;
      const splitter = rowSplitter((row) => {
        // pg_dump ends each table's data with COPY's end marker `\.` and blank lines: no rows after it.
        if (copyEnded || (row.length === 2 && row[0] === 92 && row[1] === 46)) {
          copyEnded = true;
          return;
        }
        rows++;
        onRow?.(tableName, row);
        if (algorithm === 'none') sum.rows++;
        else sum.add(hash(algorithm, row, 'buffer'));
      });
      const onData = (chunk: Buffer) => {
        copyBytes += chunk.length;
        if (isTable) splitter.push(chunk);
      };
      if (archive.compression === 'none') {
        for (const chunk of reader.chunks()) onData(chunk);
      } else {
        if (archive.compression === 'lz4') throw new Error('lz4 archives are not read by this probe');
        const stream = archive.compression === 'zstd' ? createZstdDecompress() : createInflate();
        stream.on('data', onData);
        await drain(stream, reader.chunks());
      }
      splitter.end();
    }
    const total = new HashSum();
    for (const sum of sums.values()) {
      total.low += sum.low;
      total.high += sum.high + Math.floor(total.low / 2 ** 32);
      total.low %= 2 ** 32;
      total.high %= 2 ** 32;
    }
    const cpu = process.cpuUsage(cpuBefore);
    return {
      archiveVersion: archive.version,
      compression: archive.compression,
      tables: sums.size,
      rows,
      copyBytes,
      archiveBytes: reader.file.bytesRead,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      wallSeconds: (performance.now() - started) / 1000,
      ...(algorithm === 'none' ? {} : { sum: total.toString() }),
    };
  } finally {
    reader.file.close();
  }
}
