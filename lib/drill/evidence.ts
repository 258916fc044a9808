/**
 * Drill evidence: what an auditor asks for after a restore test. Written to
 * `drills/<yyyy>-Q<n>/<drill-id>.json` (the record) and `.md` (the same, for people), for passed and
 * failed drills alike: when, which backup and how old it was (observed RPO), how long download + restore
 * + verification took (observed RTO) against the target, what was compared, each sanity result, and the
 * verdict.
 */
import { z } from 'zod';
import {
  type Manifest,
  parseStoredRecord,
  proofLabelOf,
  proofLevels,
  proofWarning,
} from '../backup/manifest.ts';
import { formatBytes } from '../notify/messages.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { describeDifferences } from '../verify/compare.ts';
import { drillRolesSchema, type EvidenceEvent, sanityResultSchema } from './input.ts';

export const drillsPrefix = 'drills/';

export function quarterOf(date: Date): string {
  return `${date.getUTCFullYear()}-Q${Math.floor(date.getUTCMonth() / 3) + 1}`;
}

export const evidenceKeys = {
  json: (drillId: string, startedAt: Date) => `${drillsPrefix}${quarterOf(startedAt)}/${drillId}.json`,
  markdown: (drillId: string, startedAt: Date) => `${drillsPrefix}${quarterOf(startedAt)}/${drillId}.md`,
};

export const evidenceSchema = z.object({
  /** 2: restored onto a scratch server (restoreTarget); 1: into a drill database on staging. */
  evidenceVersion: z.union([z.literal(1), z.literal(2)]),
  drillId: z.string(),
  executionId: z.string().optional(),
  trigger: z.string(),
  reason: z.string().optional(),
  startedAt: z.iso.datetime(),
  recordedAt: z.iso.datetime(),
  passed: z.boolean(),
  failedChecks: z.array(z.string()),
  backup: z.object({
    backupId: z.string(),
    createdAt: z.iso.datetime(),
    database: z.string(),
    sourceServerVersion: z.string(),
    bytes: z.number(),
    sha256: z.string(),
    checksum: z.string(),
  }),
  rpo: z.object({ observedHours: z.number(), targetHours: z.number(), withinTarget: z.boolean() }),
  rto: z.object({
    /** Absent in records written before the checksum pass was counted. */
    checksumSeconds: z.number().optional(),
    /** Absent in records written before the fresh server's start was counted. */
    serverStartSeconds: z.number().optional(),
    downloadSeconds: z.number(),
    restoreSeconds: z.number(),
    verificationSeconds: z.number(),
    observedSeconds: z.number(),
    targetHours: z.number(),
    withinTarget: z.boolean(),
  }),
  restoreTarget: z.object({ kind: z.enum(['scratch', 'staging']), serverVersion: z.string() }).optional(),
  /**
   * The night's roles, replayed on the drill's server before the restore; owners and grants then
   * compared with the manifest. Absent where the night kept none, on staging, and in older records.
   */
  roles: drillRolesSchema.optional(),
  /** Version 1 records: the drill database on the staging server. */
  drillDatabase: z.string().optional(),
  stagingServerVersion: z.string().optional(),
  compare: z.object({
    status: z.enum(['match', 'mismatch']),
    /** What was compared: counts only, or content too (absent in records before content checksums). */
    proof: z.enum(proofLevels).optional(),
    /** The proof as people read it (lib/backup/manifest.ts `proofLabelOf`); absent in older records. */
    proofLabel: z.string().optional(),
    tablesCompared: z.number(),
    rowsCompared: z.number(),
    differences: z.array(z.string()),
  }),
  sanity: z.array(sanityResultSchema),
  benignRestoreMessages: z.array(z.string()),
});
export type DrillEvidence = z.infer<typeof evidenceSchema>;

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

export function renderEvidenceMarkdown(evidence: DrillEvidence): string {
  const check = (ok: boolean) => (ok ? 'yes' : '**NO**');
  const lines = [
    `# Restore drill ${evidence.drillId}: ${evidence.passed ? 'PASSED' : 'FAILED'}`,
    '',
    `| | |`,
    `|---|---|`,
    `| started | ${evidence.startedAt} (${evidence.trigger}${evidence.reason ? `: ${evidence.reason}` : ''}) |`,
    `| backup | ${evidence.backup.backupId} of \`${evidence.backup.database}\` (PostgreSQL ${evidence.backup.sourceServerVersion}), ${formatBytes(evidence.backup.bytes)} |`,
    `| SHA-256 | ${evidence.backup.sha256} (${evidence.backup.checksum}) |`,
    `| observed RPO (backup age) | ${evidence.rpo.observedHours} h, target ≤ ${evidence.rpo.targetHours} h: within ${check(evidence.rpo.withinTarget)} |`,
    `| observed RTO | ${formatDuration(evidence.rto.observedSeconds)} = checksum ${formatDuration(evidence.rto.checksumSeconds ?? 0)} ${evidence.rto.serverStartSeconds === undefined ? '' : ` + server start ${formatDuration(evidence.rto.serverStartSeconds)}`} + download ${formatDuration(evidence.rto.downloadSeconds)} + restore ${formatDuration(evidence.rto.restoreSeconds)} + verification ${formatDuration(evidence.rto.verificationSeconds)}; target ≤ ${evidence.rto.targetHours} h: within ${check(evidence.rto.withinTarget)} |`,
    `| restored onto | ${restoredOn(evidence)} |`,
    ...(evidence.roles ? [`| roles | ${rolesLine(evidence.roles)} |`] : []),
    `| ${evidence.compare.proof === 'checksums' ? `row counts and content checksums${proofWarning(evidence.compare.proofLabel)}` : 'row counts'} | ${evidence.compare.status}: ${evidence.compare.tablesCompared} tables, ${evidence.compare.rowsCompared} rows |`,
    '',
    '## Sanity checks',
    '',
    '| check | expectation | result | passed |',
    '|---|---|---|---|',
    ...evidence.sanity.map(
      (s) =>
        `| ${s.name} | ${s.expectation} | ${s.value ?? (s.error ? `error: ${s.error.replaceAll('|', '/')}` : '-')} | ${check(s.passed)} |`,
    ),
    '',
  ];
  if (evidence.compare.differences.length > 0) {
    lines.push('## Differences', '', ...evidence.compare.differences.map((d) => `- ${d}`), '');
  }
  if (evidence.failedChecks.length > 0) {
    lines.push('## Failed', '', ...evidence.failedChecks.map((d) => `- ${d}`), '');
  }
  if (evidence.executionId) lines.push(`Execution: \`${evidence.executionId}\``, '');
  return lines.join('\n');
}

/** The roles the drill replayed and what the owners' check said, as people read it. */
function rolesLine(roles: NonNullable<DrillEvidence['roles']>): string {
  return `replayed from \`${roles.globalsId}\`; owners and grants ${roles.ownership === 'match' ? 'match the backup' : 'not recorded in the backup (not compared)'}`;
}

/** Where the drill restored, as people read it. */
export function restoredOn(evidence: DrillEvidence): string {
  if (evidence.restoreTarget?.kind === 'scratch') {
    return `a fresh scratch server, PostgreSQL ${evidence.restoreTarget.serverVersion} (removed afterwards)`;
  }
  const version = evidence.restoreTarget?.serverVersion ?? evidence.stagingServerVersion ?? 'unknown';
  return `${evidence.drillDatabase ? `\`${evidence.drillDatabase}\` on ` : ''}the staging server, PostgreSQL ${version} (dropped afterwards)`;
}

export function roundedHours(ms: number): number {
  return round(ms / 3_600_000);
}

/** What the drill's evidence is judged against: the backup's manifest and the stage's targets. */
export interface DrillFacts {
  manifest: Manifest;
  rpoHours: number;
  rtoHours: number;
  recordedAt: Date;
}

/**
 * The drill's evidence from what its steps answered: the observed RPO (the backup's age when the drill
 * started) and RTO, and the verdict over every check. Pure: RecordEvidence stores what this returns.
 */
export function judgeDrill(input: EvidenceEvent, facts: DrillFacts): DrillEvidence {
  const { selected, restored: restore } = input;
  const { manifest, rpoHours, rtoHours } = facts;
  const { compare, sanity } = restore;
  const verificationSeconds = compare.compareSeconds + sanity.sanitySeconds;
  // RTO is what a real restore following the runbook costs: verify the backup (checksum pass), start a
  // fresh server (a disaster leaves none), download and restore the backup, then check it.
  const checksumSeconds = input.checksum.seconds ?? 0;
  const observedSeconds = round(
    checksumSeconds +
      restore.serverStartSeconds +
      restore.downloadSeconds +
      restore.restoreSeconds +
      verificationSeconds,
    3,
  );
  const observedRpo = roundedHours(
    new Date(selected.startedAt).getTime() - new Date(selected.backupCreatedAt).getTime(),
  );
  const differences = describeDifferences(compare, Number.POSITIVE_INFINITY);
  const failedChecks = [
    ...(compare.status === 'match'
      ? []
      : compare.content.length > 0
        ? [`content differs (every row count matches): ${compare.content.length} difference(s)`]
        : [`row counts differ in ${differences.length} table(s)`]),
    ...sanity.checks
      .filter((s) => !s.passed)
      .map((s) => `sanity check "${s.name}": ${s.error ?? `got ${s.value}, expected ${s.expectation}`}`),
    ...(observedSeconds <= rtoHours * 3600
      ? []
      : [`observed RTO ${formatDuration(observedSeconds)} exceeds the ${rtoHours} h target`]),
  ];
  return {
    evidenceVersion: 2,
    drillId: selected.drillId,
    ...(input.executionId ? { executionId: input.executionId } : {}),
    trigger: selected.trigger,
    ...(selected.reason ? { reason: selected.reason } : {}),
    startedAt: selected.startedAt,
    recordedAt: facts.recordedAt.toISOString(),
    passed: failedChecks.length === 0,
    failedChecks,
    backup: {
      backupId: selected.backupId,
      createdAt: selected.backupCreatedAt,
      database: manifest.source.database,
      sourceServerVersion: manifest.source.serverVersion,
      bytes: manifest.dump.bytes,
      sha256: manifest.dump.sha256,
      checksum: input.checksum.status,
    },
    rpo: { observedHours: observedRpo, targetHours: rpoHours, withinTarget: observedRpo <= rpoHours },
    rto: {
      checksumSeconds,
      serverStartSeconds: restore.serverStartSeconds,
      downloadSeconds: restore.downloadSeconds,
      restoreSeconds: restore.restoreSeconds,
      verificationSeconds,
      observedSeconds,
      targetHours: rtoHours,
      withinTarget: observedSeconds <= rtoHours * 3600,
    },
    restoreTarget: { kind: restore.target, serverVersion: restore.serverVersion },
    ...(restore.roles ? { roles: restore.roles } : {}),
    compare: {
      status: compare.status,
      proof: compare.proof,
      proofLabel: proofLabelOf(compare.proof, manifest),
      tablesCompared: compare.tablesCompared,
      rowsCompared: compare.rowsCompared,
      differences,
    },
    sanity: sanity.checks,
    benignRestoreMessages: restore.benignMessages,
  };
}

/**
 * What the drill found about the backup itself, recorded against it: every failed check but the RTO
 * (a slow restore is the venue's fault, not the backup's).
 */
export function backupFaultsOf(evidence: DrillEvidence): string[] {
  return evidence.failedChecks.filter((check) => !check.startsWith('observed RTO'));
}

export function parseEvidence(text: string, where: string): DrillEvidence {
  return parseStoredRecord(evidenceSchema, text, where, 'drill evidence');
}

/** The newest drill's evidence (drill ids start with their UTC time, so they sort by time). */
export async function newestDrillEvidence(store: BackupStore): Promise<DrillEvidence | undefined> {
  const records = (await store.list(drillsPrefix))
    .map((o) => o.key)
    .filter((key) => key.endsWith('.json'))
    .sort((a, b) => (a.split('/').pop() ?? '').localeCompare(b.split('/').pop() ?? ''));
  const newest = records.at(-1);
  return newest ? parseEvidence(await store.getText(newest), newest) : undefined;
}
