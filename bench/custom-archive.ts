/**
 * The stream-proof probe's archive pass (bench/stream-proof-probe.ts): an archive file read front to
 * back through the product's own stream reader (lib/pg/archive-stream.ts), as from a pipe; each table's
 * data split into COPY text rows and, if asked, every row hashed with a cryptographic hash and the
 * hashes summed, or with the product's row hash (`murmur3`, lib/pg/copy-row-hash.ts). Bench code: it
 * measures what each hash costs, it proves nothing about a restore.
 */
import { hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { readCustomArchive } from '../lib/pg/archive-stream.ts';
import { CopyRowDigest } from '../lib/pg/copy-row-hash.ts';

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

/** Reads the archive once: decompresses every table's data and splits its rows, hashing them if asked. */
export async function parseArchive(
  path: string,
  algorithm: 'none' | 'murmur3' | 'sha256' | 'sha1' | 'md5',
  /** Told every row of every table, as COPY text without its newline (a view: copy it to keep it). */
  onRow?: (table: string, row: Buffer) => void,
): Promise<ParseResult> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const total = new HashSum();
  let murmurSum = 0n;
  let tables = 0;
  let rows = 0;
  let copyBytes = 0;
  let table: { name: string; splitter: ReturnType<typeof rowSplitter>; murmur: CopyRowDigest } | undefined;
  let copyEnded = false;
  const header = await readCustomArchive(createReadStream(path, { highWaterMark: 1024 * 1024 }), {
    startTableData(entry) {
      tables++;
      copyEnded = false;
      const name = `${entry.namespace}.${entry.tag}`;
      table = {
        name,
        murmur: new CopyRowDigest(true),
        splitter: rowSplitter((row) => {
          // pg_dump ends each table's data with COPY's end marker `\.` and blank lines: no rows after it.
          if (copyEnded || (row.length === 2 && row[0] === 92 && row[1] === 46)) {
            copyEnded = true;
            return;
          }
          rows++;
          onRow?.(name, row);
          if (algorithm === 'none' || algorithm === 'murmur3') total.rows++;
          else total.add(hash(algorithm, row, 'buffer'));
        }),
      };
      return true;
    },
    tableText(chunk) {
      copyBytes += chunk.length;
      table?.splitter.push(chunk);
      if (algorithm === 'murmur3') table?.murmur.update(chunk);
    },
    endTableData() {
      table?.splitter.end();
      if (table && algorithm === 'murmur3')
        murmurSum = (murmurSum + BigInt(table.murmur.finish().checksum)) % 2n ** 64n;
      table = undefined;
    },
  });
  const cpu = process.cpuUsage(cpuBefore);
  const sum =
    algorithm === 'none'
      ? undefined
      : algorithm === 'murmur3'
        ? murmurSum.toString(16).padStart(16, '0')
        : total.toString();
  return {
    archiveVersion: header.version,
    compression: header.compression,
    tables,
    rows,
    copyBytes,
    archiveBytes: (await stat(path)).size,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: (performance.now() - started) / 1000,
    ...(sum === undefined ? {} : { sum }),
  };
}
