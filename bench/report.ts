/**
 * Turns measured runs into medians, the target verdicts and the Markdown tables. Targets are reported,
 * never asserted: a MISS is a finding for docs/performance.md.
 */
import type { BackendUsage } from './backends.ts';
import type { WorkerResult } from './worker.ts';

const MiB = 1024 ** 2;

export interface Run extends WorkerResult {
  /** user+sys of the PostgreSQL backends the scenario used (postmaster's waited-for children). */
  serverCpuSeconds: number;
  /** user+sys of the benchmark's own process, which hosts the local S3 server. */
  s3ServerCpuSeconds: number;
  /** The backends by who opened them, and the table blocks read (bench/backends.ts). */
  backends?: BackendUsage;
  round: number;
}

export interface ScenarioSummary {
  id: string;
  label: string;
  runs: Run[];
  wallSeconds: number;
  wallMin: number;
  wallMax: number;
  childCpuSeconds: number;
  nodeCpuSeconds: number;
  serverCpuSeconds: number;
  s3ServerCpuSeconds: number;
  /** CPU of the product's own backends beside pg_dump's (counting, checksums, snapshot holder). */
  productBackendCpuSeconds: number | undefined;
  /** CPU of pg_dump's backend. */
  pgDumpBackendCpuSeconds: number | undefined;
  /** Table blocks read or hit on the server, all backends, bytes. */
  tableBytes: number | undefined;
  nodePeakRssBytes: number | undefined;
  pgDumpPeakRssBytes: number | undefined;
  bytes: number | undefined;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function medianOf(runs: Run[], pick: (run: Run) => number | undefined): number | undefined {
  const values = runs.map(pick).filter((v): v is number => v !== undefined);
  return values.length ? median(values) : undefined;
}

export function summarize(id: string, label: string, runs: Run[]): ScenarioSummary {
  const walls = runs.map((r) => r.wallSeconds);
  return {
    id,
    label,
    runs,
    wallSeconds: median(walls),
    wallMin: Math.min(...walls),
    wallMax: Math.max(...walls),
    childCpuSeconds: medianOf(runs, (r) => r.childCpuSeconds) ?? 0,
    nodeCpuSeconds: medianOf(runs, (r) => r.nodeCpuSeconds) ?? 0,
    serverCpuSeconds: medianOf(runs, (r) => r.serverCpuSeconds) ?? 0,
    s3ServerCpuSeconds: medianOf(runs, (r) => r.s3ServerCpuSeconds) ?? 0,
    productBackendCpuSeconds: medianOf(runs, (r) => r.backends?.cpuSeconds.product),
    pgDumpBackendCpuSeconds: medianOf(runs, (r) => r.backends?.cpuSeconds.pgDump),
    tableBytes: medianOf(runs, (r) => r.backends?.tableBytes),
    // Peaks are reported as the worst round, not the median: memory limits are about the worst case.
    nodePeakRssBytes: maxOf(runs.map((r) => r.nodePeakRssBytes)),
    pgDumpPeakRssBytes: maxOf(runs.map((r) => r.pgDumpPeakRssBytes)),
    bytes: medianOf(runs, (r) => r.bytes),
  };
}

function maxOf(values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.max(...defined) : undefined;
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  pass: boolean;
}

const s = (seconds: number) => seconds.toFixed(2);
const mib = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / MiB).toFixed(0));

const optional = (value: number | undefined, digits: number) =>
  value === undefined ? '–' : value.toFixed(digits);

/**
 * What a dump costs production beyond pg_dump's own work: its other backends' CPU, and the table data
 * read on the server minus what pg_dump alone (`baseline`, scenario a) reads.
 */
export function beyondPgDump(x: ScenarioSummary, baseline: ScenarioSummary | undefined) {
  // Without a pg_dump of its own (the counts alone), everything a scenario read is beyond pg_dump's.
  const ranPgDump = x.runs.some((run) => (run.backends?.backends.pgDump ?? 0) > 0);
  const pgDumpBytes = ranPgDump ? baseline?.tableBytes : 0;
  const extraBytes =
    x.tableBytes !== undefined && pgDumpBytes !== undefined ? x.tableBytes - pgDumpBytes : undefined;
  return { cpuSeconds: x.productBackendCpuSeconds, extraBytes };
}

export function scenarioTable(
  summaries: ScenarioSummary[],
  uncompressedBytes: number | undefined,
  baseline?: ScenarioSummary,
): string {
  const header =
    '| Scenario | Wall s (median) | Wall min–max | Programs CPU s | Node CPU s | PG server CPU s | pg_dump backend CPU s | Production extra CPU s | Production extra read MiB | S3 server CPU s | Node peak RSS MiB | pg_dump peak RSS MiB | Output MiB | Ratio |\n' +
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const rows = summaries.map((x) => {
    const ratio =
      x.bytes !== undefined && uncompressedBytes !== undefined
        ? (uncompressedBytes / x.bytes).toFixed(2)
        : '–';
    const extra = beyondPgDump(x, baseline);
    return `| ${x.label} | ${s(x.wallSeconds)} | ${s(x.wallMin)}–${s(x.wallMax)} | ${s(x.childCpuSeconds)} | ${s(
      x.nodeCpuSeconds,
    )} | ${s(x.serverCpuSeconds)} | ${optional(x.pgDumpBackendCpuSeconds, 2)} | ${optional(extra.cpuSeconds, 2)} | ${optional(
      extra.extraBytes === undefined ? undefined : extra.extraBytes / MiB,
      0,
    )} | ${s(x.s3ServerCpuSeconds)} | ${mib(x.nodePeakRssBytes)} | ${mib(
      x.pgDumpPeakRssBytes,
    )} | ${x.bytes === undefined ? '–' : (x.bytes / MiB).toFixed(1)} | ${ratio} |`;
  });
  return [header, ...rows].join('\n');
}

export function targetTable(targets: Target[]): string {
  return [
    '| Target | Goal | Measured | Verdict |',
    '|---|---|---|---|',
    ...targets.map((t) => `| ${t.name} | ${t.goal} | ${t.measured} | ${t.pass ? 'PASS' : 'MISS'} |`),
  ].join('\n');
}
