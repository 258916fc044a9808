/**
 * Probe for a content proof taken from the dump stream itself (issue 28, "production is read once"):
 * what it costs Node to decompress the COPY data of a custom-format dump, split it into rows and hash
 * every row with a non-linear 64-bit hash, summed per table - against what the counting session's
 * checksums cost the production server today for the same database.
 *
 *   npm run bench:probe -- [--size 256MB] [--major 18] [--hash murmur3|sha256|sha1|md5] [--rounds 3]
 *
 * It dumps the bench's generated database once (`pg_dump -Fc --compress=zstd:1`, the product's
 * default, to a temporary file), then in a fresh Node process per round reads that file with the
 * product's stream reader (lib/pg/archive-stream.ts): pass 1 decompresses and splits rows only, pass 2
 * also hashes each row (by default with the product's v4 row hash, MurmurHash3). Then
 * it runs the counting session's checksum scan (lib/pg/row-counts.ts `measureInSnapshot`) in an
 * exported snapshot and reads that backend's CPU from /proc/<pid>/stat (pg_backend_pid()).
 * A probe, not the product: it measures, it proves nothing about a restore.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolvePgBundle } from '../lib/pg/client.ts';
import { parseConnectionUrl } from '../lib/pg/connection.ts';
import { contentAlgorithmFor } from '../lib/pg/content.ts';
import { describeExit, startPgProcess } from '../lib/pg/process.ts';
import { measureInSnapshot } from '../lib/pg/row-counts.ts';
import { openSession, readServerIdentity } from '../lib/pg/session.ts';
import { pgProgramsFor } from '../lib/runtime.ts';
import { type LocalMajor, localMajors } from '../tools/local/postgres-server.ts';
import { type ParseResult, parseArchive } from './custom-archive.ts';
import { formatSize, openDataset, parseSize } from './dataset.ts';
import { readCpu, readPeakRss } from './proc.ts';

const MiB = 1024 ** 2;
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const log = (line: string) => console.error(`[probe ${new Date().toISOString().slice(11, 19)}] ${line}`);

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
      hash: { type: 'string', default: 'murmur3' },
      size: { type: 'string', default: '256MB' },
      major: { type: 'string', default: '18' },
      rounds: { type: 'string', default: '3' },
    },
    strict: true,
  });
  const algorithm = values.hash as 'murmur3' | 'sha256' | 'sha1' | 'md5';
  if (!['murmur3', 'sha256', 'sha1', 'md5'].includes(algorithm))
    throw new Error('--hash must be murmur3 (the v4 row hash), sha256, sha1 or md5');
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
