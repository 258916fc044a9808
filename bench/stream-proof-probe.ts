/**
 * Probe for a content proof taken from the dump stream itself (issue 28, "production is read once"):
 * what it costs Node to decompress the COPY data of a custom-format dump, split it into rows and hash
 * every row with a non-linear 64-bit hash, summed per table - against what the counting session's
 * checksums cost the production server today for the same database.
 *
 *   npm run bench:probe -- [--size 256MB] [--major 18] [--hash sha256|sha1|md5] [--rounds 3]
 *
 * It dumps the bench's generated database once (`pg_dump -Fc --compress=zstd:1`, the product's
 * default, to a temporary file), then in a fresh Node process per round reads that file with a minimal
 * custom-archive reader (header, TOC, data blocks; PostgreSQL's pg_backup_archiver.c ReadHead/ReadToc
 * and pg_backup_custom.c): pass 1 decompresses and splits rows only, pass 2 also hashes each row. Then
 * it runs the counting session's checksum scan (lib/pg/row-counts.ts `measureInSnapshot`) in an
 * exported snapshot and reads that backend's CPU from /proc/<pid>/stat (pg_backend_pid()).
 * A probe, not the product: it measures, it proves nothing about a restore.
 */
import { spawn } from 'node:child_process';
import { hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInflate, createZstdDecompress } from 'node:zlib';
import { resolvePgBundle } from '../lib/pg/client.ts';
import { parseConnectionUrl } from '../lib/pg/connection.ts';
import { contentAlgorithmFor } from '../lib/pg/content.ts';
import { describeExit, startPgProcess } from '../lib/pg/process.ts';
import { measureInSnapshot } from '../lib/pg/row-counts.ts';
import { openSession, readServerIdentity } from '../lib/pg/session.ts';
import { pgProgramsFor } from '../lib/runtime.ts';
import { type LocalMajor, localMajors } from '../tools/local/postgres-server.ts';
import { formatSize, openDataset, parseSize } from './dataset.ts';
import { readCpu, readPeakRss } from './proc.ts';

const MiB = 1024 ** 2;
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const log = (line: string) => console.error(`[probe ${new Date().toISOString().slice(11, 19)}] ${line}`);

// --- A minimal reader of pg_dump's custom format (read sequentially, as from a pipe) ---

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

// --- Rows and their hash ---

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

interface ParseResult {
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
async function parseArchive(
  path: string,
  algorithm: 'none' | 'sha256' | 'sha1' | 'md5',
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

// --- The probe: one child process per parse, the server's counting session beside it ---

interface ChildResult {
  split: ParseResult;
  hashed: ParseResult;
  baselineRssBytes: number;
  peakRssBytes: number;
}

function parseInChild(file: string, algorithm: string): Promise<ChildResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--parse', file, '--hash', algorithm],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolveRun(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ChildResult);
      else reject(new Error(`the parsing process exited with ${code}`));
    });
  });
}

/** The counting session of the dump step, alone, in an exported snapshot: its backend's CPU. */
async function countingSessionCpu(databaseUrl: string, content: boolean) {
  const connection = parseConnectionUrl(databaseUrl, 'bench');
  const holder = await openSession(connection);
  const counter = await openSession(connection);
  try {
    const identity = await readServerIdentity(holder);
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await holder.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    const { rows: pids } = await counter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = Number(pids[0]?.pid);
    const before = readCpu(pid).self;
    const started = performance.now();
    const measured = await measureInSnapshot(counter, rows[0]?.id ?? '', {
      ...(content ? { content: contentAlgorithmFor(identity.serverVersionNum) } : {}),
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const cpuSeconds = readCpu(pid).self - before;
    await holder.query('COMMIT');
    return {
      cpuSeconds,
      wallSeconds,
      rows: measured.tables.reduce((sum, t) => sum + t.rows, 0),
      algorithm: content ? contentAlgorithmFor(identity.serverVersionNum) : 'counts',
    };
  } finally {
    await counter.end();
    await holder.end();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      parse: { type: 'string' },
      hash: { type: 'string', default: 'sha256' },
      size: { type: 'string', default: '256MB' },
      major: { type: 'string', default: '18' },
      rounds: { type: 'string', default: '3' },
    },
    strict: true,
  });
  const algorithm = values.hash as 'sha256' | 'sha1' | 'md5';
  if (!['sha256', 'sha1', 'md5'].includes(algorithm)) throw new Error('--hash must be sha256, sha1 or md5');
  if (values.parse) {
    const baselineRssBytes = readPeakRss() ?? 0;
    const split = await parseArchive(values.parse, 'none');
    const hashed = await parseArchive(values.parse, algorithm);
    const result: ChildResult = { split, hashed, baselineRssBytes, peakRssBytes: readPeakRss() ?? 0 };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const major = Number(values.major) as LocalMajor;
  if (!localMajors.includes(major)) throw new Error(`--major must be one of ${localMajors.join(', ')}`);
  const rounds = Number(values.rounds);
  const loadBefore = loadavg();
  const dataset = await openDataset({ targetBytes: parseSize(values.size), major, log });
  const workDir = await mkdtemp(join(tmpdir(), 'vpb-probe-'));
  try {
    const file = join(workDir, 'bench.dump');
    const bundle = await pgProgramsFor((await resolvePgBundle()).dir).clientForServer(major * 10_000);
    const dump = startPgProcess(
      bundle,
      'pg_dump',
      ['--format=custom', '--compress=zstd:1', '--no-password', `--file=${file}`],
      { connection: parseConnectionUrl(dataset.url, 'bench') },
    );
    const exit = await dump.exit;
    if (exit.outcome !== 'ok') throw new Error(describeExit(exit));
    log(`dumped ${formatSize(dataset.databaseBytes)} to ${file}`);
    const parses: ChildResult[] = [];
    const server: Awaited<ReturnType<typeof countingSessionCpu>>[] = [];
    const counts: Awaited<ReturnType<typeof countingSessionCpu>>[] = [];
    for (let round = 0; round < rounds; round++) {
      parses.push(await parseInChild(file, algorithm));
      server.push(await countingSessionCpu(dataset.url, true));
      counts.push(await countingSessionCpu(dataset.url, false));
      log(`round ${round + 1}/${rounds} done`);
    }
    const first = parses[0] as ChildResult;
    if (parses.some((p) => p.hashed.sum !== first.hashed.sum))
      throw new Error('the row-hash sum differs between rounds');
    const rows = first.hashed.rows;
    if (rows !== (server[0]?.rows ?? -1))
      log(`rows in the archive ${rows}, counted by the server ${server[0]?.rows}`);
    const splitCpu = median(parses.map((p) => p.split.cpuSeconds));
    const hashCpu = median(parses.map((p) => p.hashed.cpuSeconds));
    const copyMiB = first.hashed.copyBytes / MiB;
    const serverCpu = median(server.map((s) => s.cpuSeconds));
    const countsCpu = median(counts.map((s) => s.cpuSeconds));
    const peak = Math.max(...parses.map((p) => p.peakRssBytes));
    const baseline = Math.max(...parses.map((p) => p.baselineRssBytes));
    const markdown = `## Stream-proof probe ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC

${formatSize(dataset.databaseBytes)} database (PostgreSQL ${major}), its dump \`-Fc --compress=zstd:1\`: ${(first.hashed.archiveBytes / MiB).toFixed(1)} MiB, archive ${first.hashed.archiveVersion},
${first.hashed.tables} tables, ${rows.toLocaleString('en-US')} rows, ${copyMiB.toFixed(0)} MiB of COPY text. ${rounds} rounds, medians, one fresh Node process
per round (\`node bench/stream-proof-probe.ts\`: TypeScript stripping adds to its RSS). Load average before ${loadBefore.map((l) => l.toFixed(2)).join(' / ')}, after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}.

| Where | What | CPU s | MiB/s of COPY text per CPU-s | Rows/s per CPU-s |
|---|---|--:|--:|--:|
| Node (the dump step's process) | decompress zstd + split rows | ${splitCpu.toFixed(2)} | ${(copyMiB / splitCpu).toFixed(0)} | ${(rows / splitCpu).toFixed(0)} |
| Node | decompress + split + ${algorithm} per row, 64-bit sum | ${hashCpu.toFixed(2)} | ${(copyMiB / hashCpu).toFixed(0)} | ${(rows / hashCpu).toFixed(0)} |
| PostgreSQL (production) | counting session, counts only | ${countsCpu.toFixed(2)} | – | ${(rows / countsCpu).toFixed(0)} |
| PostgreSQL (production) | counting session, counts + ${server[0]?.algorithm} | ${serverCpu.toFixed(2)} | – | ${(rows / serverCpu).toFixed(0)} |

Node peak RSS ${(peak / MiB).toFixed(0)} MiB (${(baseline / MiB).toFixed(0)} MiB before reading the archive). Row-hash sum ${first.hashed.sum}, the same every round.
Hashing in the stream moves ${(serverCpu - countsCpu).toFixed(2)} CPU-s of checksums off production and costs the dump's own process ${hashCpu.toFixed(2)} CPU-s (${(hashCpu - splitCpu).toFixed(2)} of them the hash).
`;
    console.log(markdown);
    await writeFile(join(resultsDir, 'latest-probe.md'), markdown);
    log('wrote bench/results/latest-probe.md');
  } finally {
    await dataset.server.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
