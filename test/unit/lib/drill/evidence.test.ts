/**
 * The drill's evidence arithmetic (lib/drill/evidence.ts judgeDrill): the observed RTO is every phase a
 * real restore pays, the observed RPO the backup's age when the drill started, and the verdict fails on
 * each failed check, naming it; only faults of the backup itself are held against it.
 */
import { describe, expect, it } from '@jest/globals';
import { backupFaultsOf, judgeDrill } from '../../../../lib/drill/evidence.ts';
import type { EvidenceEvent } from '../../../../lib/drill/input.ts';
import { exampleManifest } from '../../../support/status-fixture.ts';

const backupId = '20261207T020000Z-a1b2c3';
const manifest = exampleManifest(backupId, new Date('2026-12-07T02:00:00Z'), 1_000_000);

function event(change: (event: EvidenceEvent) => void = () => undefined): EvidenceEvent {
  const value: EvidenceEvent = {
    executionId: 'arn:aws:states:eu-central-1:123456789012:execution:drill:x',
    selected: {
      drillId: '20261207T080000Z-d4e5f6',
      backupId,
      backupCreatedAt: '2026-12-07T02:00:00.000Z',
      startedAt: '2026-12-07T08:00:00.000Z',
      trigger: 'schedule',
    },
    checksum: { status: 'match', archiveEntries: 12, seconds: 1.5 },
    restored: {
      target: 'scratch',
      serverVersion: '17.2',
      serverStartSeconds: 2.25,
      downloadSeconds: 3,
      restoreSeconds: 4,
      benignMessages: [],
      compare: {
        status: 'match',
        proof: 'checksums',
        tablesCompared: 3,
        rowsCompared: 30,
        tables: [],
        missing: [],
        extra: [],
        content: [],
        compareSeconds: 0.5,
      },
      sanity: {
        checks: [{ name: 'orders', sql: 'select 1', expectation: '>= 1', value: 1, passed: true }],
        sanitySeconds: 0.25,
      },
    },
  };
  change(value);
  return value;
}

const facts = { manifest, rpoHours: 24, rtoHours: 2, recordedAt: new Date('2026-12-07T08:01:00Z') };

describe('judgeDrill()', () => {
  it('adds checksum, server start, download, restore and verification into the observed RTO', () => {
    const evidence = judgeDrill(event(), facts);
    expect(evidence.rto).toEqual({
      checksumSeconds: 1.5,
      serverStartSeconds: 2.25,
      downloadSeconds: 3,
      restoreSeconds: 4,
      verificationSeconds: 0.75,
      observedSeconds: 11.5,
      targetHours: 2,
      withinTarget: true,
    });
    expect(evidence.rpo).toEqual({ observedHours: 6, targetHours: 24, withinTarget: true });
    expect(evidence).toMatchObject({
      passed: true,
      failedChecks: [],
      recordedAt: '2026-12-07T08:01:00.000Z',
    });
  });

  it('counts a checksum pass from before it was timed as none', () => {
    expect(
      judgeDrill(
        event((e) => delete e.checksum.seconds),
        facts,
      ).rto.observedSeconds,
    ).toBe(10);
  });

  it('fails on a restore slower than the RTO target, without holding it against the backup', () => {
    const evidence = judgeDrill(
      event((e) => {
        e.restored.restoreSeconds = 7_200;
      }),
      facts,
    );
    expect(evidence.passed).toBe(false);
    expect(evidence.failedChecks).toEqual(['observed RTO 2.00 h exceeds the 2 h target']);
    expect(backupFaultsOf(evidence)).toEqual([]);
  });

  it('names differing counts, differing content and a failed sanity check, each held against the backup', () => {
    const counts = judgeDrill(
      event((e) => {
        e.restored.compare.status = 'mismatch';
        e.restored.compare.tables = [{ schema: 'public', table: 'orders', expected: 10, actual: 9 }];
      }),
      facts,
    );
    expect(backupFaultsOf(counts)).toEqual(['row counts differ in 1 table(s)']);
    expect(counts.compare.differences).toEqual(['public.orders: expected 10, found 9']);

    const content = judgeDrill(
      event((e) => {
        e.restored.compare.status = 'mismatch';
        e.restored.compare.content = ['public.orders'];
      }),
      facts,
    );
    expect(backupFaultsOf(content)).toEqual(['content differs (every row count matches): 1 difference(s)']);

    const sanity = judgeDrill(
      event((e) => {
        e.restored.sanity.checks = [
          { name: 'orders', sql: 'select 0', expectation: '>= 1', value: 0, passed: false },
        ];
      }),
      facts,
    );
    expect(backupFaultsOf(sanity)).toEqual(['sanity check "orders": got 0, expected >= 1']);
  });

  it('takes an RPO beyond the target as a finding of the record, not a failed check', () => {
    const late = judgeDrill(event(), { ...facts, rpoHours: 4 });
    expect(late.rpo.withinTarget).toBe(false);
    expect(late.passed).toBe(true);
  });
});
