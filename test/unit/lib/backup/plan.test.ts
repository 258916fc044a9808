import { describe, expect, it } from '@jest/globals';
import type { Manifest } from '../../../../lib/backup/manifest.ts';
import { defaultDumpBytesPerSecond, planDump, throughputOf } from '../../../../lib/backup/plan.ts';

const GiB = 1024 ** 3;
const settings = {
  DUMP_VENUE: 'auto' as const,
  VERIFY_VENUE: 'worker' as const,
  DUMP_LAMBDA_TIMEOUT_SECONDS: 900,
  STEP_TIMEOUT_RESERVE_MS: 20_000,
};

function manifestOf(databaseSizeBytes: number, dumpSeconds: number, countSeconds = 0): Manifest {
  return {
    backupId: '20261130T020000Z-abcdef',
    source: { databaseSizeBytes },
    timings: { dumpSeconds, countSeconds },
  } as Manifest;
}

describe('planDump', () => {
  it('keeps a dump on Lambda while the estimate fits half of its budget (440 s of 880 s)', () => {
    // 10 GiB at 25 MiB/s: 409.6 s.
    const plan = planDump(10 * GiB, settings);
    expect(plan).toMatchObject({ dump: 'lambda', verify: 'worker', lambdaBudgetSeconds: 440 });
    expect(plan.estimatedDumpSeconds).toBeCloseTo(409.6, 1);
    expect(plan.reason).toBe("409.6 s estimated at 25.0 MiB/s (default) fits half the Lambda's 880 s budget");
  });

  it('moves it to the worker when the estimate exceeds that half', () => {
    // 11 GiB at 25 MiB/s: 450.6 s > 440 s.
    expect(planDump(11 * GiB, settings)).toMatchObject({ dump: 'worker', throughputFrom: 'default' });
  });

  it('learns from the newest backup: its database bytes per second of dump', () => {
    const fast = manifestOf(100 * GiB, 500); // ~205 MiB/s
    // 80 GiB at ~205 MiB/s: ~400 s, within 440 s.
    const plan = planDump(80 * GiB, settings, fast);
    expect(plan.throughputFrom).toBe('backup 20261130T020000Z-abcdef');
    expect(plan.bytesPerSecond).toBe(Math.round((100 * GiB) / 500));
    expect(plan.dump).toBe('lambda');
    // The same database that grew past what half a Lambda dumps at that speed.
    expect(planDump(100 * GiB, settings, fast).dump).toBe('worker');
  });

  it('learns from the step as a whole: a content-checksum scan that outlasts pg_dump sets the pace', () => {
    // pg_dump took 300 s, the counting session with checksums 500 s: the step waited 500 s.
    expect(throughputOf(manifestOf(100 * GiB, 300, 500))).toBe((100 * GiB) / 500);
    expect(throughputOf(manifestOf(100 * GiB, 300, 20))).toBe((100 * GiB) / 300);
    // 90 GiB fits half a Lambda at pg_dump's pace (270 s), not at the step's (450 s > 440 s).
    expect(planDump(90 * GiB, settings, manifestOf(100 * GiB, 300, 500)).dump).toBe('worker');
  });

  it('does not learn from a dump too short to say anything about throughput', () => {
    expect(throughputOf(manifestOf(GiB, 4.9))).toBeUndefined();
    expect(throughputOf(manifestOf(0, 60))).toBeUndefined();
    expect(planDump(GiB, settings, manifestOf(GiB, 1)).bytesPerSecond).toBe(defaultDumpBytesPerSecond);
  });

  it('obeys a forced venue, and says so', () => {
    const forced = planDump(500 * GiB, { ...settings, DUMP_VENUE: 'lambda' });
    expect(forced.dump).toBe('lambda');
    expect(forced.reason).toMatch(/^DUMP_VENUE=lambda; /);
    expect(planDump(1, { ...settings, DUMP_VENUE: 'worker' }).dump).toBe('worker');
  });
});
