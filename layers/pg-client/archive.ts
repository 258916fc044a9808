/**
 * Reading .deb files and writing the layer zip without dpkg or zip, so the builder runs on any Linux
 * with tar and xz (Debian compresses data.tar with xz; GNU tar calls xz or zstd for us).
 */
import { spawn } from 'node:child_process';
import { crc32, deflateRawSync } from 'node:zlib';

/** The members of an `ar` archive (a .deb is one: debian-binary, control.tar.*, data.tar.*). */
export function readArMembers(bytes: Buffer): Map<string, Buffer> {
  if (bytes.toString('latin1', 0, 8) !== '!<arch>\n') throw new Error('not an ar archive');
  const members = new Map<string, Buffer>();
  let at = 8;
  while (at + 60 <= bytes.length) {
    const name = bytes
      .toString('latin1', at, at + 16)
      .trim()
      .replace(/\/$/, '');
    const size = Number(bytes.toString('latin1', at + 48, at + 58).trim());
    if (!Number.isInteger(size) || at + 60 + size > bytes.length)
      throw new Error(`truncated ar member ${name}`);
    members.set(name, bytes.subarray(at + 60, at + 60 + size));
    at += 60 + size + (size % 2);
  }
  return members;
}

const tarCompression: Record<string, string[]> = {
  'data.tar.xz': ['--xz'],
  'data.tar.zst': ['--zstd'],
  'data.tar.gz': ['--gzip'],
  'data.tar': [],
};

/** Extracts a .deb's data.tar into `root`, keeping symlinks (resolved later, inside `root`). */
export async function extractDeb(deb: Buffer, root: string): Promise<void> {
  const members = readArMembers(deb);
  const name = Object.keys(tarCompression).find((candidate) => members.has(candidate));
  const data = name === undefined ? undefined : members.get(name);
  if (name === undefined || data === undefined) throw new Error('no data.tar member');
  await new Promise<void>((resolveExtract, reject) => {
    const tar = spawn(
      'tar',
      ['-x', ...(tarCompression[name] ?? []), '-f', '-', '-C', root, '--no-same-owner'],
      {
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    tar.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    tar.once('error', reject);
    tar.once('exit', (code) =>
      code === 0 ? resolveExtract() : reject(new Error(`tar exited with ${code}: ${stderr.slice(-500)}`)),
    );
    tar.stdin.on('error', reject);
    tar.stdin.end(data);
  });
}

export interface ZipEntry {
  /** Path inside the zip; directories end with `/`. */
  path: string;
  data: Buffer;
  mode: number;
}

/**
 * A zip with Unix modes (so Lambda keeps the programs executable) and a fixed timestamp (so the same
 * bundle gives the same bytes). No zip64: a layer is far below 4 GB.
 */
export function writeZip(entries: ZipEntry[]): Buffer {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const dosTime = 0;
  // 2000-01-01 00:00 in DOS format; a fixed date keeps the zip reproducible.
  const dosDate = ((2000 - 1980) << 9) | (1 << 5) | 1;
  for (const entry of entries) {
    const name = Buffer.from(entry.path, 'utf8');
    const isDirectory = entry.path.endsWith('/');
    const compressed = isDirectory ? Buffer.alloc(0) : deflateRawSync(entry.data, { level: 9 });
    const stored = compressed.length >= entry.data.length;
    const body = stored ? entry.data : compressed;
    const method = stored ? 0 : 8;
    const checksum = crc32(entry.data);

    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(0x0800, 6);
    header.writeUInt16LE(method, 8);
    header.writeUInt16LE(dosTime, 10);
    header.writeUInt16LE(dosDate, 12);
    header.writeUInt32LE(checksum, 14);
    header.writeUInt32LE(body.length, 18);
    header.writeUInt32LE(entry.data.length, 22);
    header.writeUInt16LE(name.length, 26);
    local.push(header, name, body);

    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE((3 << 8) | 20, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(0x0800, 8);
    record.writeUInt16LE(method, 10);
    record.writeUInt16LE(dosTime, 12);
    record.writeUInt16LE(dosDate, 14);
    record.writeUInt32LE(checksum, 16);
    record.writeUInt32LE(body.length, 20);
    record.writeUInt32LE(entry.data.length, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt32LE((((isDirectory ? 0o040000 : 0o100000) | entry.mode) << 16) >>> 0, 38);
    record.writeUInt32LE(offset, 42);
    central.push(record, name);
    offset += header.length + name.length + body.length;
  }
  const centralSize = central.reduce((sum, part) => sum + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...local, ...central, end]);
}
