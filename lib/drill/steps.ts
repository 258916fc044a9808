/**
 * The steps of the drill state machine (statemachines/drill.asl.json) as plain functions of
 * (event, runtime, signal), like lib/steps/steps.ts for the backup. The drill reuses the backup's
 * Checksum step as it is; restore and compare reuse lib/verify/ pointed at the drill database.
 */
import { newestVerifiedBackup, readManifest, resolveBackupId } from '../backup/catalog.ts';
import { BackupNotFoundError } from '../errors.ts';
import { publish } from '../notify/publish.ts';
import { withDatabase } from '../pg/connection.ts';
import { withSession } from '../pg/session.ts';
import type { Runtime } from '../runtime.ts';
import { parseInput } from '../steps/input.ts';
import { backupIdTime, newBackupId } from '../storage/keys.ts';
import { compareRowCounts, qualified } from '../verify/compare.ts';
import { restoreToStaging } from '../verify/restore.ts';
import { createDrillDatabase, dropDrillDatabase } from './database.ts';
import {
  type DrillEvidence,
  evidenceKeys,
  formatDuration,
  renderEvidenceMarkdown,
  roundedHours,
} from './evidence.ts';
import {
  drillBackupEventSchema,
  drillDatabaseEventSchema,
  drillDatabaseName,
  drillInputSchema,
  drillNotifyEventSchema,
  evidenceEventSchema,
  selectEventSchema,
} from './input.ts';
import { parseSanityChecks, runSanityChecks } from './sanity.ts';

const seconds = (since: number) => (Date.now() - since) / 1000;

export async function selectBackupStep(event: unknown, runtime: Runtime) {
  const { execution, startedAt } = parseInput(selectEventSchema, event, 'SelectBackup step event');
  const input = parseInput(drillInputSchema, execution, 'drill execution input');
  const started = startedAt ? new Date(startedAt) : new Date();
  const backupId =
    input.backupId === 'latest'
      ? (await newestVerifiedBackup(runtime.store))?.backupId
      : await resolveBackupId(runtime.store, input.backupId);
  if (!backupId) throw new BackupNotFoundError('there is no verified backup to drill with');
  const drillId = newBackupId(started);
  return {
    drillId,
    drillDatabase: drillDatabaseName(drillId),
    backupId,
    backupCreatedAt: backupIdTime(backupId).toISOString(),
    startedAt: started.toISOString(),
    trigger: input.trigger,
    ...(input.reason ? { reason: input.reason } : {}),
  };
}

export async function createDrillDbStep(event: unknown, runtime: Runtime) {
  const { drillDatabase } = parseInput(drillDatabaseEventSchema, event, 'CreateDrillDb step event');
  return createDrillDatabase(await runtime.stagingConnection(), drillDatabase);
}

export async function drillRestoreStep(event: unknown, runtime: Runtime, signal?: AbortSignal) {
  const { backupId, drillDatabase } = parseInput(drillBackupEventSchema, event, 'Restore step event');
  const manifest = await readManifest(runtime.store, backupId);
  return restoreToStaging(manifest, {
    store: runtime.store,
    target: withDatabase(await runtime.stagingConnection(), drillDatabase),
    programs: runtime.programs,
    jobs: runtime.settings.RESTORE_JOBS,
    workDir: runtime.settings.WORK_DIR,
    signal,
  });
}

/** Returns the comparison as data: a mismatch is recorded in the evidence, then fails the drill. */
export async function drillCompareStep(event: unknown, runtime: Runtime) {
  const { backupId, drillDatabase } = parseInput(drillBackupEventSchema, event, 'Compare step event');
  const manifest = await readManifest(runtime.store, backupId);
  const started = Date.now();
  const result = await withSession(
    withDatabase(await runtime.stagingConnection(), drillDatabase),
    (session) => compareRowCounts(session, manifest),
  );
  return { ...result, compareSeconds: seconds(started) };
}

export async function sanityChecksStep(event: unknown, runtime: Runtime) {
  const { drillDatabase } = parseInput(drillBackupEventSchema, event, 'SanityChecks step event');
  const checks = parseSanityChecks(runtime.settings.DRILL_SANITY_CHECKS);
  const started = Date.now();
  const results = await withSession(
    withDatabase(await runtime.stagingConnection(), drillDatabase),
    (session) => runSanityChecks(session, checks),
  );
  return { checks: results, sanitySeconds: seconds(started) };
}

export async function recordEvidenceStep(event: unknown, runtime: Runtime) {
  const input = parseInput(evidenceEventSchema, event, 'RecordEvidence step event');
  const { selected, compare, sanity, restore } = input;
  const manifest = await readManifest(runtime.store, selected.backupId);
  const startedAt = new Date(selected.startedAt);
  const verificationSeconds = compare.compareSeconds + sanity.sanitySeconds;
  // RTO is what a real restore following the runbook costs: verify the backup (checksum pass), download
  // and restore it, then check it. Download and restore overlap only inside pg_restore's own pipeline.
  const checksumSeconds = input.checksum.seconds ?? 0;
  const observedSeconds =
    Math.round(
      (checksumSeconds + restore.downloadSeconds + restore.restoreSeconds + verificationSeconds) * 1000,
    ) / 1000;
  const targetRto = runtime.settings.RTO_HOURS;
  const observedRpo = roundedHours(startedAt.getTime() - new Date(selected.backupCreatedAt).getTime());
  const differences = [
    ...compare.tables.map((t) => `${qualified(t)}: expected ${t.expected}, found ${t.actual}`),
    ...compare.missing.map((name) => `${name}: missing`),
    ...compare.extra.map((name) => `${name}: not in the backup`),
  ];
  const failedChecks = [
    ...(compare.status === 'match' ? [] : [`row counts differ in ${differences.length} table(s)`]),
    ...sanity.checks
      .filter((s) => !s.passed)
      .map((s) => `sanity check "${s.name}": ${s.error ?? `got ${s.value}, expected ${s.expectation}`}`),
    ...(observedSeconds <= targetRto * 3600
      ? []
      : [`observed RTO ${formatDuration(observedSeconds)} exceeds the ${targetRto} h target`]),
  ];
  const evidence: DrillEvidence = {
    evidenceVersion: 1,
    drillId: selected.drillId,
    ...(input.executionId ? { executionId: input.executionId } : {}),
    trigger: selected.trigger,
    ...(selected.reason ? { reason: selected.reason } : {}),
    startedAt: selected.startedAt,
    recordedAt: new Date().toISOString(),
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
    rpo: {
      observedHours: observedRpo,
      targetHours: runtime.settings.RPO_HOURS,
      withinTarget: observedRpo <= runtime.settings.RPO_HOURS,
    },
    rto: {
      checksumSeconds,
      downloadSeconds: restore.downloadSeconds,
      restoreSeconds: restore.restoreSeconds,
      verificationSeconds,
      observedSeconds,
      targetHours: targetRto,
      withinTarget: observedSeconds <= targetRto * 3600,
    },
    drillDatabase: restore.database,
    stagingServerVersion: restore.stagingServerVersion,
    compare: {
      status: compare.status,
      tablesCompared: compare.tablesCompared,
      rowsCompared: compare.rowsCompared,
      differences,
    },
    sanity: sanity.checks,
    benignRestoreMessages: restore.benignMessages,
  };
  const jsonKey = evidenceKeys.json(selected.drillId, startedAt);
  const markdownKey = evidenceKeys.markdown(selected.drillId, startedAt);
  await runtime.store.putJson(jsonKey, evidence);
  await runtime.store.putObject(
    markdownKey,
    renderEvidenceMarkdown(evidence),
    'text/markdown; charset=utf-8',
  );
  return {
    drillId: evidence.drillId,
    passed: evidence.passed,
    evidenceKey: jsonKey,
    markdownKey,
    observedRpoHours: evidence.rpo.observedHours,
    observedRtoSeconds: observedSeconds,
    targetRtoHours: targetRto,
    /** The step whose verdict failed the drill, for the alert ("none" when it passed). */
    failedStep:
      compare.status !== 'match'
        ? 'Compare'
        : sanity.checks.some((s) => !s.passed)
          ? 'SanityChecks'
          : failedChecks.length > 0
            ? 'Restore'
            : 'none',
    cause: failedChecks.join('; ').slice(0, 2000) || 'all checks passed',
  };
}

export async function dropDrillDbStep(event: unknown, runtime: Runtime) {
  const { drillDatabase } = parseInput(drillDatabaseEventSchema, event, 'DropDrillDb step event');
  return dropDrillDatabase(await runtime.stagingConnection(), drillDatabase);
}

export async function drillNotifyStep(event: unknown, runtime: Runtime) {
  const { backupId, evidence } = parseInput(drillNotifyEventSchema, event, 'Notify step event');
  const sent = await publish(
    {
      subject: `Restore drill passed: ${evidence.drillId}`,
      text: [
        `Restore drill ${evidence.drillId} passed with backup ${backupId}.`,
        `Observed RPO (backup age): ${evidence.observedRpoHours} h`,
        `Observed RTO (download + restore + verification): ${formatDuration(evidence.observedRtoSeconds)}, target ${evidence.targetRtoHours} h`,
        `Evidence: ${evidence.evidenceKey}`,
      ].join('\n'),
    },
    await runtime.channels(),
  );
  return { drillId: evidence.drillId, notified: sent };
}
