/**
 * The v4 row hash and its sum (lib/pg/copy-row-hash.ts): MurmurHash3 x86_128 as the reference
 * implementation computes it, rows cut anywhere by chunk boundaries, and the sum's properties the
 * proof relies on (order-free, duplicates add, moved values seen).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import murmur from 'murmurhash3js-revisited';
import { CopyRowDigest, murmur3x86x128First64 } from '../../../../lib/pg/copy-row-hash.ts';
import { rowHashWasm } from '../../../../lib/pg/copy-row-hash-wasm.ts';
import { compileRowHash } from '../../../../tools/dev/build-row-hash.ts';

/** The reference's first 64 bits as our [low, high] words (it prints h1 h2 h3 h4 as hex words). */
function reference(bytes: Uint8Array): [number, number] {
  const hex: string = murmur.x86.hash128(bytes, 0);
  return [Number.parseInt(hex.slice(0, 8), 16), Number.parseInt(hex.slice(8, 16), 16)];
}

function digestOf(
  rows: readonly string[],
  cut: (text: Buffer) => Buffer[] = (text) => [text],
): {
  rows: number;
  checksum: string;
  complete: boolean;
} {
  const digest = new CopyRowDigest();
  for (const chunk of cut(Buffer.from(rows.map((row) => `${row}\n`).join('')))) digest.update(chunk);
  return digest.finish();
}

describe('murmur3x86x128First64', () => {
  it('equals the reference implementation for every length from 0 to 64 and random content', () => {
    for (let length = 0; length <= 64; length++) {
      for (let trial = 0; trial < 8; trial++) {
        const bytes = randomBytes(length);
        expect(murmur3x86x128First64(bytes, 0, length)).toEqual(reference(bytes));
      }
    }
  });

  it('hashes a slice of a larger buffer like the slice alone', () => {
    const bytes = randomBytes(300);
    expect(murmur3x86x128First64(bytes, 17, 250)).toEqual(reference(bytes.subarray(17, 250)));
  });
});

describe('CopyRowDigest', () => {
  const rows = ['1\talice\t\\N', '2\tbob\t3.5', '3\tcarol\t\\\\n not a newline', ''];

  it('counts rows and gives the same sum whatever the order of the rows', () => {
    const forward = digestOf(rows);
    expect(forward).toMatchObject({ rows: 4, complete: true });
    expect(digestOf([...rows].reverse()).checksum).toBe(forward.checksum);
  });

  it('gives the same sum when chunks cut rows anywhere, one byte at a time included', () => {
    const whole = digestOf(rows);
    const bytewise = digestOf(rows, (text) => [...text].map((byte) => Buffer.from([byte])));
    const halves = digestOf(rows, (text) => [text.subarray(0, 7), text.subarray(7)]);
    expect(bytewise).toEqual(whole);
    expect(halves).toEqual(whole);
  });

  it('adds duplicate rows instead of cancelling them', () => {
    const once = digestOf(['a', 'b']);
    const twice = digestOf(['a', 'a', 'b', 'b']);
    expect(twice.rows).toBe(4);
    expect(twice.checksum).not.toBe(once.checksum);
    expect(digestOf(['a', 'a']).checksum).not.toBe(digestOf(['b', 'b']).checksum);
  });

  it('sees one column swapped between two rows, which a linear sum of column hashes cannot', () => {
    expect(digestOf(['1\tx', '2\ty']).checksum).not.toBe(digestOf(['1\ty', '2\tx']).checksum);
  });

  it('says when the text ends in the middle of a row', () => {
    const digest = new CopyRowDigest();
    digest.update(Buffer.from('1\ta\n2\tb'));
    expect(digest.finish()).toMatchObject({ rows: 1, complete: false });
  });

  it("ends an archive's rows at COPY's end-of-data line and wants that line", () => {
    const archived = new CopyRowDigest(true);
    archived.update(Buffer.from('1\ta\n2\t\\.\n\\.\n\n\n'));
    expect(archived.finish()).toEqual({ ...digestOf(['1\ta', '2\t\\.']), complete: true });
    const cut = new CopyRowDigest(true);
    cut.update(Buffer.from('1\ta\n'));
    expect(cut.finish().complete).toBe(false);
    const more = new CopyRowDigest(true);
    more.update(Buffer.from('1\ta\n\\.\n2\tb\n'));
    expect(more.finish().complete).toBe(false);
  });

  /** The sum of the reference's row hashes, as the checksum prints it. */
  function referenceSum(rowBytes: readonly Uint8Array[]): string {
    let sum = 0n;
    for (const row of rowBytes) {
      const [low, high] = reference(row);
      sum = (sum + (BigInt(high) << 32n) + BigInt(low)) % 2n ** 64n;
    }
    return sum.toString();
  }

  /** Random bytes without a newline: any byte a COPY line can hold, high bytes and NULs included. */
  function randomRow(length: number): Buffer {
    return Buffer.from(randomBytes(length).map((byte) => (byte === 0x0a ? 0x0b : byte)));
  }

  it('hashes rows of every length from 0 to 80 in one chunk (the WebAssembly loop) as the reference does', () => {
    const rowBytes = Array.from({ length: 81 * 6 }, (_, i) => randomRow(i % 81));
    const text = Buffer.concat(rowBytes.flatMap((row) => [row, Buffer.from('\n')]));
    const digest = new CopyRowDigest();
    digest.update(text);
    expect(digest.finish()).toEqual({
      rows: rowBytes.length,
      checksum: referenceSum(rowBytes),
      complete: true,
    });
  });

  it('gives the same sum for random rows cut at every position of a chunk boundary', () => {
    const rowBytes = Array.from({ length: 12 }, (_, i) => randomRow(i * 3));
    const text = Buffer.concat(rowBytes.flatMap((row) => [row, Buffer.from('\n')]));
    const expected = referenceSum(rowBytes);
    for (let cut = 0; cut <= text.length; cut++) {
      const digest = new CopyRowDigest();
      digest.update(text.subarray(0, cut));
      digest.update(text.subarray(cut));
      expect(digest.finish().checksum).toBe(expected);
    }
  });

  it('hashes a row longer than one slice of the WebAssembly memory, and the rows around it', () => {
    const rowBytes = [
      randomRow(10),
      randomRow(5 * 1024 * 1024),
      randomRow(3),
      randomRow(4 * 1024 * 1024 - 1),
    ];
    const text = Buffer.concat(rowBytes.flatMap((row) => [row, Buffer.from('\n')]));
    const digest = new CopyRowDigest();
    digest.update(text);
    expect(digest.finish()).toEqual({ rows: 4, checksum: referenceSum(rowBytes), complete: true });
  });

  it("finds an archive's end-of-data line wherever a chunk boundary falls, and text after it", () => {
    const text = Buffer.from('1\ta\n\\.x\n\\.\n\n\n');
    const expected = referenceSum([Buffer.from('1\ta'), Buffer.from('\\.x')]);
    for (let cut = 0; cut <= text.length; cut++) {
      const digest = new CopyRowDigest(true);
      digest.update(text.subarray(0, cut));
      digest.update(text.subarray(cut));
      expect(digest.finish()).toEqual({ rows: 2, checksum: expected, complete: true });
      const after = new CopyRowDigest(true);
      after.update(text.subarray(0, cut));
      after.update(Buffer.concat([text.subarray(cut), Buffer.from('3\tc\n')]));
      expect(after.finish().complete).toBe(false);
    }
  });

  it('sums modulo 2^64 exactly over many rows (carries folded, never rounded)', () => {
    const many = Array.from({ length: 50_000 }, (_, i) => `${i}\t${i * 7}`);
    let expected = 0n;
    for (const row of many) {
      const [low, high] = reference(Buffer.from(row));
      expected = (expected + (BigInt(high) << 32n) + BigInt(low)) % 2n ** 64n;
    }
    expect(digestOf(many).checksum).toBe(expected.toString());
  });

  it('a randomized trial: rotating one column among 2 to 20 rows never goes unseen', () => {
    let missed = 0;
    for (let trial = 0; trial < 2_000; trial++) {
      const count = 2 + (trial % 19);
      const keys = Array.from({ length: count }, (_, i) => i);
      const values = Array.from({ length: count }, () => randomBytes(3).toString('hex'));
      if (new Set(values).size < count) continue;
      const before = digestOf(keys.map((k, i) => `${k}\t${values[i]}`));
      const after = digestOf(keys.map((k, i) => `${k}\t${values[(i + 1) % count]}`));
      if (after.checksum === before.checksum) missed++;
    }
    expect(missed).toBe(0);
  });
});

describe('copy-row-hash.wat', () => {
  it('is shipped as the bytes its source compiles to (npm run build:row-hash)', async () => {
    expect(Buffer.from(await compileRowHash()).toString('base64')).toBe(rowHashWasm);
  });
});
