import { describe, expect, it } from '@jest/globals';
import type { DrillEvidence } from '../../../../lib/drill/evidence.ts';
import { ConfigurationError } from '../../../../lib/errors.ts';
import {
  extractEvidenceSection,
  renderEvidenceSection,
  replaceEvidenceSection,
  sectionMarkers,
} from '../../../../tools/runbook/evidence-section.ts';

const evidence: DrillEvidence = {
  evidenceVersion: 1,
  drillId: '20261001T030000Z-abc123',
  trigger: 'schedule',
  startedAt: '2026-10-01T03:00:00.000Z',
  recordedAt: '2026-10-01T03:40:00.000Z',
  passed: false,
  failedChecks: ['observed RTO 2.50 h exceeds the 2 h target'],
  backup: {
    backupId: '20260930T020000Z-def456',
    createdAt: '2026-09-30T02:00:00.000Z',
    database: 'shop',
    sourceServerVersion: '17.6',
    bytes: 1024,
    sha256: 'a'.repeat(64),
    checksum: 'match',
  },
  rpo: { observedHours: 25, targetHours: 24, withinTarget: false },
  rto: {
    checksumSeconds: 600,
    downloadSeconds: 300,
    restoreSeconds: 7200,
    verificationSeconds: 900,
    observedSeconds: 9000,
    targetHours: 2,
    withinTarget: false,
  },
  drillDatabase: 'drill_20261001t030000z_abc123',
  stagingServerVersion: '17.6',
  compare: { status: 'match', tablesCompared: 12, rowsCompared: 345, differences: [] },
  sanity: [{ name: 'recent orders', sql: 'select 1', expectation: '>= 1', value: 3, passed: true }],
  benignRestoreMessages: [],
};

const runbook = (inner: string) =>
  `# Runbook\n\n## Restore test evidence\n${sectionMarkers.start}\n${inner}\n${sectionMarkers.end}\n\n## Roles\n`;

describe('runbook evidence section', () => {
  it('shows the verdict, both targets as missed and every RTO part from the record', () => {
    const section = renderEvidenceSection(evidence, 'drills/2026-Q4/20261001T030000Z-abc123.json', {
      kind: 'stage',
      stage: 'prod',
    });
    expect(section).toContain('**FAILED**');
    expect(section).toContain('25 h; target ≤ 24 h; within: **NO**');
    expect(section).toContain(
      '2.50 h (checksum 10.0 min, download 5.0 min, restore 2.00 h, verification 15.0 min)',
    );
    expect(section).toContain('- observed RTO 2.50 h exceeds the 2 h target');
    expect(section).toContain('1/1 passed');
    expect(section).toContain('`drills/2026-Q4/20261001T030000Z-abc123.json`');
  });

  it('counts the fresh server start of a scratch drill as a part of the RTO', () => {
    const scratch: DrillEvidence = {
      ...evidence,
      evidenceVersion: 2,
      rto: { ...evidence.rto, serverStartSeconds: 2, observedSeconds: 9002 },
      restoreTarget: { kind: 'scratch', serverVersion: '17.6' },
    };
    const section = renderEvidenceSection(scratch, 'drills/2026-Q4/20261001T030000Z-abc123.json', {
      kind: 'stage',
      stage: 'prod',
    });
    expect(section).toContain(
      '2.50 h (checksum 10.0 min, server start 2.0 s, download 5.0 min, restore 2.00 h, verification 15.0 min)',
    );
  });

  it('says plainly when there is no drill yet', () => {
    expect(renderEvidenceSection(undefined, undefined, { kind: 'local' })).toMatch(
      /No drill evidence yet.*unproven/s,
    );
  });

  it('labels a local drill as a demo and a stage drill as production evidence', () => {
    const local = renderEvidenceSection(evidence, undefined, { kind: 'local' });
    expect(local.split('\n')[0]).toMatch(/^\*\*Local demo drill, not production evidence:\*\*/);
    expect(local).toContain("with `-- --stage` and your stage's name");
    const stage = renderEvidenceSection(evidence, undefined, { kind: 'stage', stage: 'prod' });
    expect(stage.split('\n')[0]).toBe(
      '**Production evidence** from stage `prod`: its newest drill, read from its backup bucket.',
    );
    expect(stage).not.toContain('demo');
  });

  it("adds Render's newest drill as Render's line, apart from ours, and nothing where there is none", () => {
    const renderDrill = {
      drillId: 'render-2026-10-01T04-00-00-000Z',
      at: '2026-10-01T04:00:00.000Z',
      passed: false,
      rtoSeconds: 150,
      exportId: 'exp-9',
      exportAgeHours: 5.5,
      comparedWith: '20260930T020000Z-def456',
      problem: 'tables of ours missing from the export: public.customers | x',
      recordKey: 'provider/render/drills/render-2026-10-01T04-00-00-000Z.json',
    };
    const section = renderEvidenceSection(evidence, undefined, { kind: 'stage', stage: 'prod' }, renderDrill);
    const [ours, renders] = section.split("**Render's line**");
    expect(ours).toContain('`20261001T030000Z-abc123`: **FAILED**');
    expect(ours).not.toContain('exp-9');
    expect(renders).toContain(
      '| Render drill | `render-2026-10-01T04-00-00-000Z`: **FAILED** (tables of ours missing from the export: public.customers / x) |',
    );
    expect(renders).toContain('| export | `exp-9`, 5.5 h old at the drill |');
    expect(renders).toContain('| observed RTO (export downloaded and restored) | 2.5 min |');
    expect(renders).toContain('our verified backup `20260930T020000Z-def456`');
    expect(renders).toContain('Full record: `provider/render/drills/render-2026-10-01T04-00-00-000Z.json`');
    expect(renderEvidenceSection(undefined, undefined, { kind: 'local' }, renderDrill)).toContain(
      "**Render's line**",
    );
    expect(renderEvidenceSection(evidence, undefined, { kind: 'local' })).not.toContain('Render');
  });

  it('replaces only the generated section', () => {
    const before = runbook('old table');
    const after = replaceEvidenceSection(before, 'new table');
    expect(extractEvidenceSection(after)).toBe('new table');
    expect(after.replace('new table', 'old table')).toBe(before);
  });

  it('refuses a runbook without exactly one ordered pair of markers', () => {
    const withoutEnd = `# Runbook\n${sectionMarkers.start}\n`;
    const doubled = runbook('x') + runbook('y');
    const reversed = `${sectionMarkers.end}\n${sectionMarkers.start}\n`;
    for (const broken of [withoutEnd, doubled, reversed, '# nothing']) {
      expect(() => replaceEvidenceSection(broken, 'table')).toThrow(ConfigurationError);
    }
  });
});
