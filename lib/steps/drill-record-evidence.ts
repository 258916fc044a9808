/**
 * The RecordEvidence state: the drill's evidence (JSON and Markdown) under drills/, with the observed
 * RPO and RTO and the verdict over every check.
 */
import { readManifest } from '../backup/catalog.ts';
import { recordCheck } from '../backup/checks.ts';
import { forDatabase } from '../backup/databases.ts';
import { proofLabelOf } from '../backup/manifest.ts';
import {
  type DrillEvidence,
  evidenceKeys,
  formatDuration,
  renderEvidenceMarkdown,
  roundedHours,
} from '../drill/evidence.ts';
import { evidenceEventSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { describeDifferences } from '../verify/compare.ts';
import { parseInput } from './input.ts';

export async function recordEvidenceStep(event: unknown, { runtime: stage }: StepContext) {
  const input = parseInput(evidenceEventSchema, event, 'RecordEvidence step event');
  const { selected, restored: restore } = input;
  // The evidence goes into the drilled database's vault (drills/db=<name>/ for all but the URL's).
  const runtime = forDatabase(stage, selected.target);
  const { compare, sanity } = restore;
  const manifest = await readManifest(runtime.store, selected.backupId);
  const startedAt = new Date(selected.startedAt);
  const verificationSeconds = compare.compareSeconds + sanity.sanitySeconds;
  // RTO is what a real restore following the runbook costs: verify the backup (checksum pass), start a
  // fresh server (a disaster leaves none), download and restore the backup, then check it.
  const checksumSeconds = input.checksum.seconds ?? 0;
  const observedSeconds =
    Math.round(
      (checksumSeconds +
        restore.serverStartSeconds +
        restore.downloadSeconds +
        restore.restoreSeconds +
        verificationSeconds) *
        1000,
    ) / 1000;
  const targetRto = runtime.settings.RTO_HOURS;
  const observedRpo = roundedHours(startedAt.getTime() - new Date(selected.backupCreatedAt).getTime());
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
    ...(observedSeconds <= targetRto * 3600
      ? []
      : [`observed RTO ${formatDuration(observedSeconds)} exceeds the ${targetRto} h target`]),
  ];
  const evidence: DrillEvidence = {
    evidenceVersion: 2,
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
      serverStartSeconds: restore.serverStartSeconds,
      downloadSeconds: restore.downloadSeconds,
      restoreSeconds: restore.restoreSeconds,
      verificationSeconds,
      observedSeconds,
      targetHours: targetRto,
      withinTarget: observedSeconds <= targetRto * 3600,
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
  // What the drill found about the backup itself (not the RTO: a slow restore is the venue's fault)
  // is recorded against it: a failure takes it out of "latest" and turns the status red.
  const backupFaults = failedChecks.filter((check) => !check.startsWith('observed RTO'));
  await recordCheck(runtime.store, selected.backupId, {
    kind: 'drill',
    passed: backupFaults.length === 0 && input.checksum.status === 'match',
    reason: backupFaults.length > 0 ? backupFaults.join('; ') : `drill ${selected.drillId} passed`,
    ...(input.executionId ? { executionId: input.executionId } : {}),
  });
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
    /** The step whose checks failed the drill, for the alert ("none" when it passed). */
    failedStep: failedChecks.length > 0 ? 'RestoreAndCheck' : 'none',
    cause: failedChecks.join('; ').slice(0, 2000) || 'all checks passed',
  };
}
