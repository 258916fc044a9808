/**
 * The status report: one answer to "are we covered?", computed from the bucket (manifests,
 * verification records, drill evidence) and the execution history. Rendered as status.json,
 * BACKUP_STATUS.md and badge.svg, and published as metrics. `now` is an argument so tests can age it.
 *
 * The overall state, worst first: no verified backup at all; the newest verified backup is older than
 * the RPO (stale); a backup newer than the newest verified one failed a later check (a drill,
 * `backupctl verify`, the Checksum step: check-failed); the most recent backup run failed (still within
 * the RPO); ok. "Verified" is lib/backup/catalog.ts's one definition; damaged objects are listed, never fatal.
 */

import {
  type CatalogEntry,
  type DamagedObject,
  noVerifiedBackupText,
  readCatalog,
  readManifest,
  readVerification,
  vaultFreshness,
} from '../backup/catalog.ts';
import { type ProofLevel, proofOf, verificationProofLabel } from '../backup/manifest.ts';
import { newestDrillEvidence } from '../drill/evidence.ts';
import { verificationErrorNames } from '../errors.ts';
import type { ProviderStatus } from '../provider/render.ts';
import type { RenderDrillSummary } from '../provider/render-drill.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { type CostEstimate, estimateMonthlyCost, type PriceTable } from './cost.ts';
import { type ExecutionSummary, readableCause } from './executions.ts';
import { withSilenceMetrics } from './silence.ts';

const dayMs = 86_400_000;

export type OverallState = 'ok' | 'last-run-failed' | 'check-failed' | 'stale' | 'no-verified-backup';

export interface StatusReport {
  statusVersion: 1;
  generatedAt: string;
  state: OverallState;
  summary: string;
  rpoHours: number;
  withinRpo: boolean;
  newestVerified: {
    backupId: string;
    createdAt: string;
    ageHours: number;
    bytes: number;
    /** What its verification proved: every row count, or the content too. */
    proof: ProofLevel;
    /** The proof as people read it: the checksums' version and what it cannot see (v2: moved values). */
    proofLabel?: string;
  } | null;
  /**
   * The age the alarm sees for this vault (lib/backup/catalog.ts, vaultFreshness): since the newest
   * verified backup, or, before the first, since the first backup; null for an empty vault.
   */
  ageHours: number | null;
  /** No verified backup yet, and the first backup is not older than the RPO: new, not stale. */
  awaitingFirstVerifiedBackup: boolean;
  unverifiedSinceNewest: number;
  /** Backups newer than the newest verified one whose later check failed (what `latest` passed by). */
  failedChecks: { backupId: string; kind: string; checkedAt: string; reason: string }[];
  /** Objects of the vault that cannot be parsed or contradict their key (skipped, listed here). */
  damaged: DamagedObject[];
  /** The newest failed backup run (backup or nightly machine); restores and drills are in `lastRuns`. */
  lastFailure: { at: string; stateMachine: string; error: string; cause: string } | null;
  /**
   * The newest run of the other machines, each its own line: a refused manual restore
   * (ProductionTargetError) or a failed drill says nothing about the backups.
   */
  lastRuns: { restore: RunOutcome | null; drill: RunOutcome | null };
  /** Failed backup runs of the last 90 days, oldest first, with the backup they left when there is one. */
  failedRuns: FailedRun[];
  lastDrill: {
    drillId: string;
    at: string;
    passed: boolean;
    observedRtoSeconds: number;
    targetRtoHours: number;
    withinRto: boolean;
    observedRpoHours: number;
  } | null;
  successRate30d: { runs: number; succeeded: number; rate: number | null; source: 'executions' | 'bucket' };
  sizeTrend: { backupId: string; createdAt: string; bytes: number }[];
  /** One entry per backup of the last 90 days, oldest first: what the status page charts. */
  nights: Night[];
  /** Dump growth per day over the last 30 days; null with less than a week of history. */
  growthBytesPerDay: number | null;
  /** How many days the backups behind `growthBytesPerDay` span. */
  growthHistoryDays: number;
  projected30DayStorageBytes: number;
  /** What a month of nights costs on AWS at list prices (lib/report/cost.ts); null before the first backup. */
  estimatedMonthlyCost: CostEstimate | null;
  /**
   * Every database of the stage with a vault in the bucket, this one first: its state and newest
   * verified backup. With several, `state`, `summary` and `withinRpo` above are the worst of them.
   */
  databases: DatabaseStatus[];
  /** The database provider's own backups (Render), when configured; null otherwise. */
  provider: ProviderStatus | null;
  /**
   * Render's newest second-line drill (provider/render/drills/): when, the verdict, its RTO and the
   * export's age. Null when Render is not watched or before its first drill.
   */
  renderDrill: RenderDrillSummary | null;
  metrics: {
    BackupAgeHours?: number;
    /** What the age alarm watches: hours since the stage last said anything (lib/report/silence.ts). */
    SilenceHours?: number;
    /** Failed backup and drill runs of the last 24 h whose failure alert was not published. */
    UndeliveredFailureAlerts?: number;
    DumpBytes?: number;
    DumpSeconds?: number;
    RestoreSeconds?: number;
    VerificationFailures: number;
    /** 1 when the provider's point-in-time recovery is available, 0 when not or unknown. */
    ProviderRecoveryAvailable?: number;
  };
}

export interface DatabaseStatus {
  /** Null for the top-level vault before its first manifest names the database. */
  database: string | null;
  /** Where its own report is: status/ (top level) or status/db=<name>/. */
  vault: 'top-level' | string;
  state: OverallState;
  withinRpo: boolean;
  newestVerified: { backupId: string; createdAt: string; ageHours: number } | null;
  /** What the age alarm sees for this database (StatusReport.ageHours). */
  ageHours: number | null;
  /** A database added lately whose first backup is not verified yet: said, not counted as stale. */
  awaitingFirstVerifiedBackup: boolean;
  /** Its most recent backup run failed. */
  lastRunFailed: boolean;
}

const severity: Record<OverallState, number> = {
  ok: 0,
  'last-run-failed': 1,
  'check-failed': 2,
  stale: 3,
  'no-verified-backup': 4,
};

/** One database's line in the stage-wide report. */
export function databaseStatus(
  report: StatusReport,
  database: string | null,
  vault: string,
  lastRunFailed = report.state === 'last-run-failed',
): DatabaseStatus {
  const newest = report.newestVerified;
  return {
    database,
    vault,
    state: report.state,
    withinRpo: report.withinRpo,
    newestVerified: newest
      ? { backupId: newest.backupId, createdAt: newest.createdAt, ageHours: newest.ageHours }
      : null,
    ageHours: report.ageHours,
    awaitingFirstVerifiedBackup: report.awaitingFirstVerifiedBackup,
    lastRunFailed,
  };
}

/**
 * What a database makes of the stage: its own state, except that a database still awaiting its first
 * verified backup (added lately, lib/backup/catalog.ts) is not a stage without backups: it counts as
 * fine unless its run failed.
 */
function stageStateOf(database: DatabaseStatus): OverallState {
  if (database.state !== 'no-verified-backup' || !database.awaitingFirstVerifiedBackup) return database.state;
  return database.lastRunFailed ? 'last-run-failed' : 'ok';
}

function databaseNote(d: DatabaseStatus): string | undefined {
  const age = noVerifiedBackupText(d);
  if (d.state === 'no-verified-backup') {
    return d.awaitingFirstVerifiedBackup
      ? `Database ${d.database}: no verified backup yet (${age}${d.lastRunFailed ? '; its last run FAILED' : ''}).`
      : `Database ${d.database}: NO VERIFIED BACKUP (${age}).`;
  }
  if (d.state === 'ok') return undefined;
  return `Database ${d.database}: ${d.state === 'stale' ? `STALE (${d.newestVerified?.ageHours} h)` : d.state === 'check-failed' ? 'CHECK FAILED' : 'LAST RUN FAILED'}.`;
}

/**
 * The top-level report of a stage with several databases: its own figures, with the state, the summary
 * and the RPO verdict of the worst database, so the badge and the alarm see a failing one. A database
 * awaiting its first verified backup is named in the summary without turning the stage red.
 */
export function withDatabases(report: StatusReport, databases: DatabaseStatus[]): StatusReport {
  const state = databases.reduce<OverallState>(
    (worst, d) => (severity[stageStateOf(d)] > severity[worst] ? stageStateOf(d) : worst),
    'ok',
  );
  const notes = databases.slice(1).flatMap((d) => databaseNote(d) ?? []);
  return {
    ...report,
    databases,
    state,
    withinRpo: databases.every((d) => d.withinRpo || d.awaitingFirstVerifiedBackup),
    summary: [report.summary, ...notes].join(' '),
  };
}

export interface RunOutcome {
  at: string;
  stateMachine: string;
  status: ExecutionSummary['status'];
  error: string | null;
  cause: string | null;
}

export interface FailedRun {
  at: string;
  stateMachine: string;
  error: string;
  cause: string;
  /** The backup the run stored before failing (its id's time falls within the run), if any. */
  backupId: string | null;
}

export interface Night {
  backupId: string;
  createdAt: string;
  verified: boolean;
  /** What its verification proved; null when not verified. */
  proof: ProofLevel | null;
  /** Why it is not verified (the catalog's reason); null when verified. */
  reason: string | null;
  dumpBytes: number;
  /** From the manifest; null when the manifest cannot be read (the night is still listed). */
  databaseBytes: number | null;
  dumpSeconds: number | null;
  /** From the verification record; null when not verified. */
  restoreSeconds: number | null;
}

const nightsShown = 90;

/**
 * The last 90 days of backups with their manifest and verification figures. A manifest or record that
 * cannot be read leaves its figures empty instead of failing the report: the status page must still
 * say what it knows.
 */
async function readNights(store: BackupStore, backups: CatalogEntry[], now: number): Promise<Night[]> {
  const recent = backups.filter((b) => now - b.createdAt.getTime() <= nightsShown * dayMs).reverse();
  const readable = async <T>(read: () => Promise<T | undefined>) => {
    try {
      return await read();
    } catch {
      return undefined;
    }
  };
  const nights: Night[] = [];
  for (let start = 0; start < recent.length; start += 10) {
    const batch = recent.slice(start, start + 10);
    nights.push(
      ...(await Promise.all(
        batch.map(async (b): Promise<Night> => {
          const manifest = await readable(() => readManifest(store, b.backupId));
          const verification = b.verified
            ? await readable(() => readVerification(store, b.backupId))
            : undefined;
          return {
            backupId: b.backupId,
            createdAt: b.createdAt.toISOString(),
            verified: b.verified,
            proof: b.verified && verification ? proofOf(verification) : null,
            reason: b.verified ? null : b.reason,
            dumpBytes: b.dumpBytes ?? 0,
            databaseBytes: manifest?.source.databaseSizeBytes ?? null,
            dumpSeconds: manifest?.timings.dumpSeconds ?? null,
            restoreSeconds: verification?.restoreSeconds ?? null,
          };
        }),
      )),
    );
  }
  return nights;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Least-squares slope of bytes over days: robust to one odd night, zero with fewer than two points. */
export function growthPerDay(points: { at: number; bytes: number }[]): number {
  if (points.length < 2) return 0;
  const xs = points.map((p) => p.at / dayMs);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = points.reduce((a, p) => a + p.bytes, 0) / points.length;
  let numerator = 0;
  let denominator = 0;
  points.forEach((p, i) => {
    const dx = (xs[i] ?? meanX) - meanX;
    numerator += dx * (p.bytes - meanY);
    denominator += dx * dx;
  });
  return denominator === 0 ? 0 : numerator / denominator;
}

/** Growth needs a week of backups: two backups seconds apart extrapolate noise to MiB a day. */
export const growthHistoryDaysNeeded = 7;

export function growthOverHistory(points: { at: number; bytes: number }[]): {
  bytesPerDay: number | null;
  days: number;
} {
  const times = points.map((p) => p.at);
  const days = times.length ? round((Math.max(...times) - Math.min(...times)) / dayMs, 1) : 0;
  return { bytesPerDay: days >= growthHistoryDaysNeeded ? growthPerDay(points) : null, days };
}

/** Machines whose runs are backups: the nightly fan-out and the backup machine it starts per database. */
const backupMachines = ['backup', 'nightly'];
const failed = (e: ExecutionSummary) => e.status !== 'SUCCEEDED' && e.status !== 'RUNNING';
const newestFirst = (a: ExecutionSummary, b: ExecutionSummary) => b.startedAt.localeCompare(a.startedAt);
const causeOf = (e: ExecutionSummary) => readableCause(e.error?.cause ?? '').slice(0, 1000);

/** The newest finished run of `machines`, whatever its outcome. */
function lastRunOf(executions: ExecutionSummary[], machines: string[]): RunOutcome | null {
  const run = executions
    .filter((e) => machines.includes(e.stateMachine) && e.status !== 'RUNNING')
    .sort(newestFirst)[0];
  return run
    ? {
        at: run.stoppedAt ?? run.startedAt,
        stateMachine: run.stateMachine,
        status: run.status,
        error: run.error?.name ?? (failed(run) ? run.status : null),
        cause: run.error ? causeOf(run) : null,
      }
    : null;
}

/**
 * Failed backup runs, oldest first. A nightly run that failed because a backup run it started failed is
 * that backup's failure, listed once; each is tied to the backup whose id's time falls within it.
 */
function failedBackupRuns(executions: ExecutionSummary[], nights: Night[]): FailedRun[] {
  const runs = executions.filter((e) => backupMachines.includes(e.stateMachine) && failed(e));
  const within = (e: ExecutionSummary, at: string) =>
    Date.parse(e.startedAt) <= Date.parse(at) && Date.parse(at) <= Date.parse(e.stoppedAt ?? e.startedAt);
  return runs
    .filter(
      (e) =>
        e.stateMachine === 'backup' ||
        !runs.some((child) => child.stateMachine === 'backup' && within(e, child.startedAt)),
    )
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    .map((e) => ({
      at: e.stoppedAt ?? e.startedAt,
      stateMachine: e.stateMachine,
      error: e.error?.name ?? e.status,
      cause: causeOf(e),
      backupId:
        e.stateMachine === 'backup' ? (nights.find((n) => within(e, n.createdAt))?.backupId ?? null) : null,
    }));
}

/**
 * The stage-wide report: the top-level vault's report, combined with one per database that has a
 * vault of its own (lib/storage/scope.ts). Executions are attributed to a database by their input's
 * `database`; where some cannot be (Step Functions lists successful runs without their input), a
 * database's own report takes its success rate and last failure from its vault alone.
 */
export async function buildStageReport(
  store: BackupStore,
  options: Parameters<typeof buildStatusReport>[1],
): Promise<{ report: StatusReport; vaults: { store: BackupStore; report: StatusReport }[] }> {
  const top = await buildStatusReport(store, options);
  const scopes = store.scope === undefined ? await store.databaseScopes() : [];
  if (scopes.length === 0) return { report: withSilenceMetrics(top, options), vaults: [] };
  const backupRuns = (options.executions ?? []).filter((e) => e.stateMachine === 'backup');
  const attributable = backupRuns.every(
    (e) => typeof (e.input as { database?: unknown })?.database === 'string',
  );
  const vaults = [];
  for (const scope of scopes) {
    const vault = store.forScope(scope);
    const own = backupRuns.filter((e) => (e.input as { database?: unknown })?.database === scope);
    const { executions: _all, ...rest } = options;
    vaults.push({
      store: vault,
      report: await buildStatusReport(vault, { ...rest, ...(attributable ? { executions: own } : {}) }),
    });
  }
  const report = withDatabases(top, [...top.databases, ...vaults.flatMap((v) => v.report.databases)]);
  // The alarm watches the stalest database (lib/backup/catalog.ts, vaultFreshness: a database with no
  // verified backup yet counts from its first backup); absent only when no vault has any age at all.
  const ages = report.databases.flatMap((d) => (d.ageHours === null ? [] : [d.ageHours]));
  const { BackupAgeHours: _age, ...metrics } = report.metrics;
  report.metrics = ages.length > 0 ? { ...metrics, BackupAgeHours: Math.max(...ages) } : metrics;
  return { report: withSilenceMetrics(report, options), vaults };
}

export async function buildStatusReport(
  store: BackupStore,
  options: {
    now: Date;
    rpoHours: number;
    rtoHours: number;
    executions?: ExecutionSummary[];
    provider?: ProviderStatus;
    /** Render's newest drill, read when Render is watched (lib/commands/status.ts). */
    renderDrill?: RenderDrillSummary | null;
    /** AWS list prices (config/prices.ts, which lib/ may not import): without them no cost estimate. */
    prices?: PriceTable;
  },
): Promise<StatusReport> {
  const now = options.now.getTime();
  const catalog = await readCatalog(store);
  const backups = catalog.backups;
  const freshness = vaultFreshness(catalog, options.now, options.rpoHours);
  const newest = freshness.entry;
  const failedChecks = backups
    .filter((b) => b.failedCheck && (!newest || b.backupId > newest.backupId))
    .map((b) => ({
      backupId: b.backupId,
      kind: b.failedCheck?.kind ?? 'verify',
      checkedAt: b.failedCheck?.checkedAt ?? '',
      reason: b.failedCheck?.reason ?? b.reason,
    }));
  const unverifiedSinceNewest = backups.filter(
    (b) => !b.verified && (!newest || b.backupId > newest.backupId),
  ).length;
  const recent = backups.filter((b) => now - b.createdAt.getTime() <= 30 * dayMs).reverse();

  const sizeTrend = recent.map((b) => ({
    backupId: b.backupId,
    createdAt: b.createdAt.toISOString(),
    bytes: b.dumpBytes ?? 0,
  }));
  const growthHistory = growthOverHistory(
    recent.map((b) => ({ at: b.createdAt.getTime(), bytes: b.dumpBytes ?? 0 })),
  );
  const growth = growthHistory.bytesPerDay ?? 0;
  const latestBytes = newest?.dumpBytes ?? sizeTrend.at(-1)?.bytes ?? 0;
  // With 30 days of retention and one backup a day, the bucket then holds the next 30 backups.
  let projected = 0;
  for (let day = 1; day <= 30; day++) projected += Math.max(0, latestBytes + growth * day);

  const executions = (options.executions ?? []).filter((e) => now - Date.parse(e.startedAt) <= 30 * dayMs);
  const backupRuns = executions.filter((e) => e.stateMachine === 'backup' && e.status !== 'RUNNING');
  const successRate30d =
    options.executions !== undefined
      ? {
          runs: backupRuns.length,
          succeeded: backupRuns.filter((e) => e.status === 'SUCCEEDED').length,
          rate: null as number | null,
          source: 'executions' as const,
        }
      : {
          runs: recent.length,
          succeeded: recent.filter((b) => b.verified).length,
          rate: null as number | null,
          source: 'bucket' as const,
        };
  successRate30d.rate = successRate30d.runs ? round(successRate30d.succeeded / successRate30d.runs, 4) : null;

  const lastFailed = (options.executions ?? [])
    .filter((e) => backupMachines.includes(e.stateMachine) && failed(e))
    .sort(newestFirst)[0];
  const lastFailure = lastFailed
    ? {
        at: lastFailed.stoppedAt ?? lastFailed.startedAt,
        stateMachine: lastFailed.stateMachine,
        error: lastFailed.error?.name ?? lastFailed.status,
        cause: causeOf(lastFailed),
      }
    : null;
  const nights = await readNights(store, backups, now);
  const lastBackupRun = [...backupRuns].sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];

  const drill = await newestDrillEvidence(store);
  const lastDrill = drill
    ? {
        drillId: drill.drillId,
        at: drill.startedAt,
        passed: drill.passed,
        observedRtoSeconds: round(drill.rto.observedSeconds),
        targetRtoHours: drill.rto.targetHours,
        withinRto: drill.rto.withinTarget,
        observedRpoHours: drill.rpo.observedHours,
      }
    : null;

  const manifest = newest ? await readManifest(store, newest.backupId) : undefined;
  const latestManifest =
    manifest ?? (backups[0] ? await readManifest(store, backups[0].backupId) : undefined);
  const verification = newest ? await readVerification(store, newest.backupId) : undefined;
  const ageHours = newest ? round((now - newest.createdAt.getTime()) / 3_600_000) : undefined;
  const withinRpo = ageHours !== undefined && ageHours <= options.rpoHours;
  const verificationFailures = executions.filter(
    (e) => now - Date.parse(e.startedAt) <= dayMs && verificationErrorNames.includes(e.error?.name ?? ''),
  ).length;

  const state: OverallState = !newest
    ? 'no-verified-backup'
    : !withinRpo
      ? 'stale'
      : failedChecks.length > 0
        ? 'check-failed'
        : lastBackupRun?.status === 'FAILED' || lastBackupRun?.status === 'TIMED_OUT'
          ? 'last-run-failed'
          : 'ok';
  const newestText = newest
    ? `newest verified backup ${newest.backupId} is ${ageHours?.toFixed(1)} h old`
    : '';
  const summary = {
    'no-verified-backup': `NO VERIFIED BACKUP: nothing can be restored with confidence (RPO ${options.rpoHours} h).`,
    stale: `STALE: ${newestText} (RPO ${options.rpoHours} h).`,
    'last-run-failed': `LAST RUN FAILED (${lastFailure?.error}): ${newestText} (RPO ${options.rpoHours} h).`,
    'check-failed': `CHECK FAILED: ${failedChecks.map((f) => `backup ${f.backupId} failed its ${f.kind} check`).join(', ')}; ${newestText} (RPO ${options.rpoHours} h).`,
    ok: `OK: ${newestText} (RPO ${options.rpoHours} h).`,
  }[state];

  const report: StatusReport = {
    statusVersion: 1,
    generatedAt: options.now.toISOString(),
    state,
    summary: [
      summary,
      ...(unverifiedSinceNewest ? [`${unverifiedSinceNewest} newer backup(s) NOT verified.`] : []),
      ...(catalog.damaged.length
        ? [`${catalog.damaged.length} DAMAGED object(s) in the vault, skipped.`]
        : []),
      ...(options.provider && !options.provider.ok ? [`Provider: ${options.provider.problem}.`] : []),
    ].join(' '),
    rpoHours: options.rpoHours,
    withinRpo,
    newestVerified:
      newest && ageHours !== undefined
        ? {
            backupId: newest.backupId,
            createdAt: newest.createdAt.toISOString(),
            ageHours,
            bytes: newest.dumpBytes ?? 0,
            proof: verification ? proofOf(verification) : 'counts',
            proofLabel: verification ? verificationProofLabel(verification, manifest) : 'counts',
          }
        : null,
    ageHours: freshness.ageHours ?? null,
    awaitingFirstVerifiedBackup: freshness.awaitingFirst,
    unverifiedSinceNewest,
    failedChecks,
    damaged: catalog.damaged.slice(0, 20),
    lastFailure,
    lastRuns: {
      restore: lastRunOf(options.executions ?? [], ['restore']),
      drill: lastRunOf(options.executions ?? [], ['drill', 'drills']),
    },
    failedRuns: failedBackupRuns(
      (options.executions ?? []).filter((e) => now - Date.parse(e.startedAt) <= nightsShown * dayMs),
      nights,
    ),
    lastDrill,
    successRate30d,
    sizeTrend,
    nights,
    growthBytesPerDay: growthHistory.bytesPerDay === null ? null : Math.round(growthHistory.bytesPerDay),
    growthHistoryDays: growthHistory.days,
    projected30DayStorageBytes: Math.round(projected),
    estimatedMonthlyCost:
      latestManifest && options.prices
        ? estimateMonthlyCost(
            {
              storedBytes: backups.reduce((sum, b) => sum + (b.dumpBytes ?? 0), 0),
              growthBytesPerDay: growth,
              nightlyDumpBytes: latestManifest.dump.bytes,
              dumpSeconds: latestManifest.timings.dumpSeconds,
              verifySeconds: verification
                ? verification.restoreSeconds +
                  ('downloadSeconds' in verification
                    ? verification.downloadSeconds + verification.compareSeconds
                    : 0)
                : 0,
            },
            options.prices,
          )
        : null,
    databases: [],
    provider: options.provider ?? null,
    renderDrill: options.renderDrill ?? null,
    metrics: {
      ...(freshness.ageHours !== undefined ? { BackupAgeHours: freshness.ageHours } : {}),
      ...(manifest ? { DumpBytes: manifest.dump.bytes, DumpSeconds: manifest.timings.dumpSeconds } : {}),
      ...(verification ? { RestoreSeconds: verification.restoreSeconds } : {}),
      VerificationFailures: verificationFailures,
      ...(options.provider ? { ProviderRecoveryAvailable: options.provider.ok ? 1 : 0 } : {}),
    },
  };
  const database = latestManifest?.source.database ?? store.scope ?? null;
  const lastRunFailed = lastBackupRun?.status === 'FAILED' || lastBackupRun?.status === 'TIMED_OUT';
  report.databases = [databaseStatus(report, database, store.scope ?? 'top-level', lastRunFailed)];
  return report;
}
