/**
 * Render's logical export as it arrives: a gzip'd tar of a pg_dump directory-format archive
 * (`.dir.tar.gz`). It is streamed from its signed link through SHA-256 and gunzip into a tar reader
 * that writes the files under one directory, so nothing holds the whole export in memory and the link
 * itself is never kept. The export is input from outside: entries that would leave the directory
 * (absolute paths, `..`), links and devices are refused, and a stream that ends inside an entry is a
 * truncated export, not a short one.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ProviderDrillFailedError } from '../errors.ts';

export interface DownloadedExport {
  bytes: number;
  sha256: string;
  downloadSeconds: number;
  /** The files written, relative to the directory. */
  files: string[];
}

const block = 512;

/** Reads exact byte counts from an async stream of chunks. */
class ByteReader {
  #chunks: AsyncIterator<Buffer>;
  #pending = Buffer.alloc(0);

  constructor(source: AsyncIterable<Buffer>) {
    this.#chunks = source[Symbol.asyncIterator]();
  }

  /** Exactly `length` bytes, fewer only at the end of the stream (null when nothing is left). */
  async read(length: number): Promise<Buffer | null> {
    while (this.#pending.length < length) {
      const next = await this.#chunks.next();
      if (next.done) break;
      this.#pending = Buffer.concat([this.#pending, next.value]);
    }
    if (this.#pending.length === 0) return null;
    const taken = this.#pending.subarray(0, length);
    this.#pending = this.#pending.subarray(taken.length);
    return taken;
  }
}

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
}

function octal(header: Buffer, offset: number, length: number): number {
  const text = field(header, offset, length).trim();
  if (!/^[0-7]*$/.test(text))
    throw new ProviderDrillFailedError('the export is not a tar archive (bad size field)');
  return text ? Number.parseInt(text, 8) : 0;
}

function checksumMatches(header: Buffer): boolean {
  const stored = octal(header, 148, 8);
  let sum = 0;
  for (let i = 0; i < block; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] as number);
  return sum === stored;
}

/** A pax header's `path=` record, if it has one. */
function paxPath(data: Buffer): string | undefined {
  for (const record of data.toString('utf8').split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(record);
    if (match) return match[1];
  }
  return undefined;
}

function safeTarget(directory: string, name: string): string {
  const relative = normalize(name).replace(/^(\.\/)+/, '');
  if (relative.startsWith('/') || relative === '..' || relative.startsWith(`..${sep}`)) {
    throw new ProviderDrillFailedError(
      `the export holds an entry outside its directory: ${name.slice(0, 100)}`,
    );
  }
  return join(directory, relative);
}

/** Writes a tar stream's regular files under `directory`; returns their relative names. */
export async function extractTar(source: AsyncIterable<Buffer>, directory: string): Promise<string[]> {
  const reader = new ByteReader(source);
  const files: string[] = [];
  let longName: string | undefined;
  for (;;) {
    const header = await reader.read(block);
    if (header === null)
      throw new ProviderDrillFailedError('the export is truncated: the tar archive has no end');
    if (header.length < block)
      throw new ProviderDrillFailedError('the export is truncated inside a tar header');
    if (header.every((byte) => byte === 0)) {
      // The end-of-archive blocks and the record padding: read on, so the SHA-256 covers every byte.
      while ((await reader.read(1024 * 1024)) !== null) {}
      return files;
    }
    if (!checksumMatches(header)) {
      throw new ProviderDrillFailedError(
        'the export is not a tar archive (a header checksum does not match)',
      );
    }
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    const padded = Math.ceil(size / block) * block;
    if (type === 'x' || type === 'L') {
      const data = await reader.read(padded);
      if (data === null || data.length < padded)
        throw new ProviderDrillFailedError('the export is truncated');
      longName = type === 'L' ? field(data, 0, size) : paxPath(data.subarray(0, size));
      continue;
    }
    if (type === '0' || type === '\0') {
      const target = safeTarget(directory, name);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const out = createWriteStream(target, { mode: 0o600 });
      let left = padded;
      let data = size;
      async function* body(): AsyncGenerator<Buffer> {
        while (left > 0) {
          const piece = await reader.read(Math.min(left, 1024 * 1024));
          if (piece === null || piece.length === 0) {
            throw new ProviderDrillFailedError(`the export is truncated inside ${name.slice(0, 100)}`);
          }
          left -= piece.length;
          const kept = piece.subarray(0, Math.max(0, Math.min(piece.length, data)));
          data -= kept.length;
          if (kept.length > 0) yield kept;
        }
      }
      await pipeline(Readable.from(body()), out);
      files.push(name);
      continue;
    }
    if (type === '5') {
      await mkdir(safeTarget(directory, name), { recursive: true, mode: 0o700 });
      continue;
    }
    if (type === 'g') {
      await reader.read(padded);
      continue;
    }
    throw new ProviderDrillFailedError(
      `the export holds an entry of tar type '${type}' (${name.slice(0, 100)}): only files and directories are expected`,
    );
  }
}

/**
 * Streams an export from its signed link into `directory`: SHA-256 and size of the bytes as served,
 * gunzip, tar. A refused link (403/404/410: signed links expire) and anything that is not a gzip'd tar
 * fail the drill by name; the link appears in no message.
 */
export async function downloadExport(
  url: string,
  directory: string,
  options: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<DownloadedExport> {
  const started = Date.now();
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, options.signal ? { signal: options.signal } : {});
  } catch (error) {
    throw new ProviderDrillFailedError(
      `the export's download failed: ${(error as Error).name} (the signed link is not shown)`,
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    const expired = [403, 404, 410].includes(response.status)
      ? ': the signed link has expired or was revoked'
      : '';
    throw new ProviderDrillFailedError(`the export's download answered ${response.status}${expired}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)) {
      const buffer = chunk as Buffer;
      hash.update(buffer);
      bytes += buffer.length;
      yield buffer;
    }
  }
  const gunzip = createGunzip();
  const gunzipped = Readable.from(counted()).pipe(gunzip);
  const failure: { error?: Error } = {};
  gunzip.on('error', (error) => {
    failure.error = error;
  });
  let files: string[];
  try {
    files = await extractTar(gunzipped, directory);
  } catch (error) {
    const zlib = failure.error ?? (isZlibError(error) ? (error as Error) : undefined);
    if (zlib) {
      throw new ProviderDrillFailedError(
        /unexpected end/i.test(zlib.message)
          ? 'the export is truncated: its gzip stream ends early'
          : `the export is not a gzip'd archive: ${zlib.message}`,
      );
    }
    throw error;
  }
  return { bytes, sha256: hash.digest('hex'), downloadSeconds: (Date.now() - started) / 1000, files };
}

function isZlibError(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? '';
  return code.startsWith('Z_') || (error as Error)?.name === 'ZlibError';
}
