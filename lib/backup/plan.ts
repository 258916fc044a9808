/**
 * Where tonight's dump runs. One Lambda has 15 minutes; the worker (CodeBuild) has hours. The Plan step
 * estimates the dump's duration from the production database's size and the throughput the newest
 * backup actually achieved (database bytes per second of its dump, from its manifest), or a cautious
 * default when there is no history yet, and keeps the Lambda only when the estimate fits half of the
 * Lambda's budget: a dump that outgrows the estimate still finishes there, and the next night's plan
 * learns from it. `DUMP_VENUE` may force either venue.
 */
import type { RuntimeSettings } from '../config.ts';
import type { Manifest } from './manifest.ts';

export const venues = ['lambda', 'worker'] as const;
export type Venue = (typeof venues)[number];
export const dumpVenues = ['auto', ...venues] as const;

/**
 * Without history: 25 MiB of database per second, an eighth of what the benchmark measured on 2 cores
 * next to the database (docs/performance.md, scaling) to allow for a managed server across a network.
 */
export const defaultDumpBytesPerSecond = 25 * 1024 ** 2;
/** The share of the Lambda's budget an estimated dump may use. */
export const lambdaBudgetShare = 0.5;

export interface DumpPlan {
  dump: Venue;
  verify: Venue;
  databaseBytes: number;
  bytesPerSecond: number;
  /** Where the throughput comes from: the newest backup's manifest, or the default. */
  throughputFrom: string;
  estimatedDumpSeconds: number;
  lambdaBudgetSeconds: number;
  reason: string;
}

export type PlanSettings = Pick<
  RuntimeSettings,
  'DUMP_VENUE' | 'VERIFY_VENUE' | 'DUMP_LAMBDA_TIMEOUT_SECONDS' | 'STEP_TIMEOUT_RESERVE_MS'
>;

/**
 * Database bytes per second of a past dump step; undefined when its manifest cannot tell. The step
 * ends when both pg_dump and the counting session are done, and with content checksums the counting
 * session can be the slower one: the longer of the two sets the pace.
 */
export function throughputOf(manifest: Manifest): number | undefined {
  const seconds = Math.max(manifest.timings.dumpSeconds, manifest.timings.countSeconds ?? 0);
  const bytes = manifest.source.databaseSizeBytes;
  // A dump of a few seconds says more about start-up than throughput.
  if (!(seconds >= 5) || !(bytes > 0)) return undefined;
  return bytes / seconds;
}

export function planDump(databaseBytes: number, settings: PlanSettings, newest?: Manifest): DumpPlan {
  const measured = newest ? throughputOf(newest) : undefined;
  const bytesPerSecond = measured ?? defaultDumpBytesPerSecond;
  const throughputFrom = measured && newest ? `backup ${newest.backupId}` : 'default';
  const lambdaSeconds = Math.max(
    0,
    settings.DUMP_LAMBDA_TIMEOUT_SECONDS - settings.STEP_TIMEOUT_RESERVE_MS / 1000,
  );
  const lambdaBudgetSeconds = Math.round(lambdaSeconds * lambdaBudgetShare * 100) / 100;
  const estimatedDumpSeconds = Math.round((databaseBytes / bytesPerSecond) * 10) / 10;
  const fits = estimatedDumpSeconds <= lambdaBudgetSeconds;
  const dump: Venue = settings.DUMP_VENUE === 'auto' ? (fits ? 'lambda' : 'worker') : settings.DUMP_VENUE;
  const estimate = `${estimatedDumpSeconds} s estimated at ${(bytesPerSecond / 1024 ** 2).toFixed(1)} MiB/s (${throughputFrom})`;
  const reason =
    settings.DUMP_VENUE === 'auto'
      ? `${estimate} ${fits ? 'fits' : 'exceeds'} half the Lambda's ${Math.round(lambdaSeconds * 100) / 100} s budget`
      : `DUMP_VENUE=${settings.DUMP_VENUE}; ${estimate}`;
  return {
    dump,
    verify: settings.VERIFY_VENUE,
    databaseBytes,
    bytesPerSecond: Math.round(bytesPerSecond),
    throughputFrom,
    estimatedDumpSeconds,
    lambdaBudgetSeconds,
    reason,
  };
}
