/**
 * The content checksum of a table from its COPY text, as pg_dump writes it (`copy-text-murmur3-sum64-v4`):
 * each row (one line: COPY's text format escapes every newline inside a value) is hashed with
 * MurmurHash3 x86_128 (seed 0, the first 64 bits of its output, little-endian), and the table's
 * checksum is the sum of its rows' hashes modulo 2^64, with the row count.
 *
 * A sum, so the order of the rows does not matter (a restored heap need not keep the dump's order); a
 * non-linear hash per row, so values moved between rows change the sum (unlike `row-hash-sum64-v2`,
 * whose row hash is linear in its columns' hashes): two different multisets of rows give the same sum
 * with a probability of about 2^-64 for rows that hash at random. Equal rows add up, never cancel.
 *
 * MurmurHash3 is not a cryptographic hash: someone who can write chosen rows into production could
 * craft a collision; this checksum proves a restore, not the absence of an adversary (the dump's SHA-256
 * proves the file). Written here with 32-bit integer arithmetic because a hash per row through
 * node:crypto costs a call per row, several times slower on rows of a few dozen bytes (docs/performance.md).
 */

import { rowHashWasm } from './copy-row-hash-wasm.ts';

/**
 * Read once: inside a VM context (Jest's test environment) every `Math.imul` would be a lookup through
 * the context's global, which made the hash about 40 times slower there than under plain Node.
 */
const { imul } = Math;
const c1 = 0x239b961b;
const c2 = 0xab0e9789;
const c3 = 0x38b34ae5;
const c4 = 0xa1e38b93;

function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** The first 64 bits of MurmurHash3_x86_128(bytes[start, end), seed) as [low, high] unsigned words. */
export function murmur3x86x128First64(
  bytes: Uint8Array,
  start: number,
  end: number,
  seed = 0,
): [number, number] {
  const length = end - start;
  let h1 = seed | 0;
  let h2 = seed | 0;
  let h3 = seed | 0;
  let h4 = seed | 0;
  const blocksEnd = start + (length & ~15);
  let i = start;
  for (; i < blocksEnd; i += 16) {
    let k1 =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    let k2 =
      (bytes[i + 4] as number) |
      ((bytes[i + 5] as number) << 8) |
      ((bytes[i + 6] as number) << 16) |
      ((bytes[i + 7] as number) << 24);
    let k3 =
      (bytes[i + 8] as number) |
      ((bytes[i + 9] as number) << 8) |
      ((bytes[i + 10] as number) << 16) |
      ((bytes[i + 11] as number) << 24);
    let k4 =
      (bytes[i + 12] as number) |
      ((bytes[i + 13] as number) << 8) |
      ((bytes[i + 14] as number) << 16) |
      ((bytes[i + 15] as number) << 24);

    k1 = imul(k1, c1);
    k1 = rotl(k1, 15);
    k1 = imul(k1, c2);
    h1 ^= k1;
    h1 = rotl(h1, 19);
    h1 = (h1 + h2) | 0;
    h1 = (imul(h1, 5) + 0x561ccd1b) | 0;

    k2 = imul(k2, c2);
    k2 = rotl(k2, 16);
    k2 = imul(k2, c3);
    h2 ^= k2;
    h2 = rotl(h2, 17);
    h2 = (h2 + h3) | 0;
    h2 = (imul(h2, 5) + 0x0bcaa747) | 0;

    k3 = imul(k3, c3);
    k3 = rotl(k3, 17);
    k3 = imul(k3, c4);
    h3 ^= k3;
    h3 = rotl(h3, 15);
    h3 = (h3 + h4) | 0;
    h3 = (imul(h3, 5) + 0x96cd1c35) | 0;

    k4 = imul(k4, c4);
    k4 = rotl(k4, 18);
    k4 = imul(k4, c1);
    h4 ^= k4;
    h4 = rotl(h4, 13);
    h4 = (h4 + h1) | 0;
    h4 = (imul(h4, 5) + 0x32ac3b17) | 0;
  }

  const tail = length & 15;
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  const at = (n: number) => bytes[i + n] as number;
  if (tail >= 13) {
    if (tail >= 15) k4 ^= at(14) << 16;
    if (tail >= 14) k4 ^= at(13) << 8;
    k4 ^= at(12);
    k4 = imul(k4, c4);
    k4 = rotl(k4, 18);
    k4 = imul(k4, c1);
    h4 ^= k4;
  }
  if (tail >= 9) {
    if (tail >= 12) k3 ^= at(11) << 24;
    if (tail >= 11) k3 ^= at(10) << 16;
    if (tail >= 10) k3 ^= at(9) << 8;
    k3 ^= at(8);
    k3 = imul(k3, c3);
    k3 = rotl(k3, 17);
    k3 = imul(k3, c4);
    h3 ^= k3;
  }
  if (tail >= 5) {
    if (tail >= 8) k2 ^= at(7) << 24;
    if (tail >= 7) k2 ^= at(6) << 16;
    if (tail >= 6) k2 ^= at(5) << 8;
    k2 ^= at(4);
    k2 = imul(k2, c2);
    k2 = rotl(k2, 16);
    k2 = imul(k2, c3);
    h2 ^= k2;
  }
  if (tail >= 1) {
    if (tail >= 4) k1 ^= at(3) << 24;
    if (tail >= 3) k1 ^= at(2) << 16;
    if (tail >= 2) k1 ^= at(1) << 8;
    k1 ^= at(0);
    k1 = imul(k1, c1);
    k1 = rotl(k1, 15);
    k1 = imul(k1, c2);
    h1 ^= k1;
  }

  h1 ^= length;
  h2 ^= length;
  h3 ^= length;
  h4 ^= length;
  h1 = (h1 + h2) | 0;
  h1 = (h1 + h3) | 0;
  h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2) | 0;
  h1 = (h1 + h3) | 0;
  h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0];
}

const newline = 0x0a;
const sum64 = (1n << 64n) - 1n;

/**
 * What copy-row-hash.wat exports (lib/pg/copy-row-hash-wasm.ts holds it compiled), and the part of
 * Node's WebAssembly API used to load it (the project's TypeScript libraries do not declare it).
 */
export interface RowHashExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  rows: { value: number };
  sum: { value: bigint };
  stopped: { value: number };
  textEnd: { value: number };
  stopType: { value: number };
  hashLines(start: number, end: number, archive: number): number;
  compactCopyData(at: number, end: number): number;
}
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

let rowHash: RowHashExports | undefined;
/** The one instance of the module: its memory is a scratch area, used by one synchronous call at a time. */
export function rowHashModule(): RowHashExports {
  const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
  rowHash ??= new Instance(new Module(Buffer.from(rowHashWasm, 'base64'))).exports as RowHashExports;
  return rowHash;
}

/**
 * At most this many bytes go to the WebAssembly module at once: its memory grows to the largest slice
 * and never shrinks. A longer line (one large value) is hashed by the reference function instead.
 */
const maxSlice = 4 * 1024 * 1024;
/** The module reads up to 16 bytes past a slice's end (whole words of a row's last bytes, the search). */
const slack = 16;

/** `bytes` placed at the start of the module's memory (grown to hold them and the slack). */
export function placeInModule(module: RowHashExports, bytes: Uint8Array): void {
  const needed = bytes.length + slack;
  const have = module.memory.buffer.byteLength;
  if (needed > have) module.memory.grow(Math.ceil((needed - have) / 65536));
  new Uint8Array(module.memory.buffer, 0, bytes.length).set(bytes);
}

/**
 * Every whole line of `bytes` (which ends with a newline) hashed in the module: one call, however many
 * rows. `archive`: stop after a line that is exactly `\.`.
 */
function hashSlice(
  bytes: Uint8Array,
  archive: boolean,
): { next: number; rows: number; sum: bigint; stopped: boolean } {
  const module = rowHashModule();
  placeInModule(module, bytes);
  const next = module.hashLines(0, bytes.length, archive ? 1 : 0);
  return {
    next,
    rows: module.rows.value,
    sum: BigInt.asUintN(64, module.sum.value),
    stopped: module.stopped.value === 1,
  };
}

/**
 * The running checksum of one table's COPY text, fed in chunks that may cut a row anywhere. The rows
 * within a chunk are hashed by copy-row-hash.wat in one call; a row cut by a chunk's edge, or longer
 * than a slice, by `murmur3x86x128First64` (the same function: tests hold them to it). Memory: one
 * partial row at most (a single row of COPY text can be large: a 1 GB value is one row) and the
 * module's slice.
 */
export class CopyRowDigest {
  private sum = 0n;
  private partial: Buffer[] = [];
  private terminated = false;
  private trailing = false;
  rows = 0;

  /**
   * `archive`: the text is a pg_dump archive's data block, which ends with COPY's end-of-data line
   * (`\.`) and blank lines after it (pg_dump's own); the rows end there, and the text is complete only
   * with it. Otherwise (COPY TO STDOUT over the protocol) every line is a row.
   */
  private readonly archive: boolean;

  constructor(archive = false) {
    this.archive = archive;
  }

  update(chunk: Buffer): void {
    if (this.terminated) {
      this.afterEnd(chunk, 0);
      return;
    }
    let start = 0;
    if (this.partial.length > 0) {
      const end = chunk.indexOf(newline);
      if (end < 0) {
        this.partial.push(Buffer.from(chunk));
        return;
      }
      this.partial.push(chunk.subarray(0, end));
      const row = Buffer.concat(this.partial);
      this.partial = [];
      this.add(row, 0, row.length);
      start = end + 1;
      if (this.terminated) {
        this.afterEnd(chunk, start);
        return;
      }
    }
    const last = chunk.lastIndexOf(newline);
    while (start <= last) {
      let sliceEnd = last + 1;
      if (sliceEnd - start > maxSlice) {
        const cut = chunk.lastIndexOf(newline, start + maxSlice - 1);
        if (cut < start) {
          const end = chunk.indexOf(newline, start);
          this.add(chunk, start, end);
          start = end + 1;
          if (this.terminated) break;
          continue;
        }
        sliceEnd = cut + 1;
      }
      const hashed = hashSlice(chunk.subarray(start, sliceEnd), this.archive);
      this.rows += hashed.rows;
      this.sum = (this.sum + hashed.sum) & sum64;
      start += hashed.next;
      if (hashed.stopped) this.terminated = true;
      if (this.terminated) break;
    }
    if (this.terminated) {
      this.afterEnd(chunk, start);
      return;
    }
    // Copied: the caller may reuse the chunk's memory.
    if (start < chunk.length) this.partial.push(Buffer.from(chunk.subarray(start)));
  }

  /**
   * The text at [0, end) of the module's memory, as `update` would take it: hashed where it lies when it
   * starts a row (no cut row pending) and is not an archive's; otherwise copied out and given to
   * `update`. A row cut at its end is kept, copied, for the next text.
   */
  updateInModule(end: number): void {
    const module = rowHashModule();
    if (this.partial.length > 0 || this.archive || this.terminated) {
      this.update(Buffer.from(new Uint8Array(module.memory.buffer, 0, end)));
      return;
    }
    const last = new Uint8Array(module.memory.buffer, 0, end).lastIndexOf(newline);
    if (last >= 0) {
      module.hashLines(0, last + 1, 0);
      this.rows += module.rows.value;
      this.sum = (this.sum + BigInt.asUintN(64, module.sum.value)) & sum64;
    }
    if (last + 1 < end)
      this.partial.push(Buffer.from(new Uint8Array(module.memory.buffer, last + 1, end - last - 1)));
  }

  /** After the end-of-data line, pg_dump writes blank lines only: anything else is text after the end. */
  private afterEnd(chunk: Buffer, from: number): void {
    for (let i = from; i < chunk.length; i++) {
      if (chunk[i] !== newline) {
        this.trailing = true;
        return;
      }
    }
  }

  private add(bytes: Uint8Array, start: number, end: number): void {
    if (this.archive && end - start === 2 && bytes[start] === 0x5c && bytes[start + 1] === 0x2e) {
      this.terminated = true;
      return;
    }
    const [low, high] = murmur3x86x128First64(bytes, start, end);
    this.sum = (this.sum + (BigInt(high) << 32n) + BigInt(low)) & sum64;
    this.rows++;
  }

  /** The row count and the sum as an unsigned decimal; the text must have ended with a whole row. */
  finish(): { rows: number; checksum: string; complete: boolean } {
    const whole = this.partial.length === 0 && !this.trailing;
    return {
      rows: this.rows,
      checksum: this.sum.toString(),
      complete: whole && (!this.archive || this.terminated),
    };
  }
}
