/**
 * The RecordEvidence state: the drill's evidence (JSON and Markdown) under drills/, with the observed
 * RPO and RTO and the verdict over every check (lib/drill/evidence.ts judgeDrill).
 */
import { readManifest } from '../backup/catalog.ts';
import { recordCheck } from '../backup/checks.ts';
import { backupFaultsOf, evidenceKeys, judgeDrill, renderEvidenceMarkdown } from '../drill/evidence.ts';
import { evidenceEventSchema, recordedEvidenceSchema } from '../drill/input.ts';
import { defineStep } from '../lambda/step.ts';

export const recordEvidenceStep = defineStep({
  event: 'RecordEvidence step event',
  input: evidenceEventSchema,
  output: recordedEvidenceSchema,
  // The evidence goes into the drilled database's vault (drills/db=<name>/ for all but the URL's).
  scope: (event) => event.selected.target,
  run: async (input, { runtime }) => {
    const { selected } = input;
    const manifest = await readManifest(runtime.store, selected.backupId);
    const evidence = judgeDrill(input, {
      manifest,
      rpoHours: runtime.settings.RPO_HOURS,
      rtoHours: runtime.settings.RTO_HOURS,
      recordedAt: new Date(),
    });
    // What the drill found about the backup itself is recorded against it: a failure takes it out of
    // "latest" and turns the status red.
    const backupFaults = backupFaultsOf(evidence);
    await recordCheck(runtime.store, selected.backupId, {
      kind: 'drill',
      passed: backupFaults.length === 0 && input.checksum.status === 'match',
      reason: backupFaults.length > 0 ? backupFaults.join('; ') : `drill ${selected.drillId} passed`,
      ...(input.executionId ? { executionId: input.executionId } : {}),
    });
    const startedAt = new Date(selected.startedAt);
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
      observedRtoSeconds: evidence.rto.observedSeconds,
      targetRtoHours: evidence.rto.targetHours,
      failedStep: evidence.failedChecks.length > 0 ? 'RestoreAndCheck' : 'none',
      cause: evidence.failedChecks.join('; ').slice(0, 2000) || 'all checks passed',
    };
  },
});
