/**
 * Reads a pg_dump custom-format archive as it streams out of pg_dump (to a pipe, so the table of
 * contents comes first, without data offsets, then every data block in turn), and hands each table's
 * COPY text, decompressed, to a caller. Nothing is buffered beyond a chunk and 1 MiB of compressed
 * input: memory stays flat whatever the database's size.
 *
 * The layout follows PostgreSQL's src/bin/pg_dump/pg_backup_archiver.c (ReadHead, ReadToc) and
 * pg_backup_custom.c (_ReadExtraToc, the data blocks), archive versions 1.14 (PostgreSQL 12) to 1.16
 * (17 and 18): an integer is a sign byte then `intSize` bytes, least significant first; a string is its
 * length as an integer (-1 for NULL) then its bytes; a data block is a type byte, the TOC entry's dump
 * id, then chunks (length, bytes) up to a zero length. Anything else is an ArchiveUnreadableError: a reader
 * that guesses could hash the wrong bytes.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { constants, createInflate, createZstdDecompress } from 'node:zlib';
import { ArchiveUnreadableError } from '../errors.ts';

/** The archive compressions whose blocks this reader can open (lz4 needs a library Node lacks). */
export type ArchiveCompression = 'none' | 'gzip' | 'lz4' | 'zstd';

export interface ArchiveTocEntry {
  dumpId: number;
  hasData: boolean;
  tag: string;
  desc: string;
  namespace: string;
  copyStmt: string;
  defn: string;
}

export interface ArchiveHeader {
  version: string;
  compression: ArchiveCompression;
  database: string;
  serverVersion: string;
  dumpVersion: string;
  /** The client encoding pg_dump wrote the COPY text in (the ENCODING entry). */
  encoding: string;
  toc: ArchiveTocEntry[];
}

/** What the caller does with the archive: told the TOC first, then fed each TABLE DATA's COPY text. */
export interface ArchiveVisitor {
  header?(header: ArchiveHeader): void;
  /** Called before a TABLE DATA block's text; return false to skip the block (still read, not opened). */
  startTableData(entry: ArchiveTocEntry): boolean;
  tableText(chunk: Buffer): void;
  endTableData(entry: ArchiveTocEntry): void;
}

const magic = 'PGDMP';
const minimumVersion = 0x010e00; // 1.14, PostgreSQL 12
const maximumVersion = 0x0110ff; // 1.16.x, PostgreSQL 17 and 18
const blockData = 1;
const blockLargeObjects = 3;
const formatCustom = 1;
const compressionByCode: Readonly<Record<number, ArchiveCompression>> = {
  0: 'none',
  1: 'gzip',
  2: 'lz4',
  3: 'zstd',
};

/** A reader of exact byte counts over a stream of chunks. */
class ByteReader {
  private buffered: Buffer[] = [];
  private available = 0;
  private readonly chunks: AsyncIterator<Buffer>;
  offset = 0;

  constructor(source: AsyncIterable<Buffer>) {
    this.chunks = source[Symbol.asyncIterator]();
  }

  /** More bytes into the buffer; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    const next = await this.chunks.next();
    if (next.done) return false;
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    this.buffered.push(chunk);
    this.available += chunk.length;
    return true;
  }

  /** Lets go of the source (a stream is destroyed): after a failure nothing reads it any more. */
  async release(): Promise<void> {
    await this.chunks.return?.();
  }

  /** True when nothing is left (checked only between blocks). */
  async atEnd(): Promise<boolean> {
    while (this.available === 0) {
      if (!(await this.fill())) return true;
    }
    return false;
  }

  async bytes(n: number): Promise<Buffer> {
    while (this.available < n) {
      if (!(await this.fill()))
        throw new ArchiveUnreadableError(
          `the archive ends after ${this.offset + this.available} bytes, in the middle of a field`,
        );
    }
    const joined = this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered);
    if (!joined) throw new ArchiveUnreadableError('internal: empty read buffer');
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.available = rest.length;
    this.offset += n;
    return out;
  }

  /**
   * Up to `n` bytes, as they arrive (the chunk data path: no copy when a chunk is already buffered).
   */
  async some(n: number): Promise<Buffer> {
    if (this.available === 0 && !(await this.fill()))
      throw new ArchiveUnreadableError(
        `the archive ends after ${this.offset} bytes, in the middle of a data block`,
      );
    const first = this.buffered[0];
    if (!first) throw new ArchiveUnreadableError('internal: empty read buffer');
    const out = first.subarray(0, Math.min(n, first.length));
    if (out.length === first.length) this.buffered.shift();
    else this.buffered[0] = first.subarray(out.length);
    this.available -= out.length;
    this.offset += out.length;
    return out;
  }
}

class ArchiveReader {
  private intSize = 4;
  private offSize = 8;

  private readonly input: ByteReader;

  constructor(input: ByteReader) {
    this.input = input;
  }

  async byte(): Promise<number> {
    const b = await this.input.bytes(1);
    return b[0] ?? 0;
  }

  async int(): Promise<number> {
    const raw = await this.input.bytes(1 + this.intSize);
    let value = 0;
    for (let i = this.intSize; i >= 1; i--) value = value * 256 + (raw[i] ?? 0);
    if (!Number.isSafeInteger(value))
      throw new ArchiveUnreadableError('an integer in the archive is out of range');
    return raw[0] ? -value : value;
  }

  async string(): Promise<string | null> {
    const length = await this.int();
    if (length < 0) return null;
    if (length > 256 * 1024 * 1024)
      throw new ArchiveUnreadableError(`a string of ${length} bytes in the TOC`);
    return (await this.input.bytes(length)).toString('utf8');
  }

  async header(): Promise<ArchiveHeader> {
    const signature = (await this.input.bytes(5)).toString('latin1');
    if (signature !== magic)
      throw new ArchiveUnreadableError('not a pg_dump custom-format archive (no PGDMP header)');
    const [major, minor, revision] = [await this.byte(), await this.byte(), await this.byte()];
    const version = (major << 16) | (minor << 8) | revision;
    const versionText = `${major}.${minor}.${revision}`;
    if (version < minimumVersion || version > maximumVersion)
      throw new ArchiveUnreadableError(
        `archive version ${versionText} is not one this reader knows (1.14 to 1.16)`,
      );
    this.intSize = await this.byte();
    this.offSize = await this.byte();
    if (this.intSize < 1 || this.intSize > 6 || this.offSize < 1 || this.offSize > 8)
      throw new ArchiveUnreadableError(`unexpected integer/offset sizes ${this.intSize}/${this.offSize}`);
    const format = await this.byte();
    if (format !== formatCustom)
      throw new ArchiveUnreadableError(`archive format ${format} is not custom (1)`);
    let compression: ArchiveCompression;
    if (version >= 0x010f00) {
      const code = await this.byte();
      const known = compressionByCode[code];
      if (!known) throw new ArchiveUnreadableError(`unknown compression algorithm ${code}`);
      compression = known;
    } else {
      const level = await this.int();
      compression = level === 0 ? 'none' : 'gzip';
    }
    for (let i = 0; i < 7; i++) await this.int(); // creation time: sec, min, hour, mday, mon, year, isdst
    const database = (await this.string()) ?? '';
    const serverVersion = (await this.string()) ?? '';
    const dumpVersion = (await this.string()) ?? '';
    const toc = await this.tableOfContents(version);
    const encodingEntry = toc.find((entry) => entry.desc === 'ENCODING');
    const encoding = /'([^']+)'/.exec(encodingEntry?.defn ?? '')?.[1];
    if (!encoding) throw new ArchiveUnreadableError('the archive has no ENCODING entry');
    return { version: versionText, compression, database, serverVersion, dumpVersion, encoding, toc };
  }

  private async tableOfContents(version: number): Promise<ArchiveTocEntry[]> {
    const count = await this.int();
    if (count < 0 || count > 10_000_000) throw new ArchiveUnreadableError(`a TOC of ${count} entries`);
    const toc: ArchiveTocEntry[] = [];
    for (let i = 0; i < count; i++) {
      const dumpId = await this.int();
      if (dumpId <= 0) throw new ArchiveUnreadableError(`TOC entry id ${dumpId} out of range`);
      const hasData = (await this.int()) !== 0;
      await this.string(); // tableoid
      await this.string(); // oid
      const tag = (await this.string()) ?? '';
      const desc = (await this.string()) ?? '';
      await this.int(); // section
      const defn = (await this.string()) ?? '';
      await this.string(); // drop statement
      const copyStmt = (await this.string()) ?? '';
      const namespace = (await this.string()) ?? '';
      await this.string(); // tablespace
      await this.string(); // table access method (1.14+)
      if (version >= 0x011000) await this.int(); // relkind (1.16+)
      await this.string(); // owner
      const withOids = await this.string();
      if (withOids === 'true') throw new ArchiveUnreadableError(`TOC entry ${tag} is a table WITH OIDS`);
      while ((await this.string()) !== null); // dependencies, up to a NULL
      await this.offset();
      toc.push({ dumpId, hasData, tag, desc, namespace, copyStmt, defn });
    }
    return toc;
  }

  /** The custom format's extra TOC field: a flag byte and a file offset (unset when piped). */
  private async offset(): Promise<void> {
    const flag = await this.byte();
    if (flag < 1 || flag > 3) throw new ArchiveUnreadableError(`unknown data offset flag ${flag}`);
    await this.input.bytes(this.offSize);
  }

  /** Calls `each` with every chunk of the current block's data, up to its zero-length end. */
  async chunks(each: (chunk: Buffer) => Promise<void> | void): Promise<void> {
    for (;;) {
      let length = await this.int();
      if (length === 0) return;
      if (length < 0) throw new ArchiveUnreadableError(`a data chunk of negative length ${length}`);
      while (length > 0) {
        const part = await this.input.some(length);
        length -= part.length;
        await each(part);
      }
    }
  }

  atEnd(): Promise<boolean> {
    return this.input.atEnd();
  }
}

/** A decompressor of one block's data (each block is its own zlib or zstd stream). */
interface BlockOpener {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
}

/** Compressed input a block's decompressor may hold before the reader waits for it. */
const queuedInputBytes = 1024 * 1024;

function openBlock(compression: ArchiveCompression, onText: (text: Buffer) => void): BlockOpener {
  if (compression === 'none') {
    return { write: async (chunk) => onText(chunk), end: async () => undefined };
  }
  if (compression === 'lz4')
    throw new ArchiveUnreadableError('lz4 archives cannot be read here (no lz4 decompressor in Node)');
  // Text comes out in 64 KiB pieces rather than zlib's 16 KiB: a quarter of the callbacks and row splits.
  const chunkSize = 64 * 1024;
  const stream =
    compression === 'zstd'
      ? createZstdDecompress({ chunkSize })
      : createInflate({ chunkSize, finishFlush: constants.Z_SYNC_FLUSH });
  stream.on('data', (text: Buffer) => onText(text));
  let failure: Error | undefined;
  stream.on('error', (error) => {
    failure = error;
  });
  const check = () => {
    if (failure)
      throw new ArchiveUnreadableError(`a ${compression} data block does not decompress: ${failure.message}`);
  };
  return {
    async write(chunk) {
      check();
      // Waits only once a batch of compressed input is queued, not for every chunk pg_dump wrote (a
      // wait per 16 KiB chunk halved the reader's speed). once() rejects on 'error' while it waits, and
      // removes both of its listeners when it settles.
      if (!stream.write(chunk) && stream.writableLength >= queuedInputBytes)
        await once(stream, 'drain').catch(() => undefined);
      check();
    },
    async end() {
      check();
      stream.end();
      await new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('error', () => resolve());
      });
      check();
    },
  };
}

/**
 * Reads the archive on `source` to its end, telling `visitor` the TOC, then feeding it the COPY text of
 * every TABLE DATA block it accepts. Large-object blocks are read and passed over (their content is
 * checked apart, lib/pg/content.ts). Rejects with ArchiveUnreadableError on anything unexpected.
 */
export async function readCustomArchive(
  source: AsyncIterable<Buffer> | Readable,
  visitor: ArchiveVisitor,
): Promise<ArchiveHeader> {
  const input = new ByteReader(source as AsyncIterable<Buffer>);
  const reader = new ArchiveReader(input);
  try {
    const header = await reader.header();
    visitor.header?.(header);
    const byId = new Map(header.toc.map((entry) => [entry.dumpId, entry]));
    while (!(await reader.atEnd())) {
      const type = await reader.byte();
      const dumpId = await reader.int();
      const entry = byId.get(dumpId);
      if (!entry)
        throw new ArchiveUnreadableError(`a data block for dump id ${dumpId}, which the TOC does not list`);
      if (type === blockData) {
        const wanted = entry.desc === 'TABLE DATA' && visitor.startTableData(entry);
        if (!wanted) {
          await reader.chunks(() => undefined);
          continue;
        }
        const block = openBlock(header.compression, (text) => visitor.tableText(text));
        await reader.chunks((chunk) => block.write(chunk));
        await block.end();
        visitor.endTableData(entry);
      } else if (type === blockLargeObjects) {
        for (;;) {
          const oid = await reader.int();
          if (oid === 0) break;
          await reader.chunks(() => undefined);
        }
      } else {
        throw new ArchiveUnreadableError(`unknown data block type ${type} for dump id ${dumpId}`);
      }
    }
    return header;
  } catch (error) {
    await input.release().catch(() => undefined);
    throw error;
  }
}
