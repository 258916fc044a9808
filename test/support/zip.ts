/**
 * Extracts the zips `serverless package` writes (function bundles) and the pg layers' zips, stored or
 * deflated entries, with each file's Unix mode from the central directory, as Lambda unpacks a layer:
 * the loader and the programs keep their execute bits. No system `unzip` needed.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** Extracts `zip` into `into`; the bytes of the files written (their unzipped size). */
export function unzip(zip: Buffer, into: string): number {
  let written = 0;
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip file (no end of central directory)');
  let offset = zip.readUInt32LE(end + 16);
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const madeBy = zip.readUInt8(offset + 5);
    const method = zip.readUInt16LE(offset + 10);
    const size = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extra = zip.readUInt16LE(offset + 30) + zip.readUInt16LE(offset + 32);
    const attributes = zip.readUInt32LE(offset + 38);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    const local = zip.readUInt32LE(offset + 42);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(dataStart, dataStart + size);
    const path = join(into, name);
    if (!normalize(path).startsWith(normalize(into) + sep)) throw new Error(`zip entry ${name} escapes`);
    // Made on Unix (3): the upper 16 bits are the file's mode; else the usual defaults.
    const mode = madeBy === 3 ? (attributes >>> 16) & 0o7777 : 0;
    if (name.endsWith('/')) {
      mkdirSync(path, { recursive: true });
    } else {
      if (method !== 0 && method !== 8) throw new Error(`zip entry ${name}: compression method ${method}`);
      mkdirSync(dirname(path), { recursive: true });
      const content = method === 8 ? inflateRawSync(data) : data;
      writeFileSync(path, content);
      written += content.length;
      chmodSync(path, mode || 0o644);
    }
    offset += 46 + nameLength + extra;
  }
  return written;
}
